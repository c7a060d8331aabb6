"""A fault-injecting proxy for OpenAI-compatible HTTP servers, used by the tests to play a flaky server.

    python tests/fault_proxy.py --upstream http://127.0.0.1:8000 --seed 0 --hold-s 6

It listens on 127.0.0.1 (a free port unless `--port` is given), prints `listening on http://127.0.0.1:PORT` once it
accepts connections, and forwards each POST to the upstream server unless it injects a fault instead:

- `http_5xx`: an HTTP 500, 502, 503 or 504 with a JSON error body;
- `timeout`: no answer; the connection is held until the client hangs up, or `--hold-s` seconds (set it past the
  client's time-out);
- `http_429`: a burst of two or three 429s for the same request in a row, with `Retry-After: 1` or without;
- `malformed`: a 200 whose body is not a completion: the upstream body cut in half (with a matching Content-Length),
  an HTML error page, or JSON without `choices`;
- `truncated`: the upstream answer with its full Content-Length but only half the body, then the connection closes;
- `reset`: the request is read, then the connection is reset (TCP RST) without an answer.

Faults are drawn with a seeded RNG per request and attempt: a request is identified by a hash of its path and body (a
client's retry sends the same body), and attempt `i` of a request draws from `Random(f"{seed}:{request}:{i}")`, so which
requests fail, how and how often does not depend on the order in which concurrent requests arrive. Faults are bounded: a
request gets at most `--max-consecutive` faults until its answer is delivered (a pass-through the client had already given
up on does not start a new run of faults), so a client with more retries than that gets its answer unless its own
time-out cuts genuine answers short more often than the difference; at most `--budget` faults are injected in all. The proxy stops itself after `--max-life-s`
seconds, or when the process that started it is gone.

`GET /_faults` answers what the proxy did, as JSON: `requests` (attempts received), `passed`, `injected`, `by_kind`,
`late` (upstream answers the client had already given up on, i.e. time-outs the proxy did not inject; the client saw
them as failures too), `superseded` (injected faults built from an upstream answer that came after the client had given
up: it saw a time-out instead), `timeouts_confirmed` (held connections the client hung up on), the 429s with and without
Retry-After, the longest 429 burst and the most faults one request got in a row.

`--echo-auth` makes every injected error body, and the upstream's 401 answers, quote the request's Authorization header,
as some servers do: a client must not let it reach its logs.
"""
from __future__ import annotations
import argparse, hashlib, http.client, json, os, random, select, signal, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KINDS = ("http_5xx", "timeout", "http_429", "malformed", "truncated", "reset")
RATES = dict(http_5xx=0.30, timeout=0.10, http_429=0.05, malformed=0.05, truncated=0.05, reset=0.05)


