//! What the search history says: `GET /api/v1/search/{history,trends,suggestions}` (API key with
//! `search`) and `GET /api/v1/analytics/{search-history,popular-queries,search-trends,performance,
//! dashboard}` (token, or key with `analytics`). Everything is the caller's own history.

use serde_json::{json, Value};

use crate::app::App;
use crate::audit::Origin;
use crate::error::ApiError;
use crate::http::authn::Principal;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::views::iso;
use crate::engine::rows::html_escape;
use crate::store::{now_ms, DayStats, SearchEntry};

const DAY_MS: i64 = 86_400_000;

fn total(days: &[DayStats]) -> i64 {
    days.iter().map(|d| d.searches).sum()
}

/// A per-day figure averaged over searches (days weighted by their search count); 0 without any.
fn per_search(days: &[DayStats], figure: fn(&DayStats) -> f64) -> f64 {
    let n = total(days);
    if n == 0 {
        return 0.0;
    }
    days.iter().map(|d| figure(d) * d.searches as f64).sum::<f64>() / n as f64
}

fn entry_json(e: &SearchEntry) -> Value {
    json!({
        "id": e.id,
        "query": html_escape(&e.query),
        "searchMode": e.search_mode,
        "databases": e.databases,
        "resultCount": e.result_count,
        "executionTime": e.execution_ms,
        "success": e.success,
        "createdAt": iso(e.created_at),
    })
}

pub(crate) fn page(query: &Fields) -> Result<(i64, i64), ApiError> {
    Ok((query.opt_int("limit", 1, 100)?.unwrap_or(20), query.opt_int("offset", 0, 1_000_000)?.unwrap_or(0)))
}

/// The window `startDate`..now (RFC 3339 or YYYY-MM-DD), or the last `period` (day, week,
/// month; default month).
fn since(query: &Fields) -> Result<(i64, String), ApiError> {
    if let Some(start) = query.opt_str("startDate", 1, 64)? {
        let ms = parse_date(&start).ok_or_else(|| ApiError::validation("startDate", "startDate must be a date (YYYY-MM-DD) or RFC 3339 date-time"))?;
        return Ok((ms, "custom".into()));
    }
    let period = query.opt_str("period", 1, 16)?.unwrap_or_else(|| "month".into());
    let days = match period.as_str() {
        "day" => 1,
        "week" => 7,
        "month" => 30,
        "year" => 365,
        _ => return Err(ApiError::validation("period", "period must be day, week, month or year")),
    };
    Ok((now_ms() - days * DAY_MS, period))
}

fn parse_date(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).ok().map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
}

/// `GET /api/v1/search/history`
pub async fn history(app: &App, principal: &Principal, query: Fields) -> Result<Reply, ApiError> {
    let (limit, offset) = page(&query)?;
    let (items, _) = app.store.search_history(&principal.user_id, limit, offset).await?;
    Ok(Reply::ok(Value::Array(items.iter().map(entry_json).collect())))
}

/// `GET /api/v1/analytics/search-history`
pub async fn search_history(app: &App, principal: &Principal, query: Fields) -> Result<Reply, ApiError> {
    let (limit, offset) = page(&query)?;
    let (items, total) = app.store.search_history(&principal.user_id, limit, offset).await?;
    Ok(Reply::ok(json!({ "searches": items.iter().map(entry_json).collect::<Vec<_>>(), "totalCount": total })))
}

