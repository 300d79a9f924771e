#!/usr/bin/env bash
# Loads ../shared/datasets/pypi/pypi-summaries.tsv.gz (842k package name / summary pairs) into
# MariaDB as `altus4_pypi`.`packages` with a FULLTEXT index on (name, summary), unless it is
# already there with every row. Used by the test script and the search benchmark.
#
# Usage: scripts/load-pypi.sh <datasets dir> <mariadb client command...>
set -euo pipefail
datasets="$1"; shift
client=("$@")
tsv_gz="$datasets/pypi/pypi-summaries.tsv.gz"
[ -f "$tsv_gz" ] || { echo "[load-pypi] missing $tsv_gz" >&2; exit 1; }

expected=$(zcat "$tsv_gz" | wc -l)
have=$("${client[@]}" -N -e 'SELECT COUNT(*) FROM altus4_pypi.packages' 2>/dev/null || echo 0)
if [ "$have" = "$expected" ]; then
  exit 0
fi
echo "[load-pypi] loading $expected PyPI packages into altus4_pypi.packages (once)"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
zcat "$tsv_gz" > "$tmp"
"${client[@]}" --local-infile=1 <<SQL
DROP DATABASE IF EXISTS altus4_pypi;
CREATE DATABASE altus4_pypi CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE TABLE altus4_pypi.packages (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  summary TEXT NOT NULL
) ENGINE=InnoDB;
LOAD DATA LOCAL INFILE '$tmp' INTO TABLE altus4_pypi.packages
  CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\t' ESCAPED BY ''
  LINES TERMINATED BY '\n'
  (name, summary);
ALTER TABLE altus4_pypi.packages ADD FULLTEXT INDEX packages_text (name, summary);
SQL
have=$("${client[@]}" -N -e 'SELECT COUNT(*) FROM altus4_pypi.packages')
[ "$have" = "$expected" ] || { echo "[load-pypi] loaded $have rows, expected $expected" >&2; exit 1; }
