#!/usr/bin/env bash
# Runs the whole altus4 test suite against the real MariaDB on 127.0.0.1:3306.
#
# - starts MariaDB if it is installed but not running;
# - loads the sakila sample from the datasets folder if the `sakila` database is missing, and the
#   PyPI corpus into `altus4_pypi` if it is missing;
# - runs every test of the workspace (unit tests and end-to-end tests of the real binary).
#
# Environment:
#   ALTUS4_DATASETS  datasets folder (default: ../shared/datasets next to the repository)
#   CARGO_TARGET_DIR where cargo builds (default: ./target)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
datasets="${ALTUS4_DATASETS:-$repo/../shared/datasets}"

say() { printf '[test.sh] %s\n' "$*"; }
die() { printf '[test.sh] error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || die "cargo is not installed (https://rustup.rs)"

[ -d "$datasets" ] || die "datasets folder not found: $datasets (set ALTUS4_DATASETS)"
[ -f "$datasets/sakila/sakila-schema.sql" ] && [ -f "$datasets/sakila/sakila-data.sql" ] \
  || die "sakila sample missing under $datasets/sakila"

client="$(command -v mariadb || command -v mysql || true)"
[ -n "$client" ] || die "no mariadb/mysql client installed"
sql() { "$client" --protocol=TCP -h127.0.0.1 -P3306 -uroot "$@"; }

if ! sql -e 'SELECT 1' >/dev/null 2>&1; then
  daemon="$(command -v mariadbd || ls /usr/sbin/mariadbd 2>/dev/null || true)"
  [ -n "$daemon" ] || die "MariaDB is not running on 127.0.0.1:3306 and mariadbd is not installed"
  say "starting MariaDB ($daemon)"
  if command -v start-stop-daemon >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec "$daemon"
  else
    nohup "$daemon" >/dev/null 2>&1 &
  fi
  for _ in $(seq 1 60); do
    sql -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  sql -e 'SELECT 1' >/dev/null 2>&1 || die "MariaDB did not come up on 127.0.0.1:3306"
fi

films="$(sql -N -e 'SELECT COUNT(*) FROM sakila.film_text' 2>/dev/null || echo 0)"
if [ "$films" != "1000" ]; then
  say "loading the sakila sample from $datasets/sakila"
  sql < "$datasets/sakila/sakila-schema.sql"
  sql < "$datasets/sakila/sakila-data.sql"
fi

# The PyPI corpus (842k rows) for the federated-search test and the search benchmark.
"$repo/scripts/load-pypi.sh" "$datasets" "$client" --protocol=TCP -h127.0.0.1 -P3306 -uroot

export ALTUS4_DATASETS="$datasets"
say "running the test suite"
log="$(mktemp)"
# Every server's logs land here; the last test scans them all for leaked secrets.
export ALTUS4_TEST_LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$log" "$ALTUS4_TEST_LOG_DIR"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
say "scanning every log line of the suite for keys, passwords and tokens"
cargo test --workspace --locked --test log_scan -- --ignored 2>&1 | tee -a "$log"
scan=${PIPESTATUS[0]}
[ "$status" -ne 0 ] || status=$scan
set -e
# One closing line for the whole run, summed over every test binary.
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
