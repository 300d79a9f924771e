//! Normalises user input for `MATCH ... AGAINST (? IN BOOLEAN MODE)`.
//!
//! InnoDB's boolean parser rejects plenty of ordinary text with a syntax error: `support@example.com`
//! (`@` is the proximity operator), a trailing `-`, an unbalanced `(` or `"`, `+-term`, `**`.
//! Rather than refuse such queries we rewrite them into the nearest valid query:
//!
//! - words are runs of letters, digits and `_`; every other character separates words
//!   (so `support@example.com` searches for `support`, `example` and `com`);
//! - an operator `+ - ~ < >` applies only when directly followed by a word, `(` or `"`; of a run
//!   of operators the last one counts (`+-term` means `-term`); stray operators are dropped;
//! - `*` counts only directly after a word, once (`lib**` is `lib*`);
//! - `"` phrases are kept when closed; an unclosed quote is dropped and its words kept;
//! - parentheses are balanced: a stray `)` is dropped, an unclosed `(` is closed, empty `()` go;
//! - `@distance` proximity is not supported and is dropped;
//! - groups nest at most [`MAX_DEPTH`] deep; deeper parentheses are ignored (their words stay).
//!
//! The result is empty when nothing searchable is left; callers answer that with an empty result.

use super::rows::fold_case;

/// Deepest group nesting passed on; InnoDB's parser fails on very deep nesting.
pub const MAX_DEPTH: usize = 8;

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Phrase(Vec<String>),
    Op(char),
    Star,
    Open,
    Close,
    /// Whitespace or any other separator: ends an operator's reach.
    Sep,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let rest = &input[i + 1..];
                match rest.find('"') {
                    Some(end) => {
                        let words = words_of(&rest[..end]);
                        if !words.is_empty() {
                            tokens.push(Token::Phrase(words));
                        }
                        // Skip past the closing quote.
                        while let Some(&(j, _)) = chars.peek() {
                            if j > i + end + 1 {
                                break;
                            }
                            chars.next();
                        }
                    }
                    None => {} // unclosed: drop the quote, keep what follows as words
                }
            }
            '+' | '-' | '~' | '<' | '>' => tokens.push(Token::Op(c)),
            '*' => tokens.push(Token::Star),
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            c if is_word_char(c) => {
                let mut word = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if !is_word_char(n) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            // Separator (space, '@', '.', emoji, ...); runs collapse into one.
            _ => {
                if tokens.last() != Some(&Token::Sep) {
                    tokens.push(Token::Sep);
                }
            }
        }
    }
    tokens
}

/// Rewrites `input` into a query InnoDB's boolean parser accepts (see the module docs).
pub fn normalize(input: &str) -> String {
    let tokens = tokenize(input);
    // Output items; a group is emitted only if it ends up containing a term.
    let mut stack: Vec<Vec<String>> = vec![Vec::new()];
    let mut pending_op: Option<char> = None;
    let mut open_ops: Vec<Option<char>> = Vec::new();
    let mut ignored_opens = 0usize;
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        match token {
            Token::Op(op) => pending_op = Some(op),
            Token::Word(w) => {
                let mut item = String::new();
                if let Some(op) = pending_op.take() {
                    item.push(op);
                }
                item.push_str(&w);
                if iter.peek() == Some(&Token::Star) {
                    item.push('*');
                    while iter.peek() == Some(&Token::Star) {
                        iter.next();
                    }
                }
                stack.last_mut().expect("root").push(item);
            }
            Token::Phrase(words) => {
                let op = pending_op.take().map(String::from).unwrap_or_default();
                stack.last_mut().expect("root").push(format!("{op}\"{}\"", words.join(" ")));
            }
            Token::Star | Token::Sep => pending_op = None,
            Token::Open if stack.len() > MAX_DEPTH => {
                pending_op = None;
                ignored_opens += 1;
            }
            Token::Open => {
                open_ops.push(pending_op.take());
                stack.push(Vec::new());
            }
            Token::Close if ignored_opens > 0 => {
                pending_op = None;
                ignored_opens -= 1;
            }
            Token::Close => {
                pending_op = None;
                if stack.len() > 1 {
                    close_group(&mut stack, &mut open_ops);
                }
            }
        }
    }
    while stack.len() > 1 {
        close_group(&mut stack, &mut open_ops);
    }
    stack.pop().expect("root").join(" ")
}

fn close_group(stack: &mut Vec<Vec<String>>, open_ops: &mut Vec<Option<char>>) {
    let items = stack.pop().expect("group");
    let op = open_ops.pop().flatten();
    if !items.is_empty() {
        let op = op.map(String::from).unwrap_or_default();
        stack.last_mut().expect("parent").push(format!("{op}({})", items.join(" ")));
    }
}

/// Every word of a query, lower-cased: the terms of a natural-language query, where `-` and
/// friends are just punctuation.
pub fn words(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = words_of(query).into_iter().map(|w| fold_case(&w)).collect();
    terms.dedup();
    terms
}

/// The plain words of a boolean query, lower-cased, without negated ones: used for snippets.
pub fn positive_terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut negated = false;
    for token in tokenize(query) {
        match token {
            Token::Op(op) => negated = op == '-',
            Token::Word(w) => {
                if !negated {
                    terms.push(fold_case(&w));
                }
                negated = false;
            }
            Token::Phrase(words) => {
                if !negated {
                    terms.extend(words.iter().map(|w| fold_case(w)));
                }
                negated = false;
            }
            _ => negated = false,
        }
    }
    terms.dedup();
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_queries_are_kept() {
        for q in ["+drama -feminist", "apple banana", "+(drama comedy) -boring", "\"lonely astronaut\"", "astro*", "~dull >epic <minor"] {
            assert_eq!(normalize(q), q, "{q}");
        }
    }

    #[test]
    fn parser_breaking_input_is_repaired() {
        let cases = [
            ("contact support@example.com", "contact support example com"),
            ("foo -", "foo"),
            ("(", ""),
            (")", ""),
            ("()", ""),
            ("+-term", "-term"),
            ("**", ""),
            ("lib**", "lib*"),
            ("lib@2", "lib 2"),
            ("\"unclosed phrase", "unclosed phrase"),
            ("(a b", "(a b)"),
            ("a) b", "a b"),
            ("+(", ""),
            ("-(a (b)) c", "-(a (b)) c"),
            ("\"\" x", "x"),
            ("🚀 rocket 🚀", "rocket"),
            ("\"a b\" @3", "\"a b\" 3"),
            ("a + b", "a b"),
            ("lib *", "lib"),
            ("'; DROP TABLE film; --", "DROP TABLE film"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}boat{}", "+(".repeat(300), ")".repeat(300));
        let out = normalize(&deep);
        assert_eq!(out.matches('(').count(), MAX_DEPTH);
        assert_eq!(out.matches('(').count(), out.matches(')').count());
        assert!(out.contains("boat"));
    }

    #[test]
    fn plain_words() {
        assert_eq!(words("-Astronaut +boat"), ["astronaut", "boat"]);
    }

    #[test]
    fn terms_for_snippets_skip_negations() {
        assert_eq!(positive_terms("+Drama -feminist \"Lonely Boat\""), ["drama", "lonely", "boat"]);
    }
}
