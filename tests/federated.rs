//! Federated search over sakila and the PyPI corpus (842k rows, loaded by the test script):
//! one request, merged by MariaDB's own relevance scores, paginated exactly; and tables whose
//! FULLTEXT columns use different collations merge without trouble.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// (table, id, score) of every match of `query`, as MariaDB scores it, best first.
async fn direct_scores(query: &str) -> Vec<(String, u64, f64)> {
    let mut rows = vec![];
    let mut conn = mariadb(None).await;
    for (table, id_col, cols) in [("sakila.film_text", "film_id", "title, description"), ("altus4_pypi.packages", "id", "name, summary")] {
        let sql = format!(
            "SELECT {id_col}, MATCH({cols}) AGAINST (? IN NATURAL LANGUAGE MODE) AS s FROM {table} \
             WHERE MATCH({cols}) AGAINST (? IN NATURAL LANGUAGE MODE)"
        );
        let found: Vec<(u64, f64)> = conn.exec(sql, (query, query)).await.unwrap();
        let short = table.split('.').nth(1).unwrap().to_string();
        rows.extend(found.into_iter().map(|(id, s)| (short.clone(), id, s)));
    }
    rows.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap());
    rows
}

fn id_of(result: &Value) -> u64 {
    let content = &result["content"];
    content["film_id"].as_u64().or_else(|| content["id"].as_u64()).unwrap()
}

#[tokio::test]
async fn one_request_over_two_databases_merges_by_mariadbs_scores_and_pages_exactly() {
    let server = Server::start().await;
    let token = server.register("federated@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    let sakila = server.add_database(&token, "sakila").await;
    let pypi = server.add_database(&token, "altus4_pypi").await;
    let query = "astronaut boat";
    let expected = direct_scores(query).await;
    assert!(expected.iter().any(|r| r.0 == "film_text") && expected.iter().any(|r| r.0 == "packages"));
    assert!(expected.len() > 60, "{} matches", expected.len());

    let mut served: Vec<(String, u64, f64)> = vec![];
    for page in 0..4 {
        let (status, body) = server
            .search(&key, json!({"query": query, "databases": [sakila, pypi], "limit": 15, "offset": page * 15}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["totalCount"].as_u64(), Some(expected.len() as u64));
        let statuses = body["data"]["databases"].as_array().unwrap_or_else(|| panic!("per-database status: {body}"));
        assert_eq!(statuses.len(), 2);
        for r in body["data"]["results"].as_array().unwrap() {
            let score = r["relevanceScore"].as_f64().unwrap();
            served.push((r["table"].as_str().unwrap().to_string(), id_of(r), score));
        }
    }
    assert_eq!(served.len(), 60);
    // Same order as MariaDB's scores; within a run of equal scores the order is free, so compare
    // scores position by position and the members of each tie group as sets.
    for (i, (got, want)) in served.iter().zip(&expected).enumerate() {
        assert!((got.2 - want.2).abs() < 1e-4, "position {i}: score {} vs MariaDB's {}", got.2, want.2);
    }
    let key_of = |r: &(String, u64, f64)| (r.0.clone(), r.1);
    let boundary = expected[59].2;
    let mut want: Vec<_> = expected.iter().filter(|r| r.2 > boundary + 1e-4).map(key_of).collect();
    let mut got: Vec<_> = served.iter().filter(|r| r.2 > boundary + 1e-4).map(key_of).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "the rows above the last score of page 4 are exactly MariaDB's");
}

#[tokio::test]
async fn tables_with_different_collations_merge() {
    let mut conn = mariadb(None).await;
    conn.query_drop(
        "DROP DATABASE IF EXISTS altus4_collation;
         CREATE DATABASE altus4_collation;
         CREATE TABLE altus4_collation.notes_unicode (id INT PRIMARY KEY, body TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, FULLTEXT(body)) ENGINE=InnoDB;
         CREATE TABLE altus4_collation.notes_latin (id INT PRIMARY KEY, body TEXT CHARACTER SET latin1 COLLATE latin1_swedish_ci, FULLTEXT(body)) ENGINE=InnoDB;
         CREATE TABLE altus4_collation.notes_bin (id INT PRIMARY KEY, body TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, FULLTEXT(body)) ENGINE=MyISAM;",
    )
    .await
    .unwrap();
    for (table, rows) in [
        ("notes_unicode", vec![(1, "glacier café in the alps"), (2, "a glacier melts slowly"), (3, "nothing here")]),
        ("notes_latin", vec![(1, "crème brûlée near the glacier"), (2, "sea and sun"), (3, "another glacier hike")]),
        ("notes_bin", vec![(1, "Glacier naïve notes"), (2, "glacier glacier"), (3, "desert")]),
    ] {
        for (id, body) in rows {
            conn.exec_drop(format!("INSERT INTO altus4_collation.{table} VALUES (?, ?)"), (id, body)).await.unwrap();
        }
    }
    let server = Server::start().await;
    let token = server.register("collation@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    server.add_database(&token, "altus4_collation").await;

    let (status, body) = server.search(&key, json!({"query": "glacier", "limit": 50})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"]["results"].as_array().unwrap();
    let tables: std::collections::BTreeSet<&str> = results.iter().map(|r| r["table"].as_str().unwrap()).collect();
    assert_eq!(tables, ["notes_bin", "notes_latin", "notes_unicode"].into_iter().collect());
    let bodies: Vec<&str> = results.iter().map(|r| r["content"]["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"crème brûlée near the glacier"), "latin1 text arrives as proper UTF-8: {bodies:?}");
    assert!(bodies.contains(&"glacier café in the alps"));
    let scores: Vec<f64> = results.iter().map(|r| r["relevanceScore"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "merged by relevance: {scores:?}");
    // utf8mb4_bin is case-sensitive, yet MariaDB's FULLTEXT still matches; whatever it decides
    // is what altus4 reports: the totals equal MariaDB's own counts.
    let mut direct = 0u64;
    for table in ["notes_unicode", "notes_latin", "notes_bin"] {
        let n: u64 = conn
            .exec_first(format!("SELECT COUNT(*) FROM altus4_collation.{table} WHERE MATCH(body) AGAINST (?)"), ("glacier",))
            .await
            .unwrap()
            .unwrap();
        direct += n;
    }
    assert_eq!(body["data"]["totalCount"].as_u64(), Some(direct));
}
