"""Helpers shared by the load benchmarks: a server on CPU 0, wrk on CPU 1, JSON calls."""
import json, os, re, socket, subprocess, time, urllib.request

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
    """Runs wrk on CPU 1; returns req/s, p50 and p99 (ms) and the non-2xx count."""
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

def start_server(binary, work, config_text, name="server"):
    """Starts altus4 on CPU 0 with `config_text`; returns (process, base URL) once healthy."""
    cfg = os.path.join(work, f"{name}.toml")
    open(cfg, "w").write(config_text)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["taskset", "-c", "0", binary, "serve", "--config", cfg,
                               "--data-dir", os.path.join(work, f"{name}-data"), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"{name}.log"), "w"))
    for _ in range(200):
        try:
            call(base, "GET", "/health"); break
        except Exception:
            time.sleep(0.05)
    return server, base

# Limits no benchmark should meet.
UNLIMITED = """
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
[incidents]
rapid_fire_requests = 4000000000
[logging]
filter = "warn"
"""
