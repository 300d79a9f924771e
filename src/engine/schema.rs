//! What a tenant database offers to search: its tables, their columns, and their FULLTEXT
//! indexes, read from `information_schema` with the schema name as a bound parameter.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::Serialize;

use super::ident;

#[derive(Clone, Debug, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
    pub nullable: bool,
    pub key: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FullTextIndex {
    pub name: String,
    /// In index order: a MATCH must name exactly these columns.
    pub columns: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub fulltext_indexes: Vec<FullTextIndex>,
    pub primary_key: Vec<String>,
    /// InnoDB's estimate; may be off by a wide margin.
    pub row_estimate: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DbSchema {
    pub tables: Vec<TableSchema>,
}


/// The text columns of a row, read lossily (a server may send anything).
fn texts<const N: usize>(row: &Row) -> [String; N] {
    std::array::from_fn(|i| row.as_ref(i).and_then(super::rows::as_text).unwrap_or_default())
}

/// Reads the schema of database `db` over `conn`.
pub async fn discover(conn: &mut mysql_async::Conn, db: &str) -> mysql_async::Result<DbSchema> {
    let columns: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?
             ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (db,),
        )
        .await?;
    let indexes: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
             WHERE TABLE_SCHEMA = ? AND INDEX_TYPE = 'FULLTEXT'
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            (db,),
        )
        .await?;
    let estimates: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
            (db,),
        )
        .await?;

    let mut tables: BTreeMap<String, TableSchema> = BTreeMap::new();
    for row in estimates {
        let [table] = texts::<1>(&row);
        let row_estimate = match row.as_ref(1) {
            Some(mysql_async::Value::UInt(n)) => Some(*n),
            Some(mysql_async::Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        };
        if ident::is_valid(&table) {
            tables.insert(
                table.clone(),
                TableSchema {
                    name: table,
                    columns: vec![],
                    fulltext_indexes: vec![],
                    primary_key: vec![],
                    row_estimate,
                },
            );
        }
    }
    for row in columns {
        let [table, name, column_type, nullable, key] = texts::<5>(&row);
        // Views and unusual names are left out: only base tables with valid names are searchable.
        let Some(t) = tables.get_mut(&table) else { continue };
        if !ident::is_valid(&name) {
            continue;
        }
        if key == "PRI" {
            t.primary_key.push(name.clone());
        }
        t.columns.push(ColumnInfo { name, column_type, nullable: nullable == "YES", key });
    }
    for row in indexes {
        let [table, index, column] = texts::<3>(&row);
        let Some(t) = tables.get_mut(&table) else { continue };
        match t.fulltext_indexes.last_mut() {
            Some(last) if last.name == index => last.columns.push(column),
            _ => t.fulltext_indexes.push(FullTextIndex { name: index, columns: vec![column] }),
        }
    }
    for t in tables.values_mut() {
        // An index over a column we could not name safely cannot be matched.
        t.fulltext_indexes.retain(|i| i.columns.iter().all(|c| ident::is_valid(c)));
    }
    Ok(DbSchema { tables: tables.into_values().collect() })
}
