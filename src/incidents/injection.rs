//! Recognises search queries that look like SQL injection probes.
//!
//! altus4 never splices user text into SQL (queries are bound parameters), so a probe cannot
//! succeed; recognising one is about the *caller*: someone sending `' OR 1=1 --` is testing for a
//! weakness, which is worth an incident and, by default, a refusal. The patterns aim at
//! SQL syntax that has no business in full-text search input, and avoid plain words ("drop",
//! "union", "select") and boolean-mode syntax (`+term -term "a phrase"`).

use std::sync::OnceLock;

use regex::RegexSet;

/// (name, pattern) of each probe shape; matched against the lower-cased query with SQL comments
/// turned into spaces. Each needs SQL *structure* (a quote closed and followed by a condition or a
/// comment, a clause with its operands, a function call with SQL arguments), not SQL words alone:
/// "select films from 1999", "sleep (the movie)" or "he said 'yes'; she said 'no'" are searches.
const PATTERNS: &[(&str, &str)] = &[
    ("quote-tautology", r#"['"`]\s*\)*\s*(or|and|\|\||&&)\s*\(*\s*(['"`][^'"`]*['"`]|\d+|true\b|false\b)\s*(=|<>|!=|\blike\b|--(\s|$)|#|;|$)"#),
    ("numeric-tautology", r"\b(or|and)\s+\(*\s*\d+\s*(=|<|>|<>|!=)\s*\d+\s*\)*\s*(--(\s|$)|#|;|$)"),
    ("quote-terminator", r#"['"`]\s*\)*\s*(--(\s|$)|#\s*$)"#),
    ("union-select", r"\bunion\s+(all\s+|distinct\s+)?select\s+(\*|\d|null\b|@@|0x|[a-z_.]+\s*(\(|,|\bfrom\b))"),
    (
        "stacked-statement",
        r";\s*(drop\s+(table|database|user)\b|delete\s+from\b|insert\s+into\b|update\s+\S+\s+set\b|alter\s+(table|user|database)\b|truncate\s+table\b|create\s+(table|user|database)\b|grant\s+\w+\s+on\b|rename\s+table\b|shutdown\s*(;|$))",
    ),
    ("subquery", r"\(\s*select\s+(\*|\d|[a-z_]+\s*\(|[a-z_.]+\s*(,|\bfrom\b))"),
    ("select-from", r"\bselect\s+(\*|[a-z_@.]+(\s*,\s*[a-z_@.]+)*)\s+from\s+[a-z_.`]+\s*(\bwhere\b|\blimit\b|;|--|#|$)"),
    ("order-probe", r"\b(order|group)\s+by\s+\d+\s*(--|#)"),
    ("time-delay", r"\b(sleep|pg_sleep)\s*\(\s*\d|\bbenchmark\s*\(\s*\d+\s*,|\bwaitfor\s+delay\s+'"),
    ("file-access", r"\b(load_file\s*\(|into\s+(out|dump)file\b)"),
    ("catalog", r"\b(information_schema|pg_catalog)\s*\.|\bmysql\.user\b|\bsysobjects\b|@@(version|datadir|hostname)"),
    ("error-based", r"\b(extractvalue|updatexml|xp_cmdshell)\s*\("),
    (
        "sql-function",
        r"\b(ascii|ord)\s*\(\s*(substring|substr|mid)\s*\(|\bchar\s*\(\s*(0x[0-9a-f]+|\d+)\s*(,\s*(0x[0-9a-f]+|\d+)\s*)*\)|\b(user|version|database|current_user)\s*\(\s*\)",
    ),
];

fn patterns() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| RegexSet::new(PATTERNS.iter().map(|(_, p)| *p)).expect("probe patterns compile"))
}

/// The name of the first probe shape `query` matches, if any.
pub fn probe_shape(query: &str) -> Option<&'static str> {
    // Full-width forms (`ＵＮＩＯＮ`) read as their ASCII letters.
    let mut text: String = query
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    // `UNION/**/SELECT` is `UNION SELECT` to MariaDB, and it runs what `/*! … */` holds.
    while let Some(start) = text.find("/*") {
        let end = text[start + 2..].find("*/").map_or(text.len(), |e| start + 2 + e + 2);
        let replacement = match text[start..end].strip_prefix("/*!") {
            Some(body) => {
                let body = body.strip_suffix("*/").unwrap_or(body);
                format!(" {} ", body.trim_start_matches(|c: char| c.is_ascii_digit()))
            }
            None => " ".to_string(),
        };
        text.replace_range(start..end, &replacement);
    }
    patterns().matches(&text).iter().next().map(|i| PATTERNS[i].0)
}

#[cfg(test)]
mod tests {
    use super::probe_shape;

    #[test]
    fn classic_probes_are_recognised() {
        for probe in [
            "' OR 1=1 --",
            "admin'--",
            "x' or 'a'='a",
            "\" or \"\"=\"",
            "1 OR 1=1",
            "' UNION SELECT username, password FROM users --",
            "foo UNION/**/ALL/**/SELECT 1",
            "x'; DROP TABLE users; --",
            "1; shutdown",
            "(SELECT COUNT(*) FROM mysql.user)",
            "SELECT * FROM film",
            "' AND SLEEP(5)",
            "1 AND benchmark(10000000,md5(1))",
            "' INTO OUTFILE '/tmp/x",
            "information_schema.tables",
            "@@version",
            "extractvalue(1,concat(0x7e,version()))",
            // Forms an earlier version missed.
            "' UNION/*!50000SELECT*/ 1",
            "'||'1'='1",
            "' or true--",
            "1 or 2>1",
            "1) or (1=1",
            "1 order by 5--",
            "1 and ascii(substring(user(),1,1))>64",
            "char(0x41)",
            "ＵＮＩＯＮ ＳＥＬＥＣＴ 1",
            "' or ''='",
            "'; delete from users where ''='",
        ] {
            assert!(probe_shape(probe).is_some(), "{probe:?} should be recognised");
        }
    }

    #[test]
    fn ordinary_searches_are_not() {
        for query in [
            "drop shipping",
            "union station",
            "select comfort mattress",
            "+drama -feminist",
            "\"exact phrase\" other words",
            "\"red dress\" or blue",
            "rock 'n' roll",
            "o'brien and sons",
            "sleep apnea",
            "database schema design",
            "c++ tutorial",
            "what is 1+1",
            "l'amour; toujours",
            "🎬 movies",
            "",
            // Searches an earlier version refused.
            "select films from 1999",
            "select * from the best films",
            "union select committee",
            "what's new; delete me later",
            "ten movies; update weekly",
            "drop table tennis; delete spam",
            "he said 'yes'; she said 'no'",
            "'Alien' and 'Aliens' > the rest",
            "\"quoted\" or other = fine",
            "1 and 1=1 is math",
            "sleep (the movie)",
            "Sleep(ing) beauty",
            "the (select few)",
            "+(select) -union",
            "information_schema is a cool word",
            "'#1 hits' of 1990",
            "C# 'in depth'",
        ] {
            assert_eq!(probe_shape(query), None, "{query:?} is an ordinary search");
        }
    }
}
