#!/usr/bin/env python3
"""Search benchmark on the PyPI corpus (842k rows; scripts/load-pypi.sh loads it).

In one run, alternating rounds so drift affects every side alike:
  1. direct:   the exact statement altus4 sends for the search, straight to MariaDB from a small
               Rust client (benches/sql_load.rs), prepared with bound parameters;
  2. uncached: POST /api/v1/search on an altus4 with the result cache off, same concurrency;
  3. cached:   the same search on an altus4 with the cache on (every request a hit);
  4. health:   GET /health on that same server, the cached figure's baseline.
altus4 runs on CPU 0; the clients (wrk, sql_load) on CPU 1; MariaDB wherever it runs.
Reports req/s, p50, p99 and the ratios uncached/direct and cached/health.

Usage: python3 benches/search_load.py [--binary target/release/altus4] [--duration 10]
       [--concurrency 8] [--query "postgres async driver"]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadlib import UNLIMITED, call, start_server, wrk

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What altus4 sends for a natural-mode search of `packages` with the page's limit (src/engine/search.rs,
# wrapped by the pool's statement cap); the query text is bound twice.
DIRECT_SQL = ("SET STATEMENT max_statement_time=10.000 FOR SELECT t.*, "
              "MATCH(t.`name`, t.`summary`) AGAINST (? IN NATURAL LANGUAGE MODE) AS `__altus4_score`, "
              "COUNT(*) OVER () AS `__altus4_total` FROM `altus4_pypi`.`packages` AS t "
              "WHERE MATCH(t.`name`, t.`summary`) AGAINST (? IN NATURAL LANGUAGE MODE) "
              "ORDER BY `__altus4_score` DESC LIMIT {limit}")

def sql_load_binary():
    out = subprocess.run(["cargo", "bench", "--bench", "sql_load", "--no-run", "--message-format=json"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "sql_load" and msg.get("executable"):
            return msg["executable"]
    sys.exit("could not build benches/sql_load.rs")

def direct(binary, concurrency, duration, query, limit=20):
    out = subprocess.run(["taskset", "-c", "1", binary, "mysql://root@127.0.0.1:3306/altus4_pypi",
                          str(concurrency), str(duration), DIRECT_SQL.format(limit=limit), query, query],
                         capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    return json.loads(out.strip().splitlines()[-1])

def tenant(base):
    token = call(base, "POST", "/api/v1/auth/register",
                 {"email": "bench@example.com", "password": "correct horse battery", "name": "Bench"})["data"]["token"]
    key = call(base, "POST", "/api/v1/keys", {"name": "bench", "environment": "live", "rateLimitTier": "bench"}, token)["data"]["secretKey"]
    db = call(base, "POST", "/api/v1/databases", {"name": "pypi", "host": "127.0.0.1", "port": 3306,
              "database": "altus4_pypi", "username": "root", "password": ""}, token)["data"]["id"]
    return key, db

def search_script(work, name, key, body):
    path = os.path.join(work, f"{name}.lua")
    open(path, "w").write(f"""
wrk.method = "POST"
wrk.body = {json.dumps(json.dumps(body))}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
""")
    return path

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/altus4")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--cached-connections", type=int, default=32)
    ap.add_argument("--query", default="postgres async driver")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--limit", type=int, default=20, help="results per page (the response size)")
    args = ap.parse_args()
    for tool in ("wrk", "taskset", "cargo"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required")
    sql_load = sql_load_binary()

    work = tempfile.mkdtemp(prefix="altus4-search-load-")
    uncached, uncached_base = start_server(args.binary, work, UNLIMITED + "[search]\ncache_ttl_secs = 0\n", "uncached")
    cached, cached_base = start_server(args.binary, work, UNLIMITED + "[search]\ncache_ttl_secs = 3600\n", "cached")
    try:
        body = {"query": args.query, "searchMode": "natural", "limit": args.limit}
        scripts = {}
        for name, base in (("uncached", uncached_base), ("cached", cached_base)):
            key, db = tenant(base)
            body_db = dict(body, databases=[db])
            first = call(base, "POST", "/api/v1/search", body_db, key)["data"]
            scripts[name] = (base, search_script(work, name, key, body_db), first["totalCount"])
        # Warm-up: MariaDB's buffer pool, altus4's pools and schema caches, the cached entry.
        direct(sql_load, args.concurrency, 2, args.query)
        for name, (base, script, _) in scripts.items():
            wrk(base + "/api/v1/search", 2, args.concurrency, script=script)
        runs = {"direct": [], "uncached": [], "cached": [], "health": []}
        for _ in range(args.rounds):
            runs["direct"].append(direct(sql_load, args.concurrency, args.duration, args.query, args.limit))
            base, script, _ = scripts["uncached"]
            runs["uncached"].append(wrk(base + "/api/v1/search", args.duration, args.concurrency, script=script))
            base, script, _ = scripts["cached"]
            runs["cached"].append(wrk(base + "/api/v1/search", args.duration, args.cached_connections, script=script))
            runs["health"].append(wrk(base + "/health", args.duration, args.cached_connections))
    finally:
        for server in (uncached, cached):
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)

    best = {name: max(rows, key=lambda r: r["rps"]) for name, rows in runs.items()}
    # Rounds are paired (each side measured back to back), so the median of the per-round
    # ratios is less exposed to drift than best against best.
    def median_ratio(a, b):
        ratios = sorted(x["rps"] / y["rps"] for x, y in zip(runs[a], runs[b]))
        return ratios[len(ratios) // 2] if len(ratios) % 2 else sum(ratios[len(ratios) // 2 - 1:][:2]) / 2
    report = {
        "query": args.query, "matches": scripts["uncached"][2], "concurrency": args.concurrency,
        "cached_connections": args.cached_connections, "duration_s": args.duration, "runs": runs,
        "best": best,
        "ratio_uncached_over_direct": best["uncached"]["rps"] / best["direct"]["rps"],
        "ratio_cached_over_health": best["cached"]["rps"] / best["health"]["rps"],
        "median_round_ratio_uncached_over_direct": median_ratio("uncached", "direct"),
        "median_round_ratio_cached_over_health": median_ratio("cached", "health"),
        "response_bytes": len(json.dumps(first)),
    }
    print(json.dumps(report, indent=2))

if __name__ == "__main__":
    main()
