//! Turning result rows into the response's JSON: values, HTML escaping, snippets.

use mysql_async::Value;
use serde_json::{Map, Number, Value as Json};

/// Escapes `& < > " '` so a result can be dropped into HTML without becoming markup.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Appends `s` to `out`, HTML-escaped: runs without a special character are copied whole.
fn escape_into(out: &mut String, s: &str) {
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            _ => continue,
        };
        // The five are ASCII, so `i` is always a character boundary.
        out.push_str(&s[plain_from..i]);
        out.push_str(entity);
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
}

/// A column value as JSON; strings are HTML-escaped, dates are ISO-8601 strings.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::NULL => Json::Null,
        // Text as text; anything that is not UTF-8 (BLOB, BIT, GEOMETRY) losslessly as hex.
        Value::Bytes(b) => Json::String(match std::str::from_utf8(b) {
            Ok(text) => html_escape(text),
            Err(_) => format!("0x{}", hex::encode(b)),
        }),
        Value::Int(i) => Json::Number((*i).into()),
        Value::UInt(u) => Json::Number((*u).into()),
        Value::Float(f) => Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number),
        Value::Double(d) => Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::Date(y, mo, d, h, mi, s, us) => Json::String(if (*h, *mi, *s, *us) == (0, 0, 0, 0) {
            format!("{y:04}-{mo:02}-{d:02}")
        } else if *us == 0 {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}")
        }),
        Value::Time(neg, days, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            let hours = u32::from(*h) + days * 24;
            Json::String(if *us == 0 {
                format!("{sign}{hours:02}:{mi:02}:{s:02}")
            } else {
                format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
            })
        }
    }
}

/// The raw text of a value (not escaped), read lossily: for snippets and for metadata that a
/// server may send in any encoding.
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
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
pub struct Terms(Vec<Vec<char>>);

impl Terms {
    pub fn new(terms: &[String]) -> Self {
        Self(terms.iter().filter(|t| !t.is_empty()).map(|t| t.chars().map(fold).collect()).collect())
    }
}

/// Text prepared for case-insensitive matching by character position, so that matches map back
/// to slices of the original. ASCII text (most of it) is matched on its bytes directly.
struct Folded<'a> {
    text: &'a str,
    /// Empty for ASCII text; otherwise each character's byte offset and folded form.
    offsets: Vec<usize>,
    chars: Vec<char>,
}

impl<'a> Folded<'a> {
    fn new(text: &'a str) -> Self {
        let (offsets, chars) = if text.is_ascii() {
            (vec![], vec![])
        } else {
            text.char_indices().map(|(i, c)| (i, fold(c))).unzip()
        };
        Self { text, offsets, chars }
    }

    fn is_ascii(&self) -> bool {
        self.offsets.is_empty()
    }

    fn len(&self) -> usize {
        if self.is_ascii() { self.text.len() } else { self.chars.len() }
    }

    /// The folded character at position `k < len`.
    fn at(&self, k: usize) -> char {
        if self.is_ascii() { char::from(self.text.as_bytes()[k].to_ascii_lowercase()) } else { self.chars[k] }
    }

    /// The byte offset of character `k` (the end of the text for `k == len`).
    fn byte(&self, k: usize) -> usize {
        if self.is_ascii() { k } else { self.offsets.get(k).copied().unwrap_or(self.text.len()) }
    }

