//! Plans, runs and merges a full-text search over a tenant's databases.
//!
//! For every selected table that has a FULLTEXT index, one statement
//!
//! ```sql
//! SELECT t.*, MATCH(cols) AGAINST (? IN <mode>) AS score, COUNT(*) OVER () AS total
//! FROM `db`.`table` AS t WHERE MATCH(cols) AGAINST (? IN <mode>) ORDER BY score DESC LIMIT offset+limit
//! ```
//!
//! runs in parallel through the database's pool actor. The query text is only ever a bound
//! parameter; identifiers come from the discovered schema and are quoted. Rows from all tables
//! and databases are merged by relevance and the requested page is cut from the merge, so
//! pagination is exact: no table can contribute a row to page N without being among the top
//! `offset+limit` of its own table. `COUNT(*) OVER ()` gives each table's total without a
//! second round trip.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::{Row, Value};
use ractor::ActorRef;
use serde::Serialize;
use tokio::task::JoinSet;

use super::boolean;
use super::embeddings::{self, Embedder};
use super::ident::quote;
use super::pool::{PoolError, PoolMsg};
use super::rows;
use super::schema::{DbSchema, FullTextIndex, TableSchema, TextRules};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Natural,
    Boolean,
    /// MariaDB/MySQL query expansion (`WITH QUERY EXPANSION`).
    Semantic,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "natural" => Some(Mode::Natural),
            "boolean" => Some(Mode::Boolean),
            "semantic" => Some(Mode::Semantic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Natural => "natural",
            Mode::Boolean => "boolean",
            Mode::Semantic => "semantic",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Mode::Natural => "IN NATURAL LANGUAGE MODE",
            Mode::Boolean => "IN BOOLEAN MODE",
            Mode::Semantic => "WITH QUERY EXPANSION",
        }
    }
}

/// A validated search request.
#[derive(Clone, Debug)]
pub struct Request {
    pub query: String,
    pub mode: Mode,
    pub tables: Option<Vec<String>>,
    pub columns: Option<Vec<String>>,
    pub limit: usize,
    pub offset: usize,
}

/// One database to search.
#[derive(Clone)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub database: String,
    pub pool: ActorRef<PoolMsg>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DatabaseStatus {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// How many results `results_json` holds.
    pub result_count: usize,
    /// The page of results as JSON text, rendered once: a cached outcome is served by copying it.
    pub results_json: Box<serde_json::value::RawValue>,
    pub total_count: u64,
    pub databases: Vec<DatabaseStatus>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum SearchError {
    /// A filter names a table or column that none of the searched databases has.
    #[error("{message}")]
    UnknownName { field: &'static str, message: String },
    /// Every database failed; the first failure.
    #[error("{0}")]
    Failed(PoolError),
}

/// Bounds from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub call_timeout: Duration,
    pub snippet_chars: usize,
    /// Rows re-ranked by embeddings in `semantic` mode (0: no provider configured).
    pub rerank_candidates: usize,
}

/// A pool request whose answer is itself a result: both failures in one.
async fn call_pool<T: Send + 'static>(
    pool: &ActorRef<PoolMsg>,
    timeout: Duration,
    build: impl FnOnce(ractor::RpcReplyPort<Result<T, PoolError>>) -> PoolMsg,
) -> Result<T, PoolError> {
    super::pool::ask(pool, timeout, build).await?
}

/// The fetched schema of a target, or why it could not be fetched.
type SchemaResult = (usize, Result<Arc<DbSchema>, PoolError>);

/// The statements a request needs: one per searchable table of each database that answered.
pub struct Plan {
    /// The text bound to AGAINST (boolean queries repaired).
    pub against: String,
    /// Words used for snippets and matched columns.
    pub terms: Vec<String>,
    tables: Vec<(TablePlan, String, Vec<Value>)>,
    /// Databases whose schema could not be read.
    failures: Vec<(usize, PoolError)>,
    /// Tables the caller named that have no FULLTEXT index.
    pub skipped: Vec<String>,
    /// (database name, table) of every table without a FULLTEXT index, for advice.
    pub unindexed: Vec<(String, TableSchema)>,
    pub warnings: Vec<String>,
    /// The smallest `innodb_ft_min_token_size` of the databases whose schema was read: shorter
    /// words are in none of their InnoDB indexes.
    pub min_token: usize,
}

