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
/// turned into spaces.
const PATTERNS: &[(&str, &str)] = &[
    ("quote-tautology", r#"['"`]\s*(or|and|\|\||&&)\s+\S+\s*(=|<|>|\blike\b|\bis\b)"#),
    ("numeric-tautology", r"\b(or|and)\s+(\d+)\s*=\s*(\d+)\b"),
    ("quote-terminator", r#"['"`]\s*(;|--|#|\)\s*(--|#|;))"#),
    ("union-select", r"\bunion\s+(all\s+|distinct\s+)?select\b"),
    ("stacked-statement", r";\s*(drop|delete|insert|update|alter|truncate|create|exec|execute|shutdown|grant|rename)\b"),
    ("subquery", r"\(\s*select\b"),
    ("select-from", r"\bselect\s+(\*|[a-z_@.]+(\s*,\s*[a-z_@.]+)*)\s+from\b"),
    ("time-delay", r"\b(sleep|benchmark|pg_sleep|waitfor\s+delay)\s*[\('\d]"),
    ("file-access", r"\b(load_file\s*\(|into\s+(out|dump)file\b)"),
    ("catalog", r"\b(information_schema|mysql\.user|pg_catalog|sysobjects)\b|@@(version|datadir|hostname)"),
    ("error-based", r"\b(extractvalue|updatexml|xp_cmdshell)\s*\("),
];

fn patterns() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| RegexSet::new(PATTERNS.iter().map(|(_, p)| *p)).expect("probe patterns compile"))
}

/// The name of the first probe shape `query` matches, if any.
pub fn probe_shape(query: &str) -> Option<&'static str> {
    let mut text = query.to_lowercase();
    // `UNION/**/SELECT` is `UNION SELECT` to MariaDB.
    while let Some(start) = text.find("/*") {
        let end = text[start + 2..].find("*/").map_or(text.len(), |e| start + 2 + e + 2);
        text.replace_range(start..end, " ");
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
        ] {
            assert_eq!(probe_shape(query), None, "{query:?} is an ordinary search");
        }
    }
}
