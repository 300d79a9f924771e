//! Turning result rows into the response's JSON: values, HTML escaping, snippets.

use std::borrow::Cow;
use std::fmt;

use mysql_async::Value;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Escapes `& < > " '` so a result can be dropped into HTML without becoming markup.
pub fn html_escape(s: &str) -> String {
    escaped(s).into_owned()
}

/// `s` HTML-escaped, borrowed when it holds nothing to escape (most column names and values).
fn escaped(s: &str) -> Cow<'_, str> {
    match s.bytes().position(|b| ENTITY[usize::from(b)] != 0) {
        None => Cow::Borrowed(s),
        Some(first) => {
            let mut out = String::with_capacity(s.len() + 16);
            out.push_str(&s[..first]);
            escape_into(&mut out, &s[first..]);
            Cow::Owned(out)
        }
    }
}

/// For each byte, 1 + the index in `ENTITIES` of its replacement, or 0 when it stays as it is.
const ENTITY: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'&' as usize] = 1;
    table[b'<' as usize] = 2;
    table[b'>' as usize] = 3;
    table[b'"' as usize] = 4;
    table[b'\'' as usize] = 5;
    table
};
const ENTITIES: [&str; 5] = ["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;"];

/// Appends `s` to `out`, HTML-escaped: runs without a special character are copied whole.
fn escape_into(out: &mut String, s: &str) {
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = ENTITY[usize::from(b)];
        if entity != 0 {
            // The five are ASCII, so `i` is always a character boundary.
            out.push_str(&s[plain_from..i]);
            out.push_str(ENTITIES[usize::from(entity - 1)]);
            plain_from = i + 1;
        }
    }
    out.push_str(&s[plain_from..]);
}

/// A column value as the response shows it: text HTML-escaped, anything that is not UTF-8 (BLOB,
/// BIT, GEOMETRY) losslessly as `0x…` hex, dates as ISO-8601 strings, non-finite floats as null.
/// Serialised straight into the response text, without an intermediate `serde_json::Value`.
pub struct Cell<'a>(pub &'a Value);

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::NULL => s.serialize_unit(),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(text) => s.serialize_str(&escaped(text)),
                Err(_) => s.serialize_str(&format!("0x{}", hex::encode(b))),
            },
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) if f.is_finite() => s.serialize_f64(f64::from(*f)),
            Value::Double(d) if d.is_finite() => s.serialize_f64(*d),
            Value::Float(_) | Value::Double(_) => s.serialize_unit(),
            Value::Date(..) | Value::Time(..) => s.collect_str(&Plain(self.0)),
        }
    }
}

/// A value's text, unescaped: what a primary key contributes to a result's id, and how dates
/// and times are written.
struct Plain<'a>(&'a Value);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::NULL => Ok(()),
            // Like `Cell`: text as text, anything else as hex, so distinct keys stay distinct.
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(text) => f.write_str(text),
                Err(_) => write!(f, "0x{}", hex::encode(b)),
            },
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Double(x) => write!(f, "{x}"),
            Value::Date(y, mo, d, h, mi, s, us) => {
                write!(f, "{y:04}-{mo:02}-{d:02}")?;
                if (*h, *mi, *s, *us) != (0, 0, 0, 0) {
                    write!(f, "T{h:02}:{mi:02}:{s:02}")?;
                }
                if *us != 0 {
                    write!(f, ".{us:06}")?;
                }
                Ok(())
            }
            Value::Time(neg, days, h, mi, s, us) => {
                let sign = if *neg { "-" } else { "" };
                let hours = u32::from(*h) + days * 24;
                write!(f, "{sign}{hours:02}:{mi:02}:{s:02}")?;
                if *us != 0 {
                    write!(f, ".{us:06}")?;
                }
                Ok(())
            }
        }
    }
}

/// The raw text of a value (not escaped), read lossily: for snippets and for metadata that a
/// server may send in any encoding.
pub fn as_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
        _ => None,
    }
}

/// `s` case-folded as matching compares it, one character per character (unlike
/// `to_lowercase`, which turns `İ` into two): query terms are folded with this.
pub fn fold_case(s: &str) -> String {
    s.chars().map(fold).collect()
}