class FaultPlan:
    "Decides, for each attempt of each request, whether to pass it through or which fault to inject; counts everything."
    def __init__(self, seed: int = 0, rates: dict | None = None, max_consecutive: int = 3, budget: int = 1000):
        self.seed, self.rates = seed, {**RATES, **(rates or {})}
        assert set(self.rates) <= set(KINDS) and sum(self.rates.values()) < 1, self.rates
        self.max_consecutive, self.budget = max_consecutive, budget
        self.lock = threading.Lock()
        self.state: dict[str, dict] = {}      # per request: faults in a row so far, 429s left in its burst
        self.stats = dict(requests=0, passed=0, injected=0, by_kind={k: 0 for k in KINDS}, late=0, timeouts_confirmed=0,
                          retry_after_429=0, plain_429=0, longest_429_burst=0, most_consecutive=0, by_status={},
                          malformed_variants={}, superseded={}, keys=0)

    def decide(self, key: str) -> tuple[str | None, dict]:
        "The fault for this attempt of request `key` (None: pass it through), and its details."
        with self.lock:
            st = self.stats
            st["requests"] += 1
            s = self.state.get(key)
            if s is None:
                s = self.state[key] = dict(faults=0, burst=0, retry_after=False, run429=0)
                st["keys"] += 1
            kind, info = None, {}
            if s["faults"] < self.max_consecutive and st["injected"] < self.budget:
                rng = random.Random(f"{self.seed}:{key}:{s['faults']}")
                if s["burst"] > 0:
                    s["burst"] -= 1
                    kind = "http_429"
                else:
                    u, acc = rng.random(), 0.0
                    for k in KINDS:
                        acc += self.rates.get(k, 0.0)
                        if u < acc: kind = k; break
                    if kind == "http_429":
                        s["burst"], s["retry_after"] = rng.randint(2, 3) - 1, rng.random() < 0.5
                if kind == "http_5xx": info["status"] = rng.choice([500, 502, 503, 504])
                if kind == "http_429": info["retry_after"] = s["retry_after"]
                if kind == "malformed": info["variant"] = rng.choice(["cut", "html", "no_choices"])
            if kind is None:                    # the count of faults in a row restarts once the answer is delivered
                s.update(burst=0, run429=0)
                st["passed"] += 1
                return None, info
            s["faults"] += 1
            st["injected"] += 1
            st["by_kind"][kind] += 1
            st["most_consecutive"] = max(st["most_consecutive"], s["faults"])
            if kind == "http_429":
                s["run429"] += 1
                st["longest_429_burst"] = max(st["longest_429_burst"], s["run429"])
                st["retry_after_429" if info["retry_after"] else "plain_429"] += 1
            else:
                s["run429"] = 0
            if kind == "http_5xx": st["by_status"][str(info["status"])] = st["by_status"].get(str(info["status"]), 0) + 1
            if kind == "malformed":
                v = info["variant"]; st["malformed_variants"][v] = st["malformed_variants"].get(v, 0) + 1
            return kind, info

    def delivered(self, key: str):
        "The request's answer reached the client: its next attempt (the same body sent again) starts a new run of faults."
        with self.lock: self.state[key]["faults"] = 0

    def note(self, what: str):
        with self.lock: self.stats[what] += 1

    def supersede(self, kind: str):
        "An injected fault the client never saw: it had timed out while the proxy waited for the upstream answer."
        with self.lock: self.stats["superseded"][kind] = self.stats["superseded"].get(kind, 0) + 1

    def snapshot(self) -> dict:
        with self.lock: return json.loads(json.dumps(self.stats))


