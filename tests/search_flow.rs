//! The main job end to end: register, log in, create keys, register sakila, search it.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn full_flow_finds_express_lonely_first() {
    let server = Server::start().await;
    let token = server.register("flow@example.com").await;

    // Login returns a working token too.
    let (status, body) = server
        .post("/api/v1/auth/login", None, json!({"email": "FLOW@example.com", "password": "correct horse battery"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let login_token = body["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(body["data"]["user"]["email"], "flow@example.com");

    // First key through setup, once.
    let (status, body) = server.post("/api/v1/management/setup", Some(&login_token), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["data"]["secretKey"].as_str().unwrap().to_string();
    assert!(key.starts_with("altus4_sk_test_") && key.len() == 79);
    assert_eq!(body["data"]["apiKey"]["keyPrefix"], &key[..20]);
    let (status, body) = server.post("/api/v1/management/setup", Some(&token), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("API_KEY_EXISTS")));

    // Keys list never shows a secret.
    let (status, body) = server.get("/api/v1/keys", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert!(!body.to_string().contains(&key[20..]));

    let db = server.add_database(&token, "sakila").await;
    let (status, body) = server.get("/api/v1/databases", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["id"], db.as_str());
    assert_eq!(body["data"][0]["databaseName"], "sakila");
    assert!(body["data"][0].get("password").is_none());
    let (status, body) = server.get(&format!("/api/v1/databases/{db}"), Some(&token)).await;
    assert_eq!((status, body["data"]["id"].as_str()), (StatusCode::OK, Some(db.as_str())));

    // Schema: film_text and its FULLTEXT index, with row estimates.
    let (status, body) = server.get(&format!("/api/v1/databases/{db}/schema"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let film_text = body["data"]["tables"].as_array().unwrap().iter().find(|t| t["name"] == "film_text").unwrap();
    assert_eq!(film_text["fulltextIndexes"][0]["columns"], json!(["title", "description"]));
    assert!(film_text["rowEstimate"].as_u64().unwrap() > 0);
    assert!(film_text["columns"].as_array().unwrap().iter().any(|c| c["name"] == "film_id" && c["key"] == "PRI"));

    let (status, body) = server.search(&key, json!({"query": "astronaut boat", "searchMode": "natural"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = &body["data"]["results"][0];
    assert_eq!(first["table"], "film_text");
    assert_eq!(first["database"], db.as_str());
    assert_eq!(first["content"]["film_id"], 296);
    assert_eq!(first["content"]["title"], "EXPRESS LONELY");
    assert_eq!(first["data"], first["content"], "the original service's name for the row");
    assert_eq!(first["matchedColumns"], json!(["description"]));
    let highlight = first["highlights"][0].as_str().unwrap();
    assert!(highlight.contains("<mark>Astronaut</mark>") && highlight.contains("<mark>Boat</mark>"), "{highlight}");
    assert!(first["relevanceScore"].as_f64().unwrap() > 0.0);
    let snippet = first["snippet"].as_str().unwrap().to_lowercase();
    assert!(snippet.contains("astronaut") || snippet.contains("boat"), "{snippet}");
    assert_eq!(body["data"]["results"].as_array().unwrap().len(), 10);

    // The total and the order are MariaDB's own.
    let mut conn = mariadb(Some("sakila")).await;
    let expected: Vec<(u32, f64)> = conn
        .exec(
            "SELECT film_id, MATCH(title, description) AGAINST (?) s FROM film_text
             WHERE MATCH(title, description) AGAINST (?) ORDER BY s DESC, film_id LIMIT 10",
            ("astronaut boat", "astronaut boat"),
        )
        .await
        .unwrap();
    let total: u64 = conn
        .exec_first("SELECT COUNT(*) FROM film_text WHERE MATCH(title, description) AGAINST (?)", ("astronaut boat",))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body["data"]["totalCount"].as_u64(), Some(total));
    let scores: Vec<f64> = body["data"]["results"].as_array().unwrap().iter().map(|r| r["relevanceScore"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "not sorted by relevance: {scores:?}");
    assert!((scores[0] - expected[0].1).abs() < 0.5);
}

#[tokio::test]
async fn boolean_search_returns_only_matching_rows_and_pages_exactly() {
    let server = Server::start().await;
    let t = server.sakila_tenant("bool@example.com").await;

    let mut conn = mariadb(Some("sakila")).await;
    let expected: u64 = conn
        .exec_first(
            "SELECT COUNT(*) FROM film_text WHERE MATCH(title, description) AGAINST (? IN BOOLEAN MODE)",
            ("+drama -feminist",),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(expected > 20);

    let (status, all) = server.search(&t.key, json!({"query": "+drama -feminist", "searchMode": "boolean", "limit": 100})).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let rows = all["data"]["results"].as_array().unwrap();
    assert_eq!(all["data"]["totalCount"].as_u64(), Some(expected));
    assert_eq!(rows.len() as u64, expected.min(100));
    for row in rows {
        let text = format!("{} {}", row["content"]["title"], row["content"]["description"]).to_lowercase();
        assert!(text.contains("drama") && !text.contains("feminist"), "{text}");
    }

    // Pages of 7 concatenate to the same list.
    let mut paged: Vec<Value> = vec![];
    for page in 0..3 {
        let (status, body) = server
            .search(&t.key, json!({"query": "+drama -feminist", "searchMode": "boolean", "limit": 7, "offset": page * 7}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["page"], page + 1);
        assert_eq!(body["data"]["totalCount"].as_u64(), Some(expected));
        paged.extend(body["data"]["results"].as_array().unwrap().iter().cloned());
    }
    let ids = |v: &[Value]| v.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(&rows[..21]));
}

#[tokio::test]
async fn parser_hostile_boolean_input_never_fails() {
    let server = Server::start().await;
    let t = server.sakila_tenant("hostile@example.com").await;
    let inputs = [
        "contact support@example.com", "foo -", "(", ")", "the of and", "+-term", "**", "lib@2", "\"unbalanced",
        "(((", "\"\"", "🚀🚀", "a -", "~", "@3", "+(", "-drama", "DRAMA*",
    ];
    for mode in ["boolean", "natural", "semantic"] {
        for q in inputs {
            let (status, body) = server.search(&t.key, json!({"query": q, "searchMode": mode})).await;
            assert_eq!(status, StatusCode::OK, "{mode} {q:?}: {body}");
            assert!(body["data"]["results"].is_array());
        }
        // An injection probe is refused as such (by default), never a 500.
        let (status, body) = server.search(&t.key, json!({"query": "'; DROP TABLE film_text; --", "searchMode": mode})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["reason"], "suspicious");
    }
    // Still there.
    let mut conn = mariadb(Some("sakila")).await;
    let n: u64 = conn.query_first("SELECT COUNT(*) FROM film_text").await.unwrap().unwrap();
    assert_eq!(n, 1000);
}

#[tokio::test]
async fn table_and_column_filters() {
    let server = Server::start().await;
    let t = server.sakila_tenant("filters@example.com").await;
    let (status, body) = server.search(&t.key, json!({"query": "astronaut", "tables": ["film_text"], "columns": ["title", "description"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["totalCount"].as_u64().unwrap() > 0);

    for (field, value) in [("tables", json!(["no_such_table"])), ("columns", json!(["no_such_column"])), ("columns", json!(["rating"]))] {
        let (status, body) = server.search(&t.key, json!({"query": "astronaut", field: value})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{body}");
    }
    // A table without a FULLTEXT index is skipped, with a warning.
    let (status, body) = server.search(&t.key, json!({"query": "astronaut", "tables": ["actor"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["totalCount"], 0);
    assert!(body["data"]["warnings"][0].as_str().unwrap().contains("actor"));
}

#[tokio::test]
async fn results_are_html_escaped() {
    // A small database of our own with markup in it.
    let mut conn = mariadb(None).await;
    conn.query_drop("CREATE DATABASE IF NOT EXISTS altus4_e2e_html").await.unwrap();
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS altus4_e2e_html.notes (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body)) ENGINE=InnoDB",
    )
    .await
    .unwrap();
    conn.query_drop(
        r#"REPLACE INTO altus4_e2e_html.notes VALUES (1, '<script>alert("pwn")</script> & Tom''s zanzibar notes'), (2, 'plain row'), (3, 'other row')"#,
    )
    .await
    .unwrap();

    let server = Server::start().await;
    let token = server.register("html@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    server.add_database(&token, "altus4_e2e_html").await;
    let (status, body) = server.search(&key, json!({"query": "zanzibar"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hit = &body["data"]["results"][0];
    let content = hit["content"]["body"].as_str().unwrap();
    assert_eq!(content, "&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt; &amp; Tom&#x27;s zanzibar notes");
    assert!(is_html_safe(hit["snippet"].as_str().unwrap()));
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let server = Server::start().await;
    let (status, body) = server.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["status"].as_str(), body["data"]["status"].as_str()), (Some("healthy"), Some("healthy")));
    assert!(body["uptime"].is_number() && body["version"].is_string() && body["timestamp"].is_string());
    let (status, body) = server.get("/api/v1/nope", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")));
    let (status, body) = server.call(Method::DELETE, "/api/v1/search", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED")));
}

/// A JSON array of strings.
fn strings(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

#[tokio::test]
async fn analyze_explains_the_plan_and_gives_advice() {
    let server = Server::start().await;
    let t = server.sakila_tenant("analyze@example.com").await;
    let (status, body) = server.post("/api/v1/search/analyze", Some(&t.key), json!({"query": "an astronaut boat"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["analyzedQuery"], "an astronaut boat");
    let usage = strings(&data["performance"]["indexUsage"]);
    assert!(usage.iter().any(|u| u.contains("film_text: idx_title_description (fulltext)")), "{usage:?}");
    assert!(data["performance"]["estimatedTime"].as_f64().unwrap() > 0.0);
    let advice = strings(&data["performance"]["recommendations"]);
    assert!(advice.iter().any(|a| a.contains("shorter than 3") && a.contains("an")), "{advice:?}");
    assert!(advice.iter().any(|a| a.contains("ALTER TABLE `actor` ADD FULLTEXT INDEX")), "{advice:?}");
    assert!(data["totalCount"].as_u64().unwrap() > 0);

    let (status, body) = server.post("/api/v1/search/analyze", Some(&t.key), json!({"query": "(", "searchMode": "boolean"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["performance"]["indexUsage"], json!([]));
}

#[tokio::test]
async fn identical_searches_are_cached_single_flight_and_cleared_by_database_changes() {
    let server = Server::start_with_config(&GENEROUS_LIMITS.replace("cache_ttl_secs = 0", "cache_ttl_secs = 1")).await;
    let t = server.sakila_tenant("cache@example.com").await;
    let executed = || async {
        let (_, body) = server.get(&format!("/api/v1/databases/{}", t.db), Some(&t.token)).await;
        body["data"]["queriesExecuted"].as_u64().unwrap()
    };
    let q = json!({"query": "astronaut boat", "limit": 3});
    let (_, first) = server.search(&t.key, q.clone()).await;
    let before = executed().await;
    let (_, again) = server.search(&t.key, q.clone()).await;
    assert_eq!(executed().await, before, "a repeat within the TTL is served from memory");
    assert_eq!(first["data"]["results"], again["data"]["results"]);

    // 32 concurrent identical requests on an expired entry send one statement, not 32.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, url, key, q) = (server.client.clone(), format!("{}/api/v1/search", server.base), t.key.clone(), q.clone());
        set.spawn(async move { client.post(url).bearer_auth(key).json(&q).send().await.unwrap().status() });
    }
    assert!(set.join_all().await.iter().all(|s| *s == StatusCode::OK));
    assert_eq!(executed().await, before + 1);

    // Another tenant never gets this tenant's cached outcome, and a change clears it.
    let (status, _) = server.call(Method::PUT, &format!("/api/v1/databases/{}", t.db), Some(&t.token), Some(json!({"name": "renamed"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after_change) = server.search(&t.key, q.clone()).await;
    assert_eq!(after_change["data"]["results"][0]["databaseName"], "renamed");
}

/// Stopwords and words shorter than `innodb_ft_min_token_size` are not in an InnoDB FULLTEXT
/// index: a query made only of them gets an empty result with a hint, and no statement is sent.
/// The rules are read from the server, by root and by a user who may only SELECT the data
/// (`and` is not an InnoDB stopword: a query with it is sent).
#[tokio::test]
async fn queries_of_only_stopwords_or_short_words_get_an_empty_result_with_a_hint() {
    let server = Server::start_with_config(GENEROUS_LIMITS).await;
    let mut conn = mariadb(None).await;
    conn.query_drop("CREATE USER IF NOT EXISTS 'altus4_reader'@'%' IDENTIFIED BY 'reader secret 1'").await.unwrap();
    conn.query_drop("GRANT SELECT ON sakila.* TO 'altus4_reader'@'%'").await.unwrap();

    let root = server.sakila_tenant("stopwords@example.com").await;
    let token = server.register("stopwords-reader@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    let reader_db = server.add_database_as(&token, "sakila", "altus4_reader", "reader secret 1").await;
    let executed = |tenant_token: String, db: String| {
        let server = &server;
        async move {
            let (_, body) = server.get(&format!("/api/v1/databases/{db}"), Some(&tenant_token)).await;
            body["data"]["queriesExecuted"].as_u64().unwrap()
        }
    };

    for (key, token, db) in [(&root.key, &root.token, &root.db), (&key, &token, &reader_db)] {
        let before = executed(token.clone(), db.clone()).await;
        for (query, mode) in [("the of with", "natural"), ("+the +with", "boolean"), ("xy zq", "natural"), ("about it", "semantic")] {
            let (status, body) = server.search(key, json!({"query": query, "searchMode": mode})).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            assert_eq!(body["data"]["results"], json!([]), "{query}");
            assert_eq!(body["data"]["totalCount"], 0);
            let warnings = body["data"]["warnings"].to_string();
            assert!(warnings.contains("stopword") && warnings.contains("3 characters"), "{query}: {warnings}");
        }
        assert_eq!(executed(token.clone(), db.clone()).await, before, "hopeless queries are not sent");

        // One indexed word among them is enough; a wildcard makes a short word a prefix search.
        let (_, body) = server.search(key, json!({"query": "the of and", "searchMode": "natural"})).await;
        assert!(!body["data"]["warnings"].to_string().contains("stopword"), "{}", body["data"]["warnings"]);
        let (_, body) = server.search(key, json!({"query": "the astronaut of", "searchMode": "natural"})).await;
        assert!(!body["data"]["results"].as_array().unwrap().is_empty(), "{body}");
        assert!(!body["data"]["warnings"].to_string().contains("stopword"));
        let (status, body) = server.search(key, json!({"query": "th*", "searchMode": "boolean"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!body["data"]["warnings"].to_string().contains("stopword"));
        assert!(executed(token.clone(), db.clone()).await >= before + 3);
    }
}

/// Tables shaped to trip the renderer: overlapping FULLTEXT indexes (each column is reported
/// once), binary primary keys (distinct ids), and a dotted capital I, which `to_lowercase` turns
/// into two characters (the term must still be found and marked).
#[tokio::test]
async fn awkward_tables_render_correctly() {
    let mut conn = mariadb(None).await;
    conn.query_drop(
        "DROP DATABASE IF EXISTS altus4_awkward;
         CREATE DATABASE altus4_awkward;
         CREATE TABLE altus4_awkward.overlap (id INT PRIMARY KEY, title VARCHAR(100), body TEXT,
             FULLTEXT(title), FULLTEXT(body), FULLTEXT(title, body)) ENGINE=InnoDB;
         CREATE TABLE altus4_awkward.binkey (k VARBINARY(4) PRIMARY KEY, body TEXT, FULLTEXT(body)) ENGINE=InnoDB;
         INSERT INTO altus4_awkward.overlap VALUES (1, 'İstanbul ferry', 'a ferry on the Bosporus');
         INSERT INTO altus4_awkward.binkey VALUES (0xff3c, 'ferry one'), (0xfe3c, 'ferry two');",
    )
    .await
    .unwrap();
    let server = Server::start().await;
    let token = server.register("awkward@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    let db = server.add_database(&token, "altus4_awkward").await;

    let (status, body) = server
        .search(&key, json!({"query": "ferry", "databases": [db]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"]["results"].as_array().unwrap();
    let overlap = results
        .iter()
        .find(|r| r["table"] == "overlap")
        .unwrap_or_else(|| panic!("{body}"));
    let mut columns = strings(&overlap["matchedColumns"]);
    assert_eq!(
        columns.len(),
        overlap["highlights"].as_array().unwrap().len()
    );
    columns.sort();
    assert_eq!(
        columns,
        ["body", "title"],
        "each matching column once: {overlap}"
    );
    let mut ids: Vec<&str> = results
        .iter()
        .filter(|r| r["table"] == "binkey")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["binkey:0xfe3c", "binkey:0xff3c"], "{body}");

    let (status, body) = server
        .search(&key, json!({"query": "İstanbul", "databases": [db]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hit = &body["data"]["results"][0];
    assert_eq!(hit["content"]["id"], 1, "{body}");
    assert_eq!(
        strings(&hit["highlights"]),
        ["<mark>İstanbul</mark> ferry"],
        "{body}"
    );
    conn.query_drop("DROP DATABASE altus4_awkward")
        .await
        .unwrap();
}

/// A database's schema is discovered once and reused for `schema_ttl_secs`: a FULLTEXT index
/// added meanwhile is not searched until the TTL ends or the tenant asks for the schema
/// (`GET /databases/{id}/schema` reads it afresh).
#[tokio::test]
async fn schemas_are_cached_for_their_ttl_and_refreshed_on_demand() {
    let mut conn = mariadb(None).await;
    conn.query_drop(
        "DROP DATABASE IF EXISTS altus4_schema_cache;
         CREATE DATABASE altus4_schema_cache;
         CREATE TABLE altus4_schema_cache.a (id INT PRIMARY KEY, body TEXT, FULLTEXT(body)) ENGINE=InnoDB;
         CREATE TABLE altus4_schema_cache.b (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB;
         CREATE TABLE altus4_schema_cache.c (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB;
         INSERT INTO altus4_schema_cache.a VALUES (1, 'lighthouse keeper');
         INSERT INTO altus4_schema_cache.b VALUES (1, 'lighthouse lamp');
         INSERT INTO altus4_schema_cache.c VALUES (1, 'lighthouse stairs');",
    )
    .await
    .unwrap();
    const TTL_SECS: u64 = 3;
    let config = GENEROUS_LIMITS.replace("[search]", &format!("[targets]\nschema_ttl_secs = {TTL_SECS}\n\n[search]"));
    let server = Server::start_with_config(&config).await;
    let token = server.register("schema-cache@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    let db = server.add_database(&token, "altus4_schema_cache").await;
    let tables = |body: &Value| {
        let mut names: Vec<String> =
            body["data"]["results"].as_array().unwrap().iter().map(|r| r["table"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    };
    let search = || server.search(&key, json!({"query": "lighthouse", "databases": [db]}));

    let (status, body) = search().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(tables(&body), ["a"]);
    conn.query_drop("ALTER TABLE altus4_schema_cache.b ADD FULLTEXT(body)").await.unwrap();
    let (_, body) = search().await;
    assert_eq!(tables(&body), ["a"], "the cached schema is used within its TTL");

    let (status, schema) = server.get(&format!("/api/v1/databases/{db}/schema"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{schema}");
    let (_, body) = search().await;
    assert_eq!(tables(&body), ["a", "b"], "asking for the schema refreshed it");

    conn.query_drop("ALTER TABLE altus4_schema_cache.c ADD FULLTEXT(body)").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(TTL_SECS * 1000 + 500)).await;
    let (_, body) = search().await;
    assert_eq!(tables(&body), ["a", "b", "c"], "an expired schema is read again");
    conn.query_drop("DROP DATABASE altus4_schema_cache").await.unwrap();
}
