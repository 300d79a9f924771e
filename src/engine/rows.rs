//! Turning result rows into the response's JSON: values, HTML escaping, snippets.

use mysql_async::Value;
use serde_json::{Map, Number, Value as Json};

/// Escapes `& < > " '` so a result can be dropped into HTML without becoming markup.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
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

/// A window of about `max_chars` characters of `text` around the first occurrence of any of
/// `terms` (case-insensitive), with `…` where it was cut; `None` when no term occurs.
pub fn snippet(text: &str, terms: &[String], max_chars: usize) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let hit = terms
        .iter()
        .filter(|t| !t.is_empty())
        .filter_map(|t| {
            let needle: Vec<char> = t.chars().collect();
            lower.windows(needle.len()).position(|w| w == needle.as_slice())
        })
        .min()?;
    Some(window(&chars, hit, max_chars))
}

/// HTML-escapes `text` and wraps every occurrence of a term (case-insensitive) in `<mark>`:
/// the only markup in a highlight is ours.
pub fn highlight(text: &str, terms: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let needles: Vec<Vec<char>> = terms.iter().filter(|t| !t.is_empty()).map(|t| t.chars().collect()).collect();
    let mut out = String::new();
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        let hit = needles.iter().filter(|n| lower[i..].starts_with(n)).map(|n| n.len()).max();
        match hit {
            Some(len) => {
                out.push_str(&html_escape(&plain));
                plain.clear();
                let word: String = chars[i..i + len].iter().collect();
                out.push_str("<mark>");
                out.push_str(&html_escape(&word));
                out.push_str("</mark>");
                i += len;
            }
            None => {
                plain.push(chars[i]);
                i += 1;
            }
        }
    }
    out.push_str(&html_escape(&plain));
    out
}

/// The start of `text`, cut like a snippet: used when no term is found verbatim.
pub fn leading(text: &str, max_chars: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    window(&chars, 0, max_chars)
}

fn window(chars: &[char], hit: usize, max_chars: usize) -> String {
    let lead = max_chars / 4;
    let mut start = hit.saturating_sub(lead);
    // Cut at a word boundary when one is near the edge; never past the hit, never shrinking
    // the window by more than `SNAP` characters on either side.
    const SNAP: usize = 20;
    if start > 0 {
        if let Some(p) = chars[start..hit].iter().take(SNAP).position(|c| c.is_whitespace()) {
            start += p + 1;
        }
    }
    let mut end = (start + max_chars).min(chars.len());
    if end < chars.len() {
        let from = hit.max(start).max(end.saturating_sub(SNAP));
        if let Some(p) = chars[from..end].iter().rposition(|c| c.is_whitespace()) {
            end = from + p;
        }
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
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

    #[test]
    fn highlights_mark_terms_and_escape_the_rest() {
        assert_eq!(
            highlight("A <b>Boat</b> & a boating boat", &["boat".into()]),
            "A &lt;b&gt;<mark>Boat</mark>&lt;/b&gt; &amp; a <mark>boat</mark>ing <mark>boat</mark>"
        );
        assert_eq!(highlight("nothing here", &["zebra".into()]), "nothing here");
    }

    #[test]
    fn snippets_center_on_the_first_term() {
        let text = "A Fast-Paced Drama of a Astronaut And a Boat who must Find a Dog in Nigeria";
        let s = snippet(text, &["astronaut".into()], 20).unwrap();
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("Astronaut"), "{s}");
        // Whole words only at the cuts.
        assert!(s.starts_with("…a ") || s.starts_with("…of ") || s.starts_with("…Astronaut"), "{s}");
        assert!(!s.trim_end_matches('…').ends_with(' '), "{s}");
        assert_eq!(snippet("short text", &["short".into()], 160).unwrap(), "short text");
        assert!(snippet(text, &["zebra".into()], 20).is_none());
        assert_eq!(leading("ünïcode text", 3), "ünï…");
        // A long unbroken run next to the hit does not shrink the snippet to the word.
        let run = format!("zebra {}", "x".repeat(300));
        assert!(snippet(&run, &["zebra".into()], 160).unwrap().chars().count() > 100);
    }
}