/// Reads the schemas (cached by each pool) and plans the statements. `Ok(None)` when the query
/// has no searchable word at all (the answer is an empty result, not an error).
pub async fn plan(targets: &[Target], request: &Request, limits: Limits) -> Result<Option<Plan>, SearchError> {
    let against = match request.mode {
        Mode::Boolean => boolean::normalize(&request.query),
        _ => request.query.clone(),
    };
    let terms = match request.mode {
        Mode::Boolean => boolean::positive_terms(&against),
        Mode::Natural | Mode::Semantic => boolean::words(&against),
    };
    if terms.is_empty() {
        return Ok(None);
    }
    let mut warnings = vec![];
    if against != request.query {
        // Warnings are shown as they are: user text in them is escaped like every other field.
        warnings.push(format!("boolean query was normalised to: {}", rows::html_escape(&against)));
    }

    // 1. Schemas, in parallel.
    let mut set = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let pool = target.pool.clone();
        let timeout = limits.call_timeout;
        set.spawn(async move { (i, call_pool(&pool, timeout, |reply| PoolMsg::Schema { refresh: false, reply }).await) });
    }
    let mut schemas: Vec<SchemaResult> = set.join_all().await;
    schemas.sort_by_key(|(i, _)| *i);
    let mut failures: Vec<(usize, PoolError)> = vec![];
    let ok: Vec<(usize, Arc<DbSchema>)> = schemas
        .into_iter()
        .filter_map(|(i, r)| r.map_err(|e| failures.push((i, e))).ok().map(|s| (i, s)))
        .collect();

    // 2. Filters must name something that exists (checked when every schema is known).
    if failures.is_empty() {
        check_filters(&ok, request)?;
    }

    // 3. One statement per searchable table. Re-ranked semantic searches need their candidates.
    let mut fetch = request.offset + request.limit;
    if request.mode == Mode::Semantic && limits.rerank_candidates > 0 {
        fetch = fetch.max(limits.rerank_candidates);
    }
    let mut tables = vec![];
    let mut skipped = vec![];
    let mut unindexed = vec![];
    // Tables left out because no word of the query can be in their index.
    let mut unmatchable: Option<usize> = None;
    // A trailing `*` makes even a short word a prefix search.
    let wildcard = request.mode == Mode::Boolean && against.contains('*');
    for (i, schema) in &ok {
        let hopeless = !wildcard && terms.iter().all(|t| !schema.text_rules.indexes(t));
        for table in &schema.tables {
            if request.tables.as_ref().is_some_and(|t| !t.contains(&table.name)) {
                continue;
            }
            if table.fulltext_indexes.is_empty() {
                unindexed.push((targets[*i].name.clone(), table.clone()));
            }
            let indexes = chosen_indexes(table, request.columns.as_deref());
            if indexes.is_empty() {
                if request.tables.is_some() {
                    skipped.push(table.name.clone());
                }
                continue;
            }
            if hopeless && table.is_innodb() {
                unmatchable.get_or_insert(schema.text_rules.min_token);
                continue;
            }
            let (sql, params) = statement(&targets[*i].database, table, &indexes, request.mode, &against, fetch);
            let plan = TablePlan { target: *i, table: table.clone(), indexes: indexes.into_iter().cloned().collect() };
            tables.push((plan, sql, params));
        }
    }
    if !skipped.is_empty() {
        warnings.push(format!("tables without a FULLTEXT index were skipped: {}", rows::html_escape(&skipped.join(", "))));
    }
    if let Some(min_token) = unmatchable {
        warnings.push(format!(
            "every word of the query is a stopword or shorter than {min_token} characters (the server \
             setting innodb_ft_min_token_size), so the FULLTEXT index cannot match it: add a longer, more specific word"
        ));
    }
    let min_token = ok.iter().map(|(_, s)| s.text_rules.min_token).min().unwrap_or(TextRules::default().min_token);
    Ok(Some(Plan { against, terms, tables, failures, skipped, unindexed, warnings, min_token }))
}

/// How MariaDB would run one planned statement.
#[derive(Debug, Serialize)]
pub struct Explained {
    pub database: String,
    pub table: String,
    /// `index (access type)` of each row of EXPLAIN.
    pub index_usage: Vec<String>,
}