    /// The original text of characters `from..to`.
    fn slice(&self, from: usize, to: usize) -> &'a str {
        &self.text[self.byte(from)..self.byte(to)]
    }

    /// The length of the longest term occurring at character `at` and ending by `end`.
    fn match_at(&self, at: usize, end: usize, terms: &Terms) -> Option<usize> {
        let first = self.at(at);
        terms
            .0
            .iter()
            .filter(|t| t[0] == first && at + t.len() <= end && t.iter().enumerate().skip(1).all(|(j, c)| self.at(at + j) == *c))
            .map(Vec::len)
            .max()
    }
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
    let hit = (0..len).find(|&i| folded.match_at(i, len, terms).is_some())?;
    let (start, end) = window(&folded, hit, max_chars);
    let (open, close) = (if start > 0 { "…" } else { "" }, if end < len { "…" } else { "" });
    let body = folded.slice(start, end);
    let mut snippet = String::with_capacity(body.len() + 8);
    snippet.push_str(open);
    escape_into(&mut snippet, body);
    snippet.push_str(close);

    let mut highlight = String::with_capacity(snippet.len() + 32);
    highlight.push_str(open);
    let (mut plain_from, mut i) = (start, hit);
    while i < end {
        let Some(n) = folded.match_at(i, end, terms) else {
            i += 1;
            continue;
        };
        escape_into(&mut highlight, folded.slice(plain_from, i));
        highlight.push_str("<mark>");
        escape_into(&mut highlight, folded.slice(i, i + n));
        highlight.push_str("</mark>");
        i += n;
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

/// Builds the `content` object of a result from column names and values.
pub fn content(names: &[String], values: &[Value]) -> Map<String, Json> {
    names.iter().zip(values).map(|(n, v)| (html_escape(n), to_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_the_five_characters() {
        assert_eq!(html_escape(r#"<a href="x">Tom & Jerry's</a>"#), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/a&gt;");
    }

    #[test]
    fn values() {
        assert_eq!(to_json(&Value::Bytes(b"<b>".to_vec())), Json::String("&lt;b&gt;".into()));
        assert_eq!(to_json(&Value::Int(-3)), Json::from(-3));
        assert_eq!(to_json(&Value::Date(2006, 2, 15, 5, 3, 42, 0)), Json::from("2006-02-15T05:03:42"));
        assert_eq!(to_json(&Value::Date(2006, 2, 15, 0, 0, 0, 0)), Json::from("2006-02-15"));
        assert_eq!(to_json(&Value::Time(true, 1, 2, 3, 4, 0)), Json::from("-26:03:04"));
        assert_eq!(to_json(&Value::Double(f64::NAN)), Json::Null);
        assert_eq!(to_json(&Value::Bytes(vec![0xff, 0x00, 0x41])), Json::from("0xff0041"));
    }

    fn terms(words: &[&str]) -> Terms {
        Terms::new(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn highlights_mark_terms_and_escape_the_rest() {
        let e = excerpt("A <b>Boat</b> & a boating boat", &terms(&["boat"]), 160).unwrap();
        assert_eq!(e.highlight, "A &lt;b&gt;<mark>Boat</mark>&lt;/b&gt; &amp; a <mark>boat</mark>ing <mark>boat</mark>");
        assert_eq!(e.snippet, "A &lt;b&gt;Boat&lt;/b&gt; &amp; a boating boat");
        assert!(excerpt("nothing here", &terms(&["zebra"]), 160).is_none());
        // The longest term wins where two start at the same place; case folds beyond ASCII.
        let e = excerpt("ÜBER Überall", &terms(&["über", "überall"]), 160).unwrap();
        assert_eq!(e.highlight, "<mark>ÜBER</mark> <mark>Überall</mark>");
    }

    #[test]
    fn snippets_center_on_the_first_term() {
        let text = "A Fast-Paced Drama of a Astronaut And a Boat who must Find a Dog in Nigeria";
        let e = excerpt(text, &terms(&["astronaut"]), 20).unwrap();
        let s = e.snippet;
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("Astronaut"), "{s}");
        // Whole words only at the cuts.
        assert!(s.starts_with("…a ") || s.starts_with("…of ") || s.starts_with("…Astronaut"), "{s}");
        assert!(!s.trim_end_matches('…').ends_with(' '), "{s}");
        // The highlight is the same window; a term cut off at its edge is not marked.
        assert_eq!(e.highlight, s.replace("Astronaut", "<mark>Astronaut</mark>"));
        assert_eq!(excerpt("short text", &terms(&["short"]), 160).unwrap().snippet, "short text");
        assert!(excerpt(text, &terms(&["zebra"]), 20).is_none());
        assert_eq!(leading("ünïcode text", 3), "ünï…");
        assert_eq!(leading("<b> & more", 3), "&lt;b&gt;…");
        // A long unbroken run next to the hit does not shrink the snippet to the word.
        let run = format!("zebra {}", "x".repeat(300));
        assert!(excerpt(&run, &terms(&["zebra"]), 160).unwrap().snippet.chars().count() > 100);
    }
}