/// `GET /api/v1/search/trends`
pub async fn trends(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let since = now_ms() - 30 * DAY_MS;
    let popular = app.store.popular_queries(&principal.user_id, since, 10).await?;
    let days = app.store.search_days(&principal.user_id, since).await?;
    Ok(Reply::ok(json!({
        "totalSearches": days.iter().map(|d| d.searches).sum::<i64>(),
        "popularQueries": popular.iter().map(|q| json!({"query": html_escape(&q.query), "count": q.count})).collect::<Vec<_>>(),
        "searchesByDay": days.iter().map(|d| json!({"date": d.date, "count": d.searches})).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/search/suggestions?query=pre`
pub async fn suggestions(app: &App, principal: &Principal, query: Fields, origin: &Origin) -> Result<Reply, ApiError> {
    let prefix = query.req_str("query", 1, 100)?;
    // A probe is a probe whichever search route it is typed into.
    super::search::screen(app, principal, &prefix, origin)?;
    let found = app.store.query_suggestions(&principal.user_id, &prefix, 10).await?;
    let top = found.first().map_or(1, |(_, n)| *n).max(1) as f64;
    let suggestions: Vec<Value> = found
        .iter()
        .map(|(text, n)| json!({"text": html_escape(text), "relevance": *n as f64 / top, "type": "query"}))
        .collect();
    Ok(Reply::ok(json!({ "suggestions": suggestions })))
}

/// `GET /api/v1/analytics/popular-queries`
pub async fn popular_queries(app: &App, principal: &Principal, query: Fields) -> Result<Reply, ApiError> {
    let (since, _) = since(&query)?;
    let limit = query.opt_int("limit", 1, 100)?.unwrap_or(10);
    let popular = app.store.popular_queries(&principal.user_id, since, limit).await?;
    Ok(Reply::ok(Value::Array(
        popular
            .iter()
            .map(|q| {
                json!({
                    "query": html_escape(&q.query),
                    "count": q.count,
                    "averageResponseTime": q.average_ms,
                    "successRate": q.success_rate,
                })
            })
            .collect(),
    )))
}

/// `GET /api/v1/analytics/search-trends`
pub async fn search_trends(app: &App, principal: &Principal, query: Fields) -> Result<Reply, ApiError> {
    let (since, period) = since(&query)?;
    let days = app.store.search_days(&principal.user_id, since).await?;
    Ok(Reply::ok(json!({
        "period": period,
        "totalSearches": total(&days),
        "averageResultsPerSearch": per_search(&days, |d| d.average_results),
        "trendsData": days
            .iter()
            .map(|d| json!({"date": d.date, "searches": d.searches, "averageResponseTime": d.average_ms}))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/analytics/performance`
pub async fn performance(app: &App, principal: &Principal, query: Fields) -> Result<Reply, ApiError> {
    let (since, _) = since(&query)?;
    let days = app.store.search_days(&principal.user_id, since).await?;
    let span_days = ((now_ms() - since) as f64 / DAY_MS as f64).max(1.0);
    Ok(Reply::ok(json!({
        "averageResponseTime": per_search(&days, |d| d.average_ms),
        "errorRate": per_search(&days, |d| d.error_rate),
        // Searches per day over the window.
        "throughput": total(&days) as f64 / span_days,
        "performanceData": days
            .iter()
            .map(|d| json!({"date": d.date, "averageResponseTime": d.average_ms, "errorRate": d.error_rate}))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/analytics/dashboard`
pub async fn dashboard(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let user = &principal.user_id;
    let now = now_ms();
    let week = app.store.search_days(user, now - 7 * DAY_MS).await?;
    let month = app.store.search_days(user, now - 30 * DAY_MS).await?;
    let today_date = iso(now)[..10].to_string();
    let top = app.store.popular_queries(user, now - 7 * DAY_MS, 1).await?;
    let (recent, _) = app.store.search_history(user, 5, 0).await?;
    let databases = app.store.databases_of_user(user).await?;
    let keys = app.store.keys_of_user(user).await?;
    Ok(Reply::ok(json!({
        "summary": {
            "totalSearches": total(&month),
            "averageResponseTime": per_search(&month, |d| d.average_ms),
            "connectedDatabases": databases.iter().filter(|d| d.is_active && d.connection_status == "connected").count(),
            "activeApiKeys": keys.iter().filter(|k| k.is_usable(now)).count(),
        },
        "recentActivity": recent
            .iter()
            .map(|e| json!({"type": "search", "description": html_escape(&e.query), "timestamp": iso(e.created_at)}))
            .collect::<Vec<_>>(),
        "quickStats": {
            "searchesToday": week.iter().filter(|d| d.date == today_date).map(|d| d.searches).sum::<i64>(),
            "searchesThisWeek": total(&week),
            "topQuery": top.first().map(|q| html_escape(&q.query)),
            "errorRate": per_search(&week, |d| d.error_rate),
        },
        "period": "month",
    })))
}

/// `GET /api/v1/analytics/insights`: rule-based observations on the last 30 days (no AI provider
/// is configured, so nothing is guessed: every insight states what the history shows).
pub async fn insights(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let user = &principal.user_id;
    let since = now_ms() - 30 * DAY_MS;
    let days = app.store.search_days(user, since).await?;
    let total = total(&days);
    let mut insights = vec![];
    if total == 0 {
        insights.push(json!({"type": "usage", "title": "No searches yet",
            "description": "No searches in the last 30 days.", "confidence": 1.0}));
    } else {
        let avg = per_search(&days, |d| d.average_ms);
        let errors = per_search(&days, |d| d.error_rate);
        insights.push(json!({"type": "usage", "title": "Search volume",
            "description": format!("{total} searches in the last 30 days, on {} day(s).", days.len()), "confidence": 1.0}));
        insights.push(json!({"type": "performance", "title": "Response time",
            "description": format!("Searches took {avg:.1} ms on average."), "confidence": 1.0}));
        if errors > 0.0 {
            insights.push(json!({"type": "performance", "title": "Failed searches",
                "description": format!("{:.1}% of searches failed (a database unreachable or refusing the query).", errors * 100.0),
                "confidence": 1.0}));
        }
        if let Some(top) = app.store.popular_queries(user, since, 1).await?.first() {
            insights.push(json!({"type": "trend", "title": "Most searched",
                "description": format!("\"{}\" was searched {} time(s).", html_escape(&top.query), top.count), "confidence": 1.0}));
        }
        let empty = app.store.zero_result_queries(user, since, 5).await?;
        if !empty.is_empty() {
            let list: Vec<String> = empty.iter().map(|(q, n)| format!("\"{}\" ({n})", html_escape(q))).collect();
            insights.push(json!({"type": "recommendation", "title": "Queries that found nothing",
                "description": format!("These found no rows: {}. Check the FULLTEXT indexes cover the columns users expect, or use POST /api/v1/search/analyze.", list.join(", ")),
                "confidence": 1.0}));
        }
    }
    Ok(Reply::ok(json!({ "insights": insights, "generatedAt": iso(now_ms()) })))
}

/// Resident memory of this process in bytes, from /proc (0 where unavailable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kib| kib * 1024)
}

/// CPU seconds this process has used, from /proc (0 where unavailable).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which may contain spaces) end with ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn system_health(app: &App) -> Value {
    let uptime = app.started.elapsed().as_secs_f64();
    json!({
        "status": "healthy",
        "uptime": uptime,
        "memoryUsage": rss_bytes(),
        // Share of one core used since start.
        "cpuUsage": if uptime > 0.0 { cpu_seconds() / uptime } else { 0.0 },
    })
}

/// `GET /api/v1/analytics/admin/system-overview` (admin)
pub async fn system_overview(app: &App) -> Result<Reply, ApiError> {
    let counts = app.store.system_counts(now_ms() - 30 * DAY_MS).await?;
    Ok(Reply::ok(json!({
        "totalUsers": counts.users,
        "totalSearches": counts.searches,
        "totalDatabases": counts.databases,
        "systemHealth": system_health(app),
    })))
}

/// `GET /api/v1/analytics/admin/user-activity` (admin)
pub async fn user_activity(app: &App, query: Fields) -> Result<Reply, ApiError> {
    let (since, period) = since(&query)?;
    let counts = app.store.system_counts(since).await?;
    let top = app.store.top_users(since, query.opt_int("limit", 1, 100)?.unwrap_or(10)).await?;
    Ok(Reply::ok(json!({
        "period": period,
        "activeUsers": counts.active_users,
        "newUsers": counts.new_users,
        "topUsers": top
            .iter()
            .map(|(id, email, n, last)| json!({"userId": id, "email": html_escape(email), "searchCount": n, "lastActive": last.map(iso)}))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/analytics/admin/performance-metrics` (admin)
pub async fn performance_metrics(app: &App) -> Result<Reply, ApiError> {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &app.metrics;
    let (requests, errors, micros) = (m.requests.load(Relaxed), m.errors.load(Relaxed), m.total_micros.load(Relaxed));
    let uptime = app.started.elapsed().as_secs_f64().max(1e-3);
    let health = system_health(app);
    let disk: u64 = std::fs::read_dir(&app.config.storage.data_dir)
        .map(|dir| dir.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    Ok(Reply::ok(json!({
        "system": {
            "cpuUsage": health["cpuUsage"],
            "memoryUsage": health["memoryUsage"],
            "diskUsage": disk,
            "uptime": health["uptime"],
        },
        "api": {
            "requestsPerSecond": requests as f64 / uptime,
            "averageResponseTime": if requests > 0 { micros as f64 / requests as f64 / 1000.0 } else { 0.0 },
            "errorRate": if requests > 0 { errors as f64 / requests as f64 } else { 0.0 },
            "totalRequests": requests,
        },
        "database": {
            "connectionPools": app.pools.len(),
            "activeRateLimiters": app.limits.active(),
        },
    })))
}
