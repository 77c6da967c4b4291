#!/usr/bin/env python3
"""Times GET /api/v1/admin/users scenarios against a running `sesame serve` (JSON logs) over one
keep-alive connection, as in docs/PERFORMANCE.md.

Usage: bench-admin-users.py PORT MIDDLE_ID_HEX SERVER_LOG [N [ONLY]]

  MIDDLE_ID_HEX  the 32 hex digits of a user id near the middle of the id order (the deep
                 cursor is its base64url without padding)
  SERVER_LOG     the server's stdout (JSON), read for the `request finished` latency_ms
  N              requests per scenario after 20 warm-up requests (default 200; a scenario
                 stops after 20 s once it has 20 samples)
  ONLY           run only the scenarios whose name contains this

Logs in as admin@example.com with the bootstrap password below. Prints a Markdown table of
server-side (latency_ms, matched by request id) and client-side p50/p99 in ms."""
import base64, http.client, json, sys, time, statistics, urllib.parse

port, middle_hex, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
N = int(sys.argv[4]) if len(sys.argv) > 4 else 200
WARMUP = 20

conn = http.client.HTTPConnection("127.0.0.1", int(port))


def req(method, path, body=None, token=None):
    headers = {}
    if body is not None:
        headers["content-type"] = "application/json"
        body = json.dumps(body)
    if token:
        headers["authorization"] = "Bearer " + token
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    dt = (time.perf_counter() - t0) * 1000
    return r.status, data, r.getheader("x-request-id"), dt


st, data, _, _ = req("POST", "/api/v1/auth/login",
                     {"email": "admin@example.com", "password": "correct horse battery staple"})
assert st == 200, data
token = json.loads(data)["access_token"]

cursor = base64.urlsafe_b64encode(bytes.fromhex(middle_hex)).rstrip(b"=").decode()

scenarios = [
    ("first page, limit 50", {"limit": 50}),
    ("deep page (cursor at user 500,000), limit 50", {"limit": 50, "cursor": cursor}),
    ("q=seed12345 (11 matches)", {"limit": 50, "q": "seed12345"}),
    ("q=seed9 (111,111 matches)", {"limit": 50, "q": "seed9"}),
    ("q=seed9 + deep cursor", {"limit": 50, "q": "seed9", "cursor": cursor}),
    ("q=nobody (no match)", {"limit": 50, "q": "nobody"}),
    ("role=admin (1 match)", {"limit": 50, "role": "admin"}),
    ("role=editor (100,000 holders)", {"limit": 50, "role": "editor"}),
    ("role=editor + deep cursor", {"limit": 50, "role": "editor", "cursor": cursor}),
    ("email_verified=true", {"limit": 50, "email_verified": "true"}),
    ("is_active=false (no match)", {"limit": 50, "is_active": "false"}),
    ("locked=true (no match)", {"limit": 50, "locked": "true"}),
    ("created_after=<middle>", {"limit": 50, "created_after": "MIDDLE_TIME"}),
    ("include_total=true (no filter)", {"limit": 50, "include_total": "true"}),
    ("include_total=true, q=seed12345", {"limit": 50, "q": "seed12345", "include_total": "true"}),
    ("include_total=true, q=seed9", {"limit": 50, "q": "seed9", "include_total": "true"}),
    ("include_total=true, role=admin", {"limit": 50, "role": "admin", "include_total": "true"}),
    ("include_total=true, role=editor", {"limit": 50, "role": "editor", "include_total": "true"}),
    ("first page, limit 200", {"limit": 200}),
]

# created_at of the middle user, read through the API.
st, data, _, _ = req("GET", "/api/v1/admin/users?" + urllib.parse.urlencode({"limit": 1, "cursor": cursor}), token=token)
middle_time = json.loads(data)["users"][0]["created_at"]

only = sys.argv[5] if len(sys.argv) > 5 else None
results = []
for name, params in scenarios:
    if only and only not in name:
        continue
    params = {k: (middle_time if v == "MIDDLE_TIME" else v) for k, v in params.items()}
    path = "/api/v1/admin/users?" + urllib.parse.urlencode(params)
    st, data, _, _ = req("GET", path, token=token)
    assert st == 200, (name, st, data[:300])
    body = json.loads(data)
    info = f"{len(body['users'])} users, total={body.get('total')}"
    n = N
    for _ in range(WARMUP):
        req("GET", path, token=token)
    ids, client = [], []
    t_start = time.perf_counter()
    for _ in range(n):
        st, _, rid, dt = req("GET", path, token=token)
        assert st == 200
        ids.append(rid)
        client.append(dt)
        # Slow scenarios: cap the run at ~20 s.
        if time.perf_counter() - t_start > 20 and len(client) >= 20:
            break
    results.append((name, info, ids, client))

time.sleep(0.5)
server = {}
with open(log_path) as f:
    for line in f:
        if '"request finished"' not in line:
            continue
        try:
            j = json.loads(line)
        except Exception:
            continue
        rid = (j.get("span") or {}).get("request_id")
        if rid is None:
            for s in j.get("spans", []):
                if "request_id" in s:
                    rid = s["request_id"]
        if rid:
            server[rid] = float(j["fields"]["latency_ms"])


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


print(f"| scenario | result | n | server p50 | server p99 | client p50 | client p99 |")
print(f"|---|---|---|---|---|---|---|")
for name, info, ids, client in results:
    srv = [server[i] for i in ids if i in server]
    if not srv:
        srv = [float("nan")]
    print(f"| {name} | {info} | {len(client)} | {pct(srv,50):.2f} | {pct(srv,99):.2f} | {pct(client,50):.2f} | {pct(client,99):.2f} |")
