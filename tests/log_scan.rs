//! Runs last (the test script calls it after the rest of the suite, hence `#[ignore]` for a plain
//! `cargo test`): every log line any server wrote during the suite — console logs and the JSON
//! security logs — is checked against every key, password and token the suite handled.

mod common;

use std::collections::BTreeSet;

#[test]
#[ignore = "run by scripts/test.sh after the whole suite"]
fn no_log_line_of_the_whole_suite_holds_a_key_password_or_token() {
    let dir = common::log_dir();
    let secrets: BTreeSet<String> = std::fs::read_to_string(dir.join("secrets.txt"))
        .expect("the suite recorded the secrets it handled")
        .lines()
        .map(String::from)
        .collect();
    // Guard against a scan that proves nothing.
    let keys = secrets.iter().filter(|s| s.starts_with("altus4_sk_")).count();
    assert!(keys >= 20 && secrets.len() >= 40, "too few secrets recorded: {} ({keys} keys)", secrets.len());

    let mut files = 0;
    let mut security_lines = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".log") || name.ends_with(".jsonl")) {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            for secret in &secrets {
                assert!(!line.contains(secret.as_str()), "{name} holds a secret in: {line}");
            }
            // Keys may appear by prefix only: never the 64-hex secret part.
            if let Some(at) = line.find("altus4_sk_") {
                let rest: String = line[at..].chars().skip_while(|c| *c != '_').skip(1).collect();
                let hex_run = rest.split('_').nth(2).map_or(0, |s| s.chars().take_while(char::is_ascii_hexdigit).count());
                assert!(hex_run < 64, "{name} holds what looks like a full key: {line}");
            }
        }
        if name.ends_with(".jsonl") {
            for line in text.lines() {
                let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
                assert!(event["level"] == "WARN" || event["level"] == "ERROR", "{name}: below warn: {line}");
                security_lines += 1;
            }
        }
    }
    assert!(files >= 10, "too few log files scanned: {files}");
    assert!(security_lines > 0, "the security logs recorded nothing");
}