/// A character as matching compares it: the first character of its lower-case form, so that
/// folded text keeps one character per original character.
fn fold(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// A search's terms prepared once for matching every result: folded, empty ones dropped.
pub struct Terms(Vec<Term>);

struct Term {
    chars: Vec<char>,
    /// The folded term as a string when it is all ASCII: ASCII text is searched for it bytewise.
    ascii: Option<String>,
}

impl Terms {
    pub fn new(terms: &[String]) -> Self {
        Self(
            terms
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| {
                    let chars: Vec<char> = t.chars().map(fold).collect();
                    let ascii = chars
                        .iter()
                        .all(char::is_ascii)
                        .then(|| chars.iter().collect());
                    Term { chars, ascii }
                })
                .collect(),
        )
    }
}

/// Text prepared for case-insensitive matching by character position, so that matches map back
/// to slices of the original. ASCII text (most of it) is lower-cased once and matched on bytes.
struct Folded<'a> {
    text: &'a str,
    /// ASCII text lower-cased (positions are byte offsets); empty otherwise.
    lower: String,
    /// Non-ASCII text: each character's byte offset and folded form; empty otherwise.
    offsets: Vec<usize>,
    chars: Vec<char>,
}

impl<'a> Folded<'a> {
    fn new(text: &'a str) -> Self {
        if text.is_ascii() {
            Self {
                text,
                lower: text.to_ascii_lowercase(),
                offsets: vec![],
                chars: vec![],
            }
        } else {
            let (offsets, chars) = text.char_indices().map(|(i, c)| (i, fold(c))).unzip();
            Self {
                text,
                lower: String::new(),
                offsets,
                chars,
            }
        }
    }

    fn is_ascii(&self) -> bool {
        self.offsets.is_empty()
    }

    fn len(&self) -> usize {
        if self.is_ascii() {
            self.text.len()
        } else {
            self.chars.len()
        }
    }

    /// The folded character at position `k < len`.
    fn at(&self, k: usize) -> char {
        if self.is_ascii() {
            char::from(self.lower.as_bytes()[k])
        } else {
            self.chars[k]
        }
    }

    /// The byte offset of character `k` (the end of the text for `k == len`).
    fn byte(&self, k: usize) -> usize {
        if self.is_ascii() {
            k
        } else {
            self.offsets.get(k).copied().unwrap_or(self.text.len())
        }
    }

    /// The original text of characters `from..to`.
    fn slice(&self, from: usize, to: usize) -> &'a str {
        &self.text[self.byte(from)..self.byte(to)]
    }

    /// The first term occurrence starting at or after `from` and ending by `end`, as (position,
    /// length); the longest term where several start at the same place.
    fn next_match(&self, from: usize, end: usize, terms: &Terms) -> Option<(usize, usize)> {
        if self.is_ascii() {
            let window = self.lower.get(from..end)?;
            // A term that folds to something non-ASCII cannot occur in ASCII text.
            let found = terms.0.iter().filter_map(|t| {
                t.ascii
                    .as_deref()
                    .and_then(|a| find(window, a))
                    .map(|p| (from + p, t.chars.len()))
            });
            return found.min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        }
        let (at, mut n) =
            (from..end).find_map(|at| self.match_at(at, end, terms).map(|n| (at, n)))?;
        // A mark keeps combining marks with the letter they belong to.
        while at + n < end && is_combining(self.chars[at + n]) {
            n += 1;
        }
        Some((at, n))
    }

    /// The length of the longest term occurring at character `at` and ending by `end`.
    fn match_at(&self, at: usize, end: usize, terms: &Terms) -> Option<usize> {
        let first = self.at(at);
        terms
            .0
            .iter()
            .map(|t| &t.chars)
            .filter(|t| {
                t[0] == first
                    && at + t.len() <= end
                    && t.iter()
                        .enumerate()
                        .skip(1)
                        .all(|(j, c)| self.at(at + j) == *c)
            })
            .map(Vec::len)
            .max()
    }
}

