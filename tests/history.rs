//! Every search is recorded, and the history feeds suggestions, trends and analytics — per
//! account.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn searches_feed_history_suggestions_trends_and_analytics() {
    let server = Server::start().await;
    let t = server.sakila_tenant("history@example.com").await;
    for q in ["astronaut boat", "Astronaut Boat", "astronomy", "drama"] {
        let (status, _) = server.search(&t.key, json!({"query": q})).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Prefixes that look like numbers, and capitals beyond ASCII, are matched too.
    let other_tenant = server.sakila_tenant("unicode@example.com").await;
    for q in ["100 boats", "Élan boat"] {
        assert_eq!(server.search(&other_tenant.key, json!({"query": q})).await.0, StatusCode::OK);
    }
    for prefix in ["100", "%C3%A9l", "%C3%89L"] {
        let (status, body) = server.get(&format!("/api/v1/search/suggestions?query={prefix}"), Some(&other_tenant.key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["suggestions"].as_array().unwrap().len(), 1, "{prefix}: {body}");
    }

    let (status, body) = server.get("/api/v1/search/history?limit=3", Some(&t.key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["query"], "drama", "newest first");
    assert_eq!(items[0]["searchMode"], "natural");
    assert!(items[0]["resultCount"].as_i64().unwrap() > 0);
    assert_eq!(items[0]["databases"], json!([t.db]));

    let (status, body) = server.get("/api/v1/search/suggestions?query=astr", Some(&t.key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let suggestions = body["data"]["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 2, "{suggestions:?}");
    assert_eq!(suggestions[0]["text"].as_str().unwrap().to_lowercase(), "astronaut boat");
    assert_eq!(suggestions[0]["relevance"], 1.0);
    let (status, _) = server.get("/api/v1/search/suggestions", Some(&t.key)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, body) = server.get("/api/v1/search/trends", Some(&t.key)).await;
    assert_eq!(body["data"]["totalSearches"], 4);
    assert_eq!(body["data"]["popularQueries"][0]["count"], 2);
    assert_eq!(body["data"]["searchesByDay"][0]["count"], 4);

    let (status, body) = server.get("/api/v1/analytics/popular-queries?period=week&limit=2", Some(&t.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["successRate"], 1.0);
    let (_, body) = server.get("/api/v1/analytics/search-history?limit=2&offset=1", Some(&t.token)).await;
    assert_eq!(body["data"]["totalCount"], 4);
    assert_eq!(body["data"]["searches"].as_array().unwrap().len(), 2);
    let (_, body) = server.get("/api/v1/analytics/search-trends?startDate=2020-01-01", Some(&t.token)).await;
    assert_eq!(body["data"]["totalSearches"], 4);
    assert!(body["data"]["averageResultsPerSearch"].as_f64().unwrap() > 0.0);
    let (_, body) = server.get("/api/v1/analytics/performance", Some(&t.token)).await;
    assert_eq!(body["data"]["errorRate"], 0.0);
    assert!(body["data"]["averageResponseTime"].as_f64().unwrap() > 0.0);
    let (_, body) = server.get("/api/v1/analytics/dashboard", Some(&t.token)).await;
    assert_eq!(body["data"]["summary"]["totalSearches"], 4);
    assert_eq!(body["data"]["summary"]["connectedDatabases"], 1);
    assert_eq!(body["data"]["quickStats"]["searchesToday"], 4);
    assert_eq!(body["data"]["recentActivity"].as_array().unwrap().len(), 4);

    // Bad parameters are 400s; keys need `analytics` for the analytics routes.
    let (status, body) = server.get("/api/v1/analytics/performance?period=decade", Some(&t.token)).await;
    assert_eq!((status, body["error"]["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("period")));
    let (status, _) = server.get("/api/v1/analytics/search-history?limit=0", Some(&t.token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server.get("/api/v1/analytics/dashboard", Some(&t.key)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Nobody else sees any of it.
    let other = server.register("nosy@example.com").await;
    let (other_key, _) = server.create_key(&other, &["search", "analytics"]).await;
    let (_, body) = server.get("/api/v1/search/history", Some(&other_key)).await;
    assert_eq!(body["data"], json!([]));
    let (_, body) = server.get("/api/v1/search/suggestions?query=astr", Some(&other_key)).await;
    assert_eq!(body["data"]["suggestions"], json!([]));
    let (_, body) = server.get("/api/v1/analytics/dashboard", Some(&other_key)).await;
    assert_eq!(body["data"]["summary"]["totalSearches"], 0);
}

#[tokio::test]
async fn insights_and_admin_analytics() {
    let server = Server::start().await;
    let t = server.sakila_tenant("insight@example.com").await;
    for q in ["astronaut", "zzzyzzyva", "zzzyzzyva"] {
        assert_eq!(server.search(&t.key, json!({"query": q})).await.0, StatusCode::OK);
    }
    let (status, body) = server.get("/api/v1/analytics/insights", Some(&t.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let insights = body["data"]["insights"].as_array().unwrap();
    assert!(insights.iter().any(|i| i["type"] == "recommendation" && i["description"].as_str().unwrap().contains("zzzyzzyva")), "{insights:?}");
    assert!(body["data"]["generatedAt"].is_string());

    // Admin routes: refused to a user, served to an administrator created by the operator.
    let (status, body) = server.get("/api/v1/analytics/admin/system-overview", Some(&t.token)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("INSUFFICIENT_PERMISSIONS")));
    let admin = server.admin_token("root@example.com").await;

    let (status, body) = server.get("/api/v1/analytics/admin/system-overview", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["totalUsers"], 2);
    assert_eq!(body["data"]["totalSearches"], 3);
    assert!(body["data"]["systemHealth"]["memoryUsage"].as_u64().unwrap() > 1_000_000);
    let (_, body) = server.get("/api/v1/analytics/admin/user-activity", Some(&admin)).await;
    assert_eq!(body["data"]["topUsers"][0]["email"], "insight@example.com");
    assert_eq!(body["data"]["topUsers"][0]["searchCount"], 3);
    let (_, body) = server.get("/api/v1/analytics/admin/performance-metrics", Some(&admin)).await;
    assert!(body["data"]["api"]["totalRequests"].as_u64().unwrap() > 5);
    assert_eq!(body["data"]["database"]["connectionPools"], 1);
}