/// Runs `EXPLAIN` for every planned statement.
pub async fn explain(targets: &[Target], plan: &Plan, limits: Limits) -> Vec<Result<Explained, PoolError>> {
    let mut set = JoinSet::new();
    for (n, (table_plan, sql, params)) in plan.tables.iter().enumerate() {
        let pool = targets[table_plan.target].pool.clone();
        let (sql, params) = (format!("EXPLAIN {sql}"), params.clone());
        let (database, table) = (targets[table_plan.target].name.clone(), table_plan.table.name.clone());
        let timeout = limits.call_timeout;
        set.spawn(async move {
            let rows = call_pool(&pool, timeout, |reply| PoolMsg::Query { sql, params, reply }).await;
            let explained = rows.map(|rows| Explained {
                database,
                table,
                index_usage: rows
                    .iter()
                    .map(|r| {
                        let get = |name: &str| {
                            r.columns_ref()
                                .iter()
                                .position(|c| c.name_str() == name)
                                .and_then(|i| r.as_ref(i))
                                .and_then(rows::as_text)
                                .unwrap_or_else(|| "none".into())
                        };
                        format!("{} ({})", get("key"), get("type"))
                    })
                    .collect(),
            });
            (n, explained)
        });
    }
    let mut done = set.join_all().await;
    done.sort_by_key(|(n, _)| *n);
    done.into_iter().map(|(_, r)| r).collect()
}

pub async fn run(
    targets: &[Target],
    request: &Request,
    limits: Limits,
    embedder: Option<&Embedder>,
) -> Result<Outcome, SearchError> {
    let mut outcome = Outcome {
        result_count: 0,
        results_json: empty_list(),
        total_count: 0,
        databases: vec![],
        warnings: vec![],
    };
    let Some(plan) = plan(targets, request, limits).await? else {
        outcome.warnings.push("the query contains no searchable words".into());
        return Ok(outcome);
    };
    let Plan { terms, tables, mut failures, warnings, .. } = plan;
    outcome.warnings = warnings;
    let mut set = JoinSet::new();
    for (table_plan, sql, params) in tables {
        let pool = targets[table_plan.target].pool.clone();
        let timeout = limits.call_timeout;
        set.spawn(async move {
            let rows = call_pool(&pool, timeout, |reply| PoolMsg::Query { sql, params, reply }).await;
            (table_plan, rows)
        });
    }

    // 4. Merge.
    let mut hits: Vec<Hit> = vec![];
    for (plan, rows) in set.join_all().await {
        match rows {
            Ok(rows) => {
                if let Some(first) = rows.first() {
                    outcome.total_count += total_of(first);
                    let source = Arc::new(Source::new(&plan, first));
                    hits.extend(rows.into_iter().enumerate().map(|(n, row)| Hit::new(&source, n, row)));
                }
            }
            Err(e) => failures.push((plan.target, e)),
        }
    }
    failures.sort_by_key(|(i, _)| *i);
    failures.dedup_by_key(|(i, _)| *i);
    if !failures.is_empty() && failures.len() == targets.len() {
        return Err(SearchError::Failed(failures.swap_remove(0).1));
    }
    hits.sort_by(Hit::rank);
    if let (Mode::Semantic, Some(embedder)) = (request.mode, embedder) {
        match rerank(hits, &request.query, embedder).await {
            Ok(reranked) => {
                hits = reranked;
                // The answer is the re-ranked candidates, like any top-k similarity search.
                outcome.total_count = outcome.total_count.min(hits.len() as u64);
            }
            Err((unranked, e)) => {
                hits = unranked;
                outcome.warnings.push(format!("semantic re-ranking unavailable ({e}); results are in query-expansion order"));
            }
        }
    }
    let terms = rows::Terms::new(&terms);
    let page = &hits[request.offset.min(hits.len())..];
    let page = &page[..request.limit.min(page.len())];
    outcome.result_count = page.len();
    let results = Results { hits: page, targets, terms: &terms, snippet_chars: limits.snippet_chars };
    outcome.results_json = serde_json::value::to_raw_value(&results).unwrap_or_else(|_| empty_list());
    outcome.databases = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let failure = failures.iter().find(|(f, _)| *f == i);
            DatabaseStatus {
                id: t.id.clone(),
                name: rows::html_escape(&t.name),
                status: if failure.is_some() { "error" } else { "ok" },
                error: failure.map(|(_, e)| e.to_string()),
            }
        })
        .collect();
    Ok(outcome)
}

