#!/usr/bin/env python3
"""Load benchmark of the real server on loopback (bounded in time and count).

Runs altus4 pinned to CPU 0 and wrk pinned to CPU 1, and measures in the same run:
  1. GET /health                      (baseline: no auth, no limiter)
  2. GET /api/v1/rate-limit           (cheap authenticated endpoint: API key validation,
                                       per-key rate-limit actor, usage tracking)
alternating A/B/A/B so drift affects both; reports req/s, p50, p99 and the ratio. Then:
  3. idle RSS of a fresh server,
  4. memory per active key: RSS growth after N distinct keys each made requests.

Usage: python3 benches/load.py [--binary target/release/altus4] [--duration 10] [--keys 5000]
Needs wrk (apt-get install wrk) and taskset (util-linux).
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadlib import UNLIMITED, call, rss_kib, start_server, wrk

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/altus4")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--keys", type=int, default=5000)
    args = ap.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (apt-get install wrk util-linux)")

    work = tempfile.mkdtemp(prefix="altus4-load-")
    server, base = start_server(args.binary, work, UNLIMITED)
    try:
        time.sleep(1.0)
        idle = rss_kib(server.pid)
        token = call(base, "POST", "/api/v1/auth/register",
                     {"email": "bench@example.com", "password": "correct horse battery", "name": "Bench"})["data"]["token"]
        key = call(base, "POST", "/api/v1/keys", {"name": "bench", "environment": "live", "rateLimitTier": "bench"}, token)["data"]["secretKey"]

        results = {"health": [], "auth": []}
        wrk(base + "/health", 2, args.connections)  # warm-up
        for _ in range(2):
            results["health"].append(wrk(base + "/health", args.duration, args.connections))
            results["auth"].append(wrk(base + "/api/v1/rate-limit", args.duration, args.connections,
                                       headers=[f"Authorization: Bearer {key}"]))

        # Memory per active key: N keys, each makes requests through its own limiter actor.
        keys = [call(base, "POST", "/api/v1/keys", {"name": f"key{i}", "environment": "live", "rateLimitTier": "bench"}, token)["data"]["secretKey"]
                for i in range(args.keys)]
        keyfile = os.path.join(work, "keys.txt")
        open(keyfile, "w").write("\n".join(keys) + "\n")
        script = os.path.join(work, "rotate.lua")
        open(script, "w").write(f"""
local keys = {{}}
for line in io.lines("{keyfile}") do keys[#keys + 1] = line end
local i = 0
request = function()
  i = (i % #keys) + 1
  return wrk.format("GET", "/api/v1/rate-limit", {{ ["Authorization"] = "Bearer " .. keys[i] }})
end
""")
        before = rss_kib(server.pid)
        rotated = wrk(base + "/api/v1/rate-limit", max(5, args.duration), args.connections, script=script)
        time.sleep(1.5)
        after = rss_kib(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)

    def best(rows):
        return max(rows, key=lambda r: r["rps"])
    h, a = best(results["health"]), best(results["auth"])
    report = {
        "runs": results,
        "health_rps": h["rps"], "auth_rps": a["rps"], "ratio_auth_over_health": a["rps"] / h["rps"],
        "auth_p50_ms": a["p50_ms"], "auth_p99_ms": a["p99_ms"], "health_p99_ms": h["p99_ms"],
        "idle_rss_mib": idle / 1024,
        "keys": args.keys, "rotated_run": rotated,
        "rss_before_keys_mib": before / 1024, "rss_after_keys_mib": after / 1024,
        "bytes_per_active_key": (after - before) * 1024 / args.keys,
    }
    print(json.dumps(report, indent=2))

if __name__ == "__main__":
    main()