def _client_gone(sock: socket.socket, wait_s: float = 0.0) -> bool:
    "Whether the client closed its end (a readable socket with nothing to read), waiting up to `wait_s` for it."
    try:
        r, _, _ = select.select([sock], [], [], wait_s)
        return bool(r) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # every answer still closes its connection (`Connection: close`)

    def log_message(self, *a): pass

    def do_GET(self):
        if self.path.rstrip("/") == "/_faults": return self._send(200, json.dumps(self.server.plan.snapshot()).encode())
        self._forward_and_send(b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = hashlib.sha256(self.path.encode() + b"\0" + body).hexdigest()[:16]
        kind, info = self.server.plan.decide(key)
        if kind is None: return self._forward_and_send(body, key)
        getattr(self, f"_fault_{kind}")(body, info)

    # -- answers ------------------------------------------------------------------------------------------------------
    def _send(self, status: int, data: bytes, headers: dict | None = None, send_bytes: int | None = None):
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {}),
                     "Connection": "close"}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data if send_bytes is None else data[:send_bytes])
        self.wfile.flush()
        self.close_connection = True

    def _upstream(self, body: bytes) -> tuple[int, dict, bytes]:
        u = self.server.upstream
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.server.upstream_timeout_s)
        try:
            hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
            conn.request(self.command, self.path, body=body if self.command == "POST" else None, headers=hdrs)
            r = conn.getresponse()
            return r.status, {"Content-Type": r.getheader("Content-Type") or "application/json"}, r.read()
        finally:
            conn.close()

    def _auth_echo(self) -> str:
        return f" (request Authorization: {self.headers.get('Authorization')})" if self.server.echo_auth else ""

    def _forward_and_send(self, body: bytes, key: str | None = None):
        status, headers, data = self._upstream(body)
        if status == 401 and self.server.echo_auth:
            data = json.dumps({"error": {"message": f"Incorrect API key provided{self._auth_echo()}",
                                         "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        if key is not None and _client_gone(self.connection):
            self.server.plan.note("late")       # the client timed out on a genuine answer: it saw a failure too
        elif key is not None:
            self.server.plan.delivered(key)
        self._send(status, data, headers)

    def _error_body(self, message: str, kind: str) -> bytes:
        return json.dumps({"error": {"message": message + self._auth_echo(), "type": kind}}).encode()

    # -- faults ---------------------------------------------------------------------------------------------------------
    def _fault_http_5xx(self, body, info):
        self._send(info["status"], self._error_body("injected server error", "server_error"))

    def _fault_http_429(self, body, info):
        self._send(429, self._error_body("injected rate limit", "rate_limit_error"),
                   {"Retry-After": "1"} if info["retry_after"] else None)

    def _fault_timeout(self, body, info):
        if _client_gone(self.connection, self.server.hold_s): self.server.plan.note("timeouts_confirmed")
        self.close_connection = True

    def _upstream_for_fault(self, body: bytes, kind: str) -> bytes:
        "The upstream answer a fault is made of; if the client gave up meanwhile, it saw a time-out, not this fault."
        _, _, data = self._upstream(body)
        if _client_gone(self.connection): self.server.plan.supersede(kind)
        return data

    def _fault_malformed(self, body, info):
        v = info["variant"]
        if v == "cut":
            data = self._upstream_for_fault(body, "malformed")
            self._send(200, data[: len(data) // 2])
        elif v == "html":
            self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"})
        else:
            self._send(200, json.dumps({"id": "x", "object": "chat.completion", "model": "m", "created": 0}).encode())

    def _fault_truncated(self, body, info):
        data = self._upstream_for_fault(body, "truncated")
        self._send(200, data, send_bytes=len(data) // 2)      # the full Content-Length, half the body, then close

    def _fault_reset(self, body, info):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()                                # TCP RST: "connection reset by peer"
        self.close_connection = True


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, plan: FaultPlan, port: int = 0, hold_s: float = 10.0, echo_auth: bool = False,
                 upstream_timeout_s: float = 300.0):
        super().__init__(("127.0.0.1", port), Handler)
        self.upstream, self.plan, self.hold_s, self.echo_auth = urlsplit(upstream), plan, hold_s, echo_auth
        self.upstream_timeout_s = upstream_timeout_s

    def handle_error(self, request, client_address):
        pass    # a client that hung up mid-answer is part of the game


def _watchdog(max_life_s: float, parent: int):
    "Stop the process after `max_life_s`, or as soon as the process that started it is gone."
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_life_s and os.getppid() == parent:
        time.sleep(1)
    os._exit(3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="the server's origin, e.g. http://127.0.0.1:8000")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hold-s", type=float, default=10.0, help="how long a time-out holds the connection")
    p.add_argument("--max-consecutive", type=int, default=3, help="faults in a row for one request, at most")
    p.add_argument("--budget", type=int, default=1000, help="faults in all, at most")
    p.add_argument("--rate", action="append", default=[], metavar="KIND=P", help="fault rate per attempt, e.g. http_5xx=0.3")
    p.add_argument("--echo-auth", action="store_true", help="quote the Authorization header in error bodies")
    p.add_argument("--max-life-s", type=float, default=1800.0)
    a = p.parse_args(argv)
    rates = {k: float(v) for k, v in (r.split("=", 1) for r in a.rate)}
    plan = FaultPlan(a.seed, rates, a.max_consecutive, a.budget)
    srv = FaultProxy(a.upstream, plan, a.port, a.hold_s, a.echo_auth)
    threading.Thread(target=_watchdog, args=(a.max_life_s, os.getppid()), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on http://127.0.0.1:{srv.server_address[1]}", flush=True)
    try: srv.serve_forever(poll_interval=0.2)
    finally: srv.server_close()


if __name__ == "__main__":
    main()