/// Orders the best `embedder.candidates` hits by cosine similarity of their indexed text to the
/// query (their score becomes that similarity); the rest are dropped. On failure the hits come
/// back untouched with the reason.
async fn rerank(mut hits: Vec<Hit>, query: &str, embedder: &Embedder) -> Result<Vec<Hit>, (Vec<Hit>, String)> {
    hits.truncate(embedder.candidates);
    if hits.is_empty() {
        return Ok(hits);
    }
    let mut inputs = Vec::with_capacity(hits.len() + 1);
    inputs.push(query.to_string());
    inputs.extend(hits.iter().map(Hit::indexed_text));
    let vectors = match embedder.embed(&inputs).await {
        Ok(v) => v,
        Err(e) => return Err((hits, e)),
    };
    for (hit, vector) in hits.iter_mut().zip(&vectors[1..]) {
        hit.score = embeddings::cosine(&vectors[0], vector);
    }
    hits.sort_by(Hit::rank);
    Ok(hits)
}

fn empty_list() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string("[]".into()).expect("valid JSON")
}

fn check_filters(schemas: &[(usize, Arc<DbSchema>)], request: &Request) -> Result<(), SearchError> {
    let tables = || schemas.iter().flat_map(|(_, s)| s.tables.iter());
    if let Some(wanted) = &request.tables {
        if let Some(missing) = wanted.iter().find(|w| !tables().any(|t| &&t.name == w)) {
            return Err(SearchError::UnknownName {
                field: "tables",
                message: format!("tables: no searched database has a table named '{}'", rows::html_escape(missing)),
            });
        }
    }
    if let Some(wanted) = &request.columns {
        let in_scope = |t: &&TableSchema| request.tables.as_ref().is_none_or(|w| w.contains(&t.name));
        let indexed = |c: &String| {
            tables().filter(in_scope).any(|t| t.fulltext_indexes.iter().any(|i| i.columns.contains(c)))
        };
        if let Some(missing) = wanted.iter().find(|c| !indexed(c)) {
            return Err(SearchError::UnknownName {
                field: "columns",
                message: format!(
                    "columns: '{}' is not part of any FULLTEXT index in the searched tables",
                    rows::html_escape(missing)
                ),
            });
        }
    }
    Ok(())
}

/// The FULLTEXT indexes of `table` to MATCH: all of them, or those covering a requested column.
fn chosen_indexes<'a>(table: &'a TableSchema, columns: Option<&[String]>) -> Vec<&'a FullTextIndex> {
    table
        .fulltext_indexes
        .iter()
        .filter(|i| columns.is_none_or(|cols| i.columns.iter().any(|c| cols.contains(c))))
        .collect()
}

fn statement(
    database: &str,
    table: &TableSchema,
    indexes: &[&FullTextIndex],
    mode: Mode,
    against: &str,
    fetch: usize,
) -> (String, Vec<Value>) {
    let matches: Vec<String> = indexes
        .iter()
        .map(|i| {
            let cols: Vec<String> = i.columns.iter().map(|c| format!("t.{}", quote(c))).collect();
            format!("MATCH({}) AGAINST (? {})", cols.join(", "), mode.sql())
        })
        .collect();
    let sql = format!(
        "SELECT t.*, {score} AS `__altus4_score`, COUNT(*) OVER () AS `__altus4_total` \
         FROM {db}.{table} AS t WHERE {cond} ORDER BY `__altus4_score` DESC LIMIT {fetch}",
        score = matches.join(" + "),
        db = quote(database),
        table = quote(&table.name),
        cond = matches.join(" OR "),
    );
    let params = vec![Value::from(against); matches.len() * 2];
    (sql, params)
}

struct TablePlan {
    target: usize,
    table: TableSchema,
    indexes: Vec<FullTextIndex>,
}

/// What the rows of one table's result share: where they come from and how they are shown.
struct Source {
    target: usize,
    table: String,
    names: Vec<String>,
    primary_key: Vec<String>,
    /// The FULLTEXT-indexed columns, in index order.
    indexed: Vec<String>,
}

impl Source {
    fn new(plan: &TablePlan, first: &Row) -> Self {
        let width = first.len().saturating_sub(2);
        // Indexes may overlap (`(title)`, `(title, body)`): each column once, first seen first.
        let mut indexed: Vec<String> = vec![];
        for column in plan.indexes.iter().flat_map(|i| &i.columns) {
            if !indexed.contains(column) {
                indexed.push(column.clone());
            }
        }
        Self {
            target: plan.target,
            table: plan.table.name.clone(),
            names: first.columns_ref()[..width]
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect(),
            primary_key: plan.table.primary_key.clone(),
            indexed,
        }
    }
}

