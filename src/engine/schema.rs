//! What a tenant database offers to search: its tables, their columns, and their FULLTEXT
//! indexes, read from `information_schema` with the schema name as a bound parameter.

use std::collections::{BTreeMap, HashSet};

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
    /// Storage engine (`InnoDB`, `MyISAM`, ...): [`TextRules`] describe InnoDB's tokeniser only.
    pub engine: String,
}

impl TableSchema {
    pub fn is_innodb(&self) -> bool {
        self.engine.eq_ignore_ascii_case("innodb")
    }
}

/// InnoDB's built-in stopword list (`information_schema.INNODB_FT_DEFAULT_STOPWORD`), used when
/// that table cannot be read (MySQL asks for the PROCESS privilege, which a tenant's user rarely
/// has).
const INNODB_DEFAULT_STOPWORDS: [&str; 36] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "the", "www",
];

/// InnoDB's minimum token size when the server does not say (`innodb_ft_min_token_size`).
const INNODB_DEFAULT_MIN_TOKEN: usize = 3;

/// Which words a server's InnoDB FULLTEXT indexes hold: none shorter than `min_token` characters
/// and no stopword. A query made only of such words can match nothing, so it is answered with an
/// empty result and a hint instead of being sent.
#[derive(Clone, Debug)]
pub struct TextRules {
    pub min_token: usize,
    /// Case-folded like query terms (`rows::fold_case`); empty when stopwords are off or their
    /// list could not be read.
    pub stopwords: HashSet<String>,
}

impl Default for TextRules {
    fn default() -> Self {
        Self { min_token: INNODB_DEFAULT_MIN_TOKEN, stopwords: INNODB_DEFAULT_STOPWORDS.iter().map(|w| w.to_string()).collect() }
    }
}

impl TextRules {
    /// Whether `word` (case-folded) can be in an InnoDB FULLTEXT index of this server.
    pub fn indexes(&self, word: &str) -> bool {
        word.chars().count() >= self.min_token && !self.stopwords.contains(word)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DbSchema {
    pub tables: Vec<TableSchema>,
    #[serde(skip)]
    pub text_rules: TextRules,
}


/// The text columns of a row, read lossily (a server may send anything).
fn texts<const N: usize>(row: &Row) -> [String; N] {
    std::array::from_fn(|i| row.as_ref(i).and_then(super::rows::as_text).map(|t| t.into_owned()).unwrap_or_default())
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
            "SELECT TABLE_NAME, TABLE_ROWS, ENGINE FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
            (db,),
        )
        .await?;

    let mut tables: BTreeMap<String, TableSchema> = BTreeMap::new();
    for row in estimates {
        let [table, _, engine] = texts::<3>(&row);
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
                    engine,
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
    let text_rules = text_rules(conn).await;
    Ok(DbSchema { tables: tables.into_values().collect(), text_rules })
}

/// Reads the server's InnoDB tokeniser settings. Anything unreadable falls back to InnoDB's
/// defaults, except a custom stopword table that cannot be read: then no word is assumed to be a
/// stopword (better to send a hopeless query than to refuse a good one).
async fn text_rules(conn: &mut mysql_async::Conn) -> TextRules {
    let mut rules = TextRules::default();
    let settings: Option<Row> = conn
        .query_first("SELECT @@innodb_ft_min_token_size, @@innodb_ft_enable_stopword, @@innodb_ft_server_stopword_table")
        .await
        .unwrap_or(None);
    let Some(settings) = settings else { return rules };
    let number = |i: usize| match settings.as_ref(i) {
        Some(mysql_async::Value::Int(n)) => usize::try_from(*n).ok(),
        Some(mysql_async::Value::UInt(n)) => usize::try_from(*n).ok(),
        Some(v) => super::rows::as_text(v).and_then(|t| t.parse().ok()),
        None => None,
    };
    if let Some(min) = number(0) {
        rules.min_token = min;
    }
    if number(1) == Some(0) {
        rules.stopwords.clear();
        return rules;
    }
    let custom = settings.as_ref(2).and_then(super::rows::as_text).filter(|t| !t.is_empty());
    let sql = match &custom {
        None => "SELECT value FROM information_schema.INNODB_FT_DEFAULT_STOPWORD".to_string(),
        Some(table) => match table.split_once('/') {
            Some((db, t)) if ident::is_valid(db) && ident::is_valid(t) => {
                format!("SELECT value FROM {}.{}", ident::quote(db), ident::quote(t))
            }
            _ => {
                rules.stopwords.clear();
                return rules;
            }
        },
    };
    match conn.query::<Row, _>(sql).await {
        Ok(words) => {
            rules.stopwords = words.iter().filter_map(|r| r.as_ref(0).and_then(super::rows::as_text)).map(|w| super::rows::fold_case(&w)).collect();
        }
        Err(_) if custom.is_none() => {} // the built-in list it would have shown
        Err(_) => rules.stopwords.clear(),
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_words_and_stopwords_are_not_indexed() {
        let rules = TextRules::default();
        assert!(!rules.indexes("of"));
        assert!(!rules.indexes("the"));
        assert!(!rules.indexes("about"));
        assert!(rules.indexes("boat"));
        assert!(rules.indexes("car"));
        // Characters, not bytes: three letters of a non-Latin script are a token.
        assert!(rules.indexes("дом"));
        assert!(!rules.indexes("дм"));
        let off = TextRules { min_token: 2, stopwords: HashSet::new() };
        assert!(off.indexes("of") && off.indexes("the") && !off.indexes("a"));
    }
}