/// Combining diacritical marks (the common blocks): they belong to the character before them.
fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// Where `needle` first occurs in `hay`. Result texts and terms are short, so scanning for the
/// first byte beats setting up `str::find`'s two-way searcher on every call.
fn find(hay: &str, needle: &str) -> Option<usize> {
    let (hay, (&first, rest)) = (hay.as_bytes(), needle.as_bytes().split_first()?);
    let mut from = 0;
    while let Some(p) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + p;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// What a result shows of one text column: a window of about `max_chars` characters around
/// the first term, HTML-escaped, and the same window with every term in `<mark>`.
pub struct Excerpt {
    pub snippet: String,
    pub highlight: String,
}

/// The excerpt of `text` around the first occurrence of any term (case-insensitive), with `…`
/// where it was cut; `None` when no term occurs. The only markup in a highlight is ours.
pub fn excerpt(text: &str, terms: &Terms, max_chars: usize) -> Option<Excerpt> {
    let folded = Folded::new(text);
    let len = folded.len();
    let (hit, _) = folded.next_match(0, len, terms)?;
    let (start, end) = window(&folded, hit, max_chars);
    let (open, close) = (
        if start > 0 { "…" } else { "" },
        if end < len { "…" } else { "" },
    );
    let body = folded.slice(start, end);
    let mut snippet = String::with_capacity(body.len() + 8);
    snippet.push_str(open);
    escape_into(&mut snippet, body);
    snippet.push_str(close);

    let mut highlight = String::with_capacity(snippet.len() + 32);
    highlight.push_str(open);
    let (mut plain_from, mut i) = (start, hit);
    while let Some((at, n)) = folded.next_match(i, end, terms) {
        escape_into(&mut highlight, folded.slice(plain_from, at));
        highlight.push_str("<mark>");
        escape_into(&mut highlight, folded.slice(at, at + n));
        highlight.push_str("</mark>");
        i = at + n;
        plain_from = i;
    }
    escape_into(&mut highlight, folded.slice(plain_from, end));
    highlight.push_str(close);
    Some(Excerpt { snippet, highlight })
}

/// The start of `text`, cut like a snippet and HTML-escaped: used when no term is found
/// verbatim.
pub fn leading(text: &str, max_chars: usize) -> String {
    let folded = Folded::new(text);
    let (start, end) = window(&folded, 0, max_chars);
    let mut out = html_escape(folded.slice(start, end));
    if end < folded.len() {
        out.push('…');
    }
    out
}

/// The character range `start..end` of a window of about `max_chars` around `hit`.
fn window(text: &Folded<'_>, hit: usize, max_chars: usize) -> (usize, usize) {
    // Folding keeps whitespace as it is, so the folded characters tell where words end.
    let blank = |k: usize| text.at(k).is_whitespace();
    let len = text.len();
    let lead = max_chars / 4;
    let mut start = hit.saturating_sub(lead);
    // Cut at a word boundary when one is near the edge; never past the hit, never shrinking
    // the window by more than `SNAP` characters on either side.
    const SNAP: usize = 20;
    if start > 0 {
        if let Some(p) = (start..hit).take(SNAP).position(blank) {
            start += p + 1;
        }
    }
    let mut end = (start + max_chars).min(len);
    if end < len {
        let from = hit.max(start).max(end.saturating_sub(SNAP));
        if let Some(p) = (from..end).rposition(blank) {
            end = from + p;
        }
    }
    (start, end)
}

/// A row as the `content` object of a result: column names (escaped) to cells, in column order.
pub struct Content<'a> {
    pub names: &'a [String],
    pub values: &'a [Value],
}

impl<'a> Content<'a> {
    /// The value of `column`, if the row has it.
    pub fn get(&self, column: &str) -> Option<&'a Value> {
        self.names.iter().position(|n| n == column).map(|i| &self.values[i])
    }
}

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for (name, value) in self.names.iter().zip(self.values) {
            map.serialize_entry(&*escaped(name), &Cell(value))?;
        }
        map.end()
    }
}

