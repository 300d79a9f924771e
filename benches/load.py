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
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

BENCH_CONFIG = """
[rate_limits]
default_tier = "bench"
[rate_limits.tiers.bench]
per_hour = 4000000000
per_minute = 4000000000
burst = 4000000000
block_secs = 1
[rate_limits.ip]
per_hour = 4000000000
per_minute = 4000000000
burst = 4000000000
block_secs = 1
[logging]
filter = "warn"
"""

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    if body is not None:
        req.data = json.dumps(body).encode(); req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

def wrk(url, duration, conns, headers=(), script=None):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0}

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
    cfg = os.path.join(work, "altus4.toml")
    open(cfg, "w").write(BENCH_CONFIG)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["taskset", "-c", "0", args.binary, "serve", "--config", cfg,
                               "--data-dir", os.path.join(work, "data"), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "server.log"), "w"))
    try:
        for _ in range(200):
            try:
                call(base, "GET", "/health"); break
            except Exception:
                time.sleep(0.05)
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
