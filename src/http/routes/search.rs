//! `POST /api/v1/search`: validates the request, resolves the caller's databases, and hands
//! the work to [`crate::engine::search`].

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::app::App;
use crate::audit::Origin;
use crate::incidents::injection;
use crate::engine::{ident, rows};
use crate::engine::pool::PoolError;
use crate::engine::schema::TextRules;
use crate::engine::search::{self, Limits, Mode, SearchError, Target};
use crate::error::ApiError;
use crate::http::authn::{Principal, Via};
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::routes::databases::{canonical_id, unavailable};
use crate::store::{DatabaseRecord, SearchEntry};

pub const MAX_DATABASES: usize = 10;
pub const MAX_LIMIT: i64 = 100;
/// Deep pages cost every table `offset + limit` rows; beyond this, refine the query instead.
pub const MAX_OFFSET: i64 = 10_000;
const MAX_NAMES: usize = 50;

fn request(fields: &Fields, max_chars: usize) -> Result<(search::Request, Option<Vec<String>>), ApiError> {
    let query = fields.req_str("query", 1, max_chars)?;
    let mode = match fields.opt_str("searchMode", 1, 32)? {
        Some(m) => Mode::parse(&m)
            .ok_or_else(|| ApiError::validation("searchMode", "searchMode must be one of natural, boolean, semantic"))?,
        None => Mode::Natural,
    };
    let databases = match fields.opt_str_array("databases", MAX_DATABASES, 64)? {
        Some(ids) => Some(
            ids.iter()
                .map(|id| {
                    canonical_id(id).ok_or_else(|| {
                        ApiError::validation("databases", format!("databases: '{}' is not a UUID", id.escape_debug()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let names = |field: &str| -> Result<Option<Vec<String>>, ApiError> {
        let names = fields.opt_str_array(field, MAX_NAMES, ident::MAX_LEN)?;
        if let Some(bad) = names.iter().flatten().find(|n| !ident::is_valid(n)) {
            return Err(ApiError::validation(field, format!("{field}: '{}' is not a valid name", bad.escape_debug())));
        }
        Ok(names)
    };
    let request = search::Request {
        query,
        mode,
        tables: names("tables")?,
        columns: names("columns")?,
        limit: fields.opt_int("limit", 1, MAX_LIMIT)?.unwrap_or(10) as usize,
        offset: fields.opt_int("offset", 0, MAX_OFFSET)?.unwrap_or(0) as usize,
    };
    Ok((request, databases))
}

/// The caller's active databases to search: those named in `wanted`, or all of them.
async fn targets(app: &App, principal: &Principal, wanted: Option<&[String]>) -> Result<Vec<Target>, ApiError> {
    let all = app.tenant_databases(&principal.user_id).await?;
    let mut records: Vec<&DatabaseRecord> = all.iter().filter(|r| r.is_active).collect();
    if let Some(ids) = wanted {
        if ids.iter().any(|id| !records.iter().any(|r| &r.id == id)) {
            // Another tenant's id is indistinguishable from a missing one.
            return Err(ApiError::NotFound { what: "database" });
        }
        records.retain(|r| ids.contains(&r.id));
    }
    let mut targets = Vec::with_capacity(records.len());
    for r in records {
        targets.push(Target { id: r.id.clone(), name: r.name.clone(), database: r.database_name.clone(), pool: app.pool(r).await? });
    }
    Ok(targets)
}

fn limits(app: &App) -> Limits {
    Limits {
        call_timeout: app.config.connect_timeout() + app.config.query_timeout() + std::time::Duration::from_secs(1),
        snippet_chars: app.config.search.snippet_chars,
        rerank_candidates: app.embedder.as_ref().map_or(0, |e| e.candidates),
    }
}

fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::UnknownName { field, message } => ApiError::validation(field, message),
        SearchError::Failed(PoolError::Rejected(code)) => {
            tracing::warn!(mysql_error = code, "tenant database rejected a search statement");
            ApiError::SearchFailed("the database could not run this search".into())
        }
        SearchError::Failed(e) => unavailable(&e),
    }
}

/// Runs the search, or answers it from the result cache. Concurrent identical misses share one
/// run (single flight); outcomes where a database failed are not kept.
async fn run_cached(
    app: &App,
    principal: &Principal,
    request: &search::Request,
    targets: &[Target],
) -> Result<Arc<search::Outcome>, SearchError> {
    let Some(cache) = &app.search_cache else {
        return search::run(targets, request, limits(app), app.embedder.as_deref()).await.map(Arc::new);
    };
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    let key = format!(
        "{}|{}|{:?}|{}|{:?}|{:?}|{}|{}|{}",
        principal.user_id,
        app.search_generation(&principal.user_id),
        request.query,
        request.mode.as_str(),
        request.tables,
        request.columns,
        request.limit,
        request.offset,
        ids.join(","),
    );
    let outcome = cache
        .try_get_with(key.clone(), async { search::run(targets, request, limits(app), app.embedder.as_deref()).await.map(Arc::new) })
        .await
        .map_err(|e| (*e).clone())?;
    if outcome.databases.iter().any(|d| d.status != "ok") {
        cache.invalidate(&key).await;
    }
    Ok(outcome)
}

/// Queries shaped like SQL injection probes are incidents, and refused unless the operator
/// switched refusal off.
pub fn screen(app: &App, principal: &Principal, query: &str, origin: &Origin) -> Result<(), ApiError> {
    let Some(shape) = injection::probe_shape(query) else { return Ok(()) };
    if app.incidents.injection(&principal.who(), origin, shape) {
        return Err(ApiError::SuspiciousInput { field: "query", shape });
    }
    Ok(())
}

pub async fn search(app: &App, principal: &Principal, fields: Fields, origin: &Origin) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let (request, wanted) = request(&fields, app.config.search.max_query_chars)?;
    screen(app, principal, &request.query, origin)?;
    let targets = targets(app, principal, wanted.as_deref()).await?;
    let result = run_cached(app, principal, &request, &targets).await;
    // Every search that got this far is recorded, failed ones too (they feed the error rate).
    let entry = SearchEntry {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: principal.user_id.clone(),
        key_id: match &principal.via {
            Via::Key { key_id, .. } => Some(key_id.clone()),
            Via::Token { .. } => None,
        },
        query: request.query.clone(),
        search_mode: request.mode.as_str().into(),
        databases: targets.iter().map(|t| t.id.clone()).collect(),
        result_count: result.as_ref().map_or(0, |o| o.total_count as i64),
        execution_ms: started.elapsed().as_secs_f64() * 1000.0,
        success: result.is_ok(),
        created_at: crate::store::now_ms(),
    };
    app.history.push(entry);
    let outcome = result.map_err(search_error)?;

    if let Via::Key { key_id, .. } = &principal.via {
        tracing::debug!(key_id = %key_id, results = outcome.result_count, total = outcome.total_count, "search served");
    }
    /// The reply's `data`, serialised directly: the results are copied as rendered text.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<'a> {
        results: &'a serde_json::value::RawValue,
        total_count: u64,
        page: usize,
        limit: usize,
        offset: usize,
        search_mode: &'a str,
        execution_time: f64,
        databases: &'a [search::DatabaseStatus],
        warnings: &'a [String],
    }
    let page = Page {
        results: &outcome.results_json,
        total_count: outcome.total_count,
        page: request.offset / request.limit + 1,
        limit: request.limit,
        offset: request.offset,
        search_mode: request.mode.as_str(),
        execution_time: started.elapsed().as_secs_f64() * 1000.0,
        databases: &outcome.databases,
        warnings: &outcome.warnings,
    };
    Ok(Reply::rendered(serde_json::value::to_raw_value(&page).map_err(ApiError::internal)?))
}

/// `POST /api/v1/search/analyze`: how the search would run (the planned statements' EXPLAIN), how
/// long it takes now, and advice (missing FULLTEXT indexes, words too short to be indexed, query
/// rewrites). The search itself runs once to measure it; nothing is recorded.
pub async fn analyze(app: &App, principal: &Principal, fields: Fields, origin: &Origin) -> Result<Reply, ApiError> {
    let (request, wanted) = request(&fields, app.config.search.max_query_chars)?;
    screen(app, principal, &request.query, origin)?;
    let targets = targets(app, principal, wanted.as_deref()).await?;
    let limits = limits(app);
    let mut recommendations = vec![];
    let plan = search::plan(&targets, &request, limits).await.map_err(search_error)?;
    // The servers' own minimum token size (InnoDB's default when no schema was read).
    let min_token = plan.as_ref().map_or(TextRules::default().min_token, |p| p.min_token);
    let short: Vec<String> = crate::engine::boolean::words(&request.query).into_iter().filter(|w| w.chars().count() < min_token).collect();
    if !short.is_empty() {
        recommendations.push(format!(
            "Words shorter than {min_token} characters are not in the InnoDB FULLTEXT index (innodb_ft_min_token_size) and match nothing: {}",
            rows::html_escape(&short.join(", "))
        ));
    }
    let Some(plan) = plan else {
        recommendations.push("The query has no searchable words.".into());
        return Ok(Reply::ok(json!({
            "query": rows::html_escape(&request.query),
            "analyzedQuery": "",
            "searchMode": request.mode.as_str(),
            "performance": { "estimatedTime": 0.0, "indexUsage": [], "recommendations": recommendations },
            "aiInsights": [],
        })));
    };
    for (database, table) in &plan.unindexed {
        let text_columns: Vec<String> = table
            .columns
            .iter()
            .filter(|c| {
                let t = c.column_type.to_lowercase();
                t.contains("char") || t.contains("text")
            })
            .map(|c| ident::quote(&c.name))
            .collect();
        if !text_columns.is_empty() {
            recommendations.push(rows::html_escape(&format!(
                "Table {} in {database} has no FULLTEXT index, so it is not searched. To search it: ALTER TABLE {} ADD FULLTEXT INDEX {} ({})",
                ident::quote(&table.name),
                ident::quote(&table.name),
                ident::quote(&format!("ft_{}", table.name.chars().take(40).collect::<String>())),
                text_columns.join(", ")
            )));
        }
    }
    recommendations.extend(plan.warnings.iter().cloned()); // escaped by the planner

    let index_usage: Vec<String> = search::explain(&targets, &plan, limits)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .flat_map(|e| e.index_usage.into_iter().map(move |u| rows::html_escape(&format!("{}.{}: {u}", e.database, e.table))))
        .collect();
    let started = Instant::now();
    let outcome = search::run(&targets, &request, limits, app.embedder.as_deref()).await.map_err(search_error)?;
    let estimated = started.elapsed().as_secs_f64() * 1000.0;
    if outcome.total_count > 10_000 && request.mode == Mode::Natural {
        recommendations.push(
            "Many rows match: boolean mode with required terms (+word) narrows the result and is faster to rank.".into(),
        );
    }
    Ok(Reply::ok(json!({
        "query": rows::html_escape(&request.query),
        "analyzedQuery": rows::html_escape(&plan.against),
        "searchMode": request.mode.as_str(),
        "totalCount": outcome.total_count,
        "performance": { "estimatedTime": estimated, "indexUsage": index_usage, "recommendations": recommendations },
        "aiInsights": [],
    })))
}