/// One row of one table, with what ranking needs.
struct Hit {
    score: f64,
    position: usize,
    source: Arc<Source>,
    values: Vec<Value>,
}

fn total_of(row: &Row) -> u64 {
    match row.as_ref(row.len() - 1) {
        Some(Value::Int(n)) => (*n).max(0) as u64,
        Some(Value::UInt(n)) => *n,
        _ => 0,
    }
}

impl Hit {
    fn new(source: &Arc<Source>, position: usize, row: Row) -> Self {
        let width = source.names.len();
        let score = match row.as_ref(width) {
            Some(Value::Double(d)) => *d,
            Some(Value::Float(f)) => f64::from(*f),
            _ => 0.0,
        };
        let mut values = row.unwrap();
        values.truncate(width);
        Self {
            score,
            position,
            source: source.clone(),
            values,
        }
    }

    /// Higher relevance first; ties in a stable order (database, table, position).
    fn rank(a: &Hit, b: &Hit) -> Ordering {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(a.source.target.cmp(&b.source.target))
            .then_with(|| a.source.table.cmp(&b.source.table))
            .then(a.position.cmp(&b.position))
    }

    /// The text of the indexed columns, in index order, joined by spaces (what is embedded).
    fn indexed_text(&self) -> String {
        let texts: Vec<_> = self
            .source
            .indexed
            .iter()
            .filter_map(|c| self.value_of(c).and_then(rows::as_text))
            .collect();
        texts.join(" ")
    }

    fn value_of(&self, column: &str) -> Option<&Value> {
        rows::Content { names: &self.source.names, values: &self.values }.get(column)
    }

    fn view<'a>(
        &'a self,
        targets: &'a [Target],
        terms: &'a rows::Terms,
        snippet_chars: usize,
    ) -> rows::HitView<'a> {
        let source = &*self.source;
        let target = &targets[source.target];
        rows::HitView {
            database: &target.id,
            database_name: &target.name,
            table: &source.table,
            score: self.score,
            row: rows::Content {
                names: &source.names,
                values: &self.values,
            },
            primary_key: &source.primary_key,
            position: self.position,
            indexed: &source.indexed,
            terms,
            snippet_chars,
        }
    }
}

/// A page of hits as the response's `results` list, written in one pass.
struct Results<'a> {
    hits: &'a [Hit],
    targets: &'a [Target],
    terms: &'a rows::Terms,
    snippet_chars: usize,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.hits
                .iter()
                .map(|h| h.view(self.targets, self.terms, self.snippet_chars)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableSchema {
        TableSchema {
            name: "film`text".into(),
            columns: vec![],
            fulltext_indexes: vec![
                FullTextIndex { name: "a".into(), columns: vec!["title".into(), "description".into()] },
                FullTextIndex { name: "b".into(), columns: vec!["notes".into()] },
            ],
            primary_key: vec!["film_id".into()],
            row_estimate: None,
            engine: "InnoDB".into(),
        }
    }

    #[test]
    fn statements_quote_identifiers_and_bind_the_query() {
        let t = table();
        let idx = chosen_indexes(&t, None);
        let (sql, params) = statement("sak`ila", &t, &idx, Mode::Boolean, "'; DROP TABLE x; --", 30);
        assert!(sql.contains("FROM `sak``ila`.`film``text` AS t"), "{sql}");
        assert!(sql.contains("MATCH(t.`title`, t.`description`) AGAINST (? IN BOOLEAN MODE)"), "{sql}");
        assert!(sql.ends_with("LIMIT 30"));
        assert!(!sql.contains("DROP"));
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn column_filters_pick_covering_indexes() {
        let t = table();
        let names = |cols: &[&str]| {
            let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
            chosen_indexes(&t, Some(&cols)).iter().map(|i| i.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&["title"]), ["a"]);
        assert_eq!(names(&["notes"]), ["b"]);
        assert_eq!(names(&["title", "notes"]), ["a", "b"]);
        assert!(names(&["rating"]).is_empty());
    }

    #[test]
    fn modes() {
        for m in [Mode::Natural, Mode::Boolean, Mode::Semantic] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("NATURAL"), None);
    }
}
