//! SQL identifiers. Only names discovered from `information_schema` (or matched exactly against
//! them) are ever put into SQL, and always through [`quote`].

/// Longest identifier MySQL and MariaDB accept.
pub const MAX_LEN: usize = 64;

/// Whether `name` can be a MySQL/MariaDB identifier at all: 1..=64 characters, no NUL, and no
/// trailing space (the server rejects those).
pub fn is_valid(name: &str) -> bool {
    let len = name.chars().count();
    (1..=MAX_LEN).contains(&len) && !name.contains('\0') && !name.ends_with(' ')
}

/// Backtick-quotes an identifier, doubling embedded backticks.
pub fn quote(name: &str) -> String {
    debug_assert!(is_valid(name));
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_neutralises_backticks() {
        assert_eq!(quote("film_text"), "`film_text`");
        assert_eq!(quote("a`b"), "`a``b`");
        assert_eq!(quote("x`; DROP TABLE t; --"), "`x``; DROP TABLE t; --`");
    }

    #[test]
    fn validity() {
        assert!(is_valid("film"));
        assert!(is_valid(&"é".repeat(64)));
        assert!(!is_valid(""));
        assert!(!is_valid(&"a".repeat(65)));
        assert!(!is_valid("a\0b"));
        assert!(!is_valid("trailing "));
    }
}