/// One search result in the reference's shape, borrowed from the row it is rendered from.
/// Serialising it computes the snippets and highlights and writes the result's JSON in one pass.
pub struct HitView<'a> {
    pub database: &'a str,
    pub database_name: &'a str,
    pub table: &'a str,
    pub score: f64,
    pub row: Content<'a>,
    /// Primary key columns: the result's id is `table:value,value`; without one, `table#position`.
    pub primary_key: &'a [String],
    pub position: usize,
    /// The FULLTEXT-indexed columns, in index order: where snippets and highlights come from.
    pub indexed: &'a [String],
    pub terms: &'a Terms,
    pub snippet_chars: usize,
}

impl HitView<'_> {
    fn value_of(&self, column: &str) -> Option<&Value> {
        self.row.get(column)
    }

    fn id(&self) -> String {
        if self.primary_key.is_empty() {
            return format!("{}#{}", self.table, self.position);
        }
        let mut id = format!("{}:", self.table);
        for (i, column) in self.primary_key.iter().enumerate() {
            if i > 0 {
                id.push(',');
            }
            if let Some(value) = self.value_of(column) {
                use fmt::Write;
                let _ = write!(id, "{}", Plain(value));
            }
        }
        id
    }
}

impl Serialize for HitView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // (column, text) of the indexed columns, in index order.
        let texts: Vec<(&str, Cow<'_, str>)> = self
            .indexed
            .iter()
            .filter_map(|c| self.value_of(c).and_then(as_text).map(|t| (c.as_str(), t)))
            .collect();
        let excerpts: Vec<(&str, Excerpt)> = texts
            .iter()
            .filter_map(|(c, t)| excerpt(t, self.terms, self.snippet_chars).map(|e| (*c, e)))
            .collect();
        let snippet = match excerpts.first() {
            Some((_, e)) => Cow::Borrowed(e.snippet.as_str()),
            None => Cow::Owned(
                texts
                    .iter()
                    .find(|(_, t)| !t.is_empty())
                    .map(|(_, t)| leading(t, self.snippet_chars))
                    .unwrap_or_default(),
            ),
        };
        let matched: Vec<Cow<'_, str>> = excerpts.iter().map(|(c, _)| escaped(c)).collect();
        // The reference's `highlights`: each matching column's snippet, terms in <mark>.
        let highlights: Vec<&str> = excerpts.iter().map(|(_, e)| e.highlight.as_str()).collect();
        // The row appears twice; it is escaped and written once. (Raw JSON text is copied as it
        // is by serde_json, the only serializer results go to.)
        let row = serde_json::value::to_raw_value(&self.row).map_err(serde::ser::Error::custom)?;
        let mut map = s.serialize_map(Some(10))?;
        map.serialize_entry("id", &*escaped(&self.id()))?;
        map.serialize_entry("database", self.database)?;
        map.serialize_entry("databaseName", &*escaped(self.database_name))?;
        map.serialize_entry("table", &*escaped(self.table))?;
        map.serialize_entry("relevanceScore", &self.score)?;
        // `content` is the reference's name for the row; the original service sent it as
        // `data` with `matchedColumns`, so both are served.
        map.serialize_entry("content", &row)?;
        map.serialize_entry("data", &row)?;
        map.serialize_entry("matchedColumns", &matched)?;
        map.serialize_entry("highlights", &highlights)?;
        map.serialize_entry("snippet", &snippet)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    #[test]
    fn escaping_covers_the_five_characters() {
        assert_eq!(
            html_escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/a&gt;"
        );
    }

    #[test]
    fn values() {
        let json = |v: Value| serde_json::to_value(Cell(&v)).unwrap();
        assert_eq!(json(Value::Bytes(b"<b>".to_vec())), Json::from("&lt;b&gt;"));
        assert_eq!(json(Value::Int(-3)), Json::from(-3));
        assert_eq!(json(Value::UInt(u64::MAX)), Json::from(u64::MAX));
        assert_eq!(
            json(Value::Date(2006, 2, 15, 5, 3, 42, 0)),
            Json::from("2006-02-15T05:03:42")
        );
        assert_eq!(
            json(Value::Date(2006, 2, 15, 0, 0, 0, 0)),
            Json::from("2006-02-15")
        );
        assert_eq!(
            json(Value::Date(2006, 2, 15, 0, 0, 0, 7)),
            Json::from("2006-02-15T00:00:00.000007")
        );
        assert_eq!(
            json(Value::Time(true, 1, 2, 3, 4, 0)),
            Json::from("-26:03:04")
        );
        assert_eq!(json(Value::Double(f64::NAN)), Json::Null);
        assert_eq!(json(Value::Float(f32::INFINITY)), Json::Null);
        assert_eq!(json(Value::NULL), Json::Null);
        assert_eq!(
            json(Value::Bytes(vec![0xff, 0x00, 0x41])),
            Json::from("0xff0041")
        );
    }

    #[test]
    fn a_hit_is_written_in_the_reference_shape_and_escaped_once() {
        let names: Vec<String> = ["code", "<b>title", "body"].map(String::from).to_vec();
        let values = vec![
            Value::Bytes(b"A&B".to_vec()),
            Value::Bytes(b"Tom & <Jerry>".to_vec()),
            Value::NULL,
        ];
        let (pk, indexed) = (
            vec!["code".to_string()],
            vec!["<b>title".to_string(), "body".to_string()],
        );
        let terms = terms(&["jerry"]);
        let hit = HitView {
            database: "db-1",
            database_name: "films & co",
            table: "t",
            score: 1.5,
            row: Content {
                names: &names,
                values: &values,
            },
            primary_key: &pk,
            position: 3,
            indexed: &indexed,
            terms: &terms,
            snippet_chars: 160,
        };
        let json = serde_json::to_value(&hit).unwrap();
        assert_eq!(
            json["id"], "t:A&amp;B",
            "the key is escaped once, not twice"
        );
        assert_eq!(json["databaseName"], "films &amp; co");
        assert_eq!(json["relevanceScore"], 1.5);
        assert_eq!(
            json["content"],
            serde_json::json!({"code": "A&amp;B", "&lt;b&gt;title": "Tom &amp; &lt;Jerry&gt;", "body": null})
        );
        assert_eq!(json["data"], json["content"]);
        assert_eq!(
            json["matchedColumns"],
            serde_json::json!(["&lt;b&gt;title"])
        );
        assert_eq!(
            json["highlights"],
            serde_json::json!(["Tom &amp; &lt;<mark>Jerry</mark>&gt;"])
        );
        assert_eq!(json["snippet"], "Tom &amp; &lt;Jerry&gt;");

        let no_key = HitView {
            primary_key: &[],
            terms: &terms_none(),
            ..hit
        };
        let json = serde_json::to_value(&no_key).unwrap();
        assert_eq!(json["id"], "t#3");
        assert_eq!(json["matchedColumns"], serde_json::json!([]));
        assert_eq!(
            json["snippet"], "Tom &amp; &lt;Jerry&gt;",
            "no term found: the leading text"
        );
    }

    fn terms_none() -> Terms {
        terms(&["absent"])
    }

    fn terms(words: &[&str]) -> Terms {
        Terms::new(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn highlights_mark_terms_and_escape_the_rest() {
        let e = excerpt("A <b>Boat</b> & a boating boat", &terms(&["boat"]), 160).unwrap();
        assert_eq!(
            e.highlight,
            "A &lt;b&gt;<mark>Boat</mark>&lt;/b&gt; &amp; a <mark>boat</mark>ing <mark>boat</mark>"
        );
        assert_eq!(e.snippet, "A &lt;b&gt;Boat&lt;/b&gt; &amp; a boating boat");
        assert!(excerpt("nothing here", &terms(&["zebra"]), 160).is_none());
        // The longest term wins where two start at the same place; case folds beyond ASCII.
        let e = excerpt("ÜBER Überall", &terms(&["über", "überall"]), 160).unwrap();
        assert_eq!(e.highlight, "<mark>ÜBER</mark> <mark>Überall</mark>");
        let e = excerpt(
            "Asyncio ASYNC driver-async",
            &terms(&["async", "asyncio", "driver"]),
            160,
        )
        .unwrap();
        assert_eq!(
            e.highlight,
            "<mark>Asyncio</mark> <mark>ASYNC</mark> <mark>driver</mark>-<mark>async</mark>"
        );
        // A term that folds to ASCII (the Kelvin sign to `k`) matches ASCII text; one that
        // stays non-ASCII cannot.
        assert_eq!(
            excerpt("OK", &terms(&["\u{212A}"]), 160).unwrap().highlight,
            "O<mark>K</mark>"
        );
        assert!(excerpt("uber", &terms(&["über"]), 160).is_none());
    }

    #[test]
    fn terms_fold_like_the_text_they_are_matched_against() {
        // `to_lowercase` makes `İ` two characters; folding keeps one, on both sides.
        let folded = fold_case("İstanbul");
        assert_eq!(folded.chars().count(), 8);
        let e = excerpt("Boat to İSTANBUL", &Terms::new(&[folded]), 160).unwrap();
        assert_eq!(e.highlight, "Boat to <mark>İSTANBUL</mark>");
        // A combining mark stays with its letter inside the mark, and a mark never passes the
        // end of the window.
        assert_eq!(
            excerpt("a boat\u{303} here", &terms(&["boat"]), 160)
                .unwrap()
                .highlight,
            "a <mark>boat\u{303}</mark> here"
        );
        assert_eq!(
            excerpt("é boat\u{303}", &terms(&["boat"]), 160)
                .unwrap()
                .highlight,
            "é <mark>boat\u{303}</mark>"
        );
    }

    #[test]
    fn binary_keys_give_distinct_ids() {
        let names = vec!["k".to_string()];
        let ids: Vec<String> = [vec![0xff, 0x3c], vec![0xfe, 0x3c]]
            .into_iter()
            .map(|key| {
                let values = vec![Value::Bytes(key)];
                let t = terms_none();
                let hit = HitView {
                    database: "d",
                    database_name: "d",
                    table: "t",
                    score: 1.0,
                    row: Content {
                        names: &names,
                        values: &values,
                    },
                    primary_key: &names,
                    position: 0,
                    indexed: &[],
                    terms: &t,
                    snippet_chars: 10,
                };
                serde_json::to_value(&hit).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["t:0xff3c", "t:0xfe3c"]);
    }

    #[test]
    fn ascii_and_non_ascii_text_are_marked_alike() {
        let t = terms(&["boat", "a"]);
        for (ascii, other) in [
            ("a boat, a Boat & aboat", "a boat, a Boat & aboat ü"),
            ("Boatboat", "Boatboat é"),
        ] {
            let (x, y) = (
                excerpt(ascii, &t, 160).unwrap(),
                excerpt(other, &t, 160).unwrap(),
            );
            assert_eq!(
                format!("{} ü", x.highlight),
                y.highlight.replace(" é", " ü"),
                "{ascii}"
            );
        }
    }

    #[test]
    fn snippets_center_on_the_first_term() {
        let text = "A Fast-Paced Drama of a Astronaut And a Boat who must Find a Dog in Nigeria";
        let e = excerpt(text, &terms(&["astronaut"]), 20).unwrap();
        let s = e.snippet;
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("Astronaut"), "{s}");
        // Whole words only at the cuts.
        assert!(
            s.starts_with("…a ") || s.starts_with("…of ") || s.starts_with("…Astronaut"),
            "{s}"
        );
        assert!(!s.trim_end_matches('…').ends_with(' '), "{s}");
        // The highlight is the same window; a term cut off at its edge is not marked.
        assert_eq!(
            e.highlight,
            s.replace("Astronaut", "<mark>Astronaut</mark>")
        );
        assert_eq!(
            excerpt("short text", &terms(&["short"]), 160)
                .unwrap()
                .snippet,
            "short text"
        );
        assert!(excerpt(text, &terms(&["zebra"]), 20).is_none());
        assert_eq!(leading("ünïcode text", 3), "ünï…");
        assert_eq!(leading("<b> & more", 3), "&lt;b&gt;…");
        // A long unbroken run next to the hit does not shrink the snippet to the word.
        let run = format!("zebra {}", "x".repeat(300));
        assert!(
            excerpt(&run, &terms(&["zebra"]), 160)
                .unwrap()
                .snippet
                .chars()
                .count()
                > 100
        );
    }
}
