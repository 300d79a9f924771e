//! `POST /api/v1/search`: validates the request, resolves the caller's databases, and hands
//! the work to [`crate::engine::search`].

use std::time::Instant;

use serde_json::json;

use crate::app::App;
use crate::engine::ident;
use crate::engine::pool::PoolError;
use crate::engine::search::{self, Limits, Mode, SearchError, Target};
use crate::error::ApiError;
use crate::http::authn::{Principal, Via};
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::routes::databases::{canonical_id, unavailable};

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

pub async fn search(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let (request, wanted) = request(&fields, app.config.search.max_query_chars)?;

    let mut records = app.store.databases_of_user(&principal.user_id).await?;
    records.retain(|r| r.is_active);
    if let Some(ids) = &wanted {
        if ids.iter().any(|id| !records.iter().any(|r| &r.id == id)) {
            // Another tenant's id is indistinguishable from a missing one.
            return Err(ApiError::NotFound { what: "database" });
        }
        records.retain(|r| ids.contains(&r.id));
    }
    let mut targets = Vec::with_capacity(records.len());
    for r in &records {
        targets.push(Target { id: r.id.clone(), name: r.name.clone(), database: r.database_name.clone(), pool: app.pool(r).await? });
    }

    let limits = Limits {
        call_timeout: app.config.connect_timeout() + app.config.query_timeout() + std::time::Duration::from_secs(1),
        snippet_chars: app.config.search.snippet_chars,
    };
    let outcome = search::run(&targets, &request, limits).await.map_err(|e| match e {
        SearchError::UnknownName { field, message } => ApiError::validation(field, message),
        SearchError::Failed(PoolError::Rejected(code)) => {
            tracing::warn!(mysql_error = code, "tenant database rejected a search statement");
            ApiError::SearchFailed("the database could not run this search".into())
        }
        SearchError::Failed(e) => unavailable(&e),
    })?;

    if let Via::Key { key_id, .. } = &principal.via {
        tracing::debug!(key_id = %key_id, results = outcome.results.len(), total = outcome.total_count, "search served");
    }
    let page = request.offset / request.limit + 1;
    Ok(Reply::ok(json!({
        "results": outcome.results,
        "totalCount": outcome.total_count,
        "page": page,
        "limit": request.limit,
        "offset": request.offset,
        "searchMode": request.mode.as_str(),
        "executionTime": started.elapsed().as_secs_f64() * 1000.0,
        "databases": outcome.databases,
        "warnings": outcome.warnings,
    })))
}
