"""The `openai` engine over a pool of real llama.cpp servers (SmolLM2, one thread each) on loopback.

Each server sits behind `tests/fault_proxy.py`: with every fault rate at zero the proxy only forwards and counts what
reached its server, which checks the pool's own counters from the servers' side; with 429s switched on it plays a server
that rate-limits. Stopping a proxy (by the PID of the process this test started) makes its server unreachable mid-run.
The answers are compared with the same greedy requests sent to one server alone. A llama-cpp-python server sent the prompt
it has just answered re-evaluates only its last token, which can change a greedy answer (the server's quirk, pool or
not), so each test first sends every server an unrelated prompt (`cold`)."""
import json, os, socket, subprocess, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # real llama.cpp servers: skipped by the fast tier (pytest tests --fast)

os.environ["HF_HUB_OFFLINE"] = "1"
from llmforge.core.types import GenerationRequest
from llmforge.data.datasets import load_dataset
from llmforge.engines.http import OpenAIEngine, OpenAIPool

N = 12
GREEDY = dict(max_tokens=24, temperature=0.0, top_p=1.0, top_k=40, repeat_penalty=1.0, seed=0)
QUIET = [f"--rate={k}=0" for k in ("http_5xx", "timeout", "http_429", "malformed", "truncated", "reset")]


@pytest.fixture(scope="module")
def servers(llama_servers):
    "Two real `llama_cpp.server`s with SmolLM2, one thread each (conftest's `llama_servers`; stopped by their PIDs)."
    return llama_servers(n_threads=1), llama_servers(n_threads=1)


@pytest.fixture(scope="module")
def requests():
    "N TriviaQA questions as greedy chat requests, every sampling setting explicit."
    return [GenerationRequest(messages=[{"role": "user", "content": e.question}], **GREEDY)
            for e in load_dataset("triviaqa").sample(N, 0)]


@pytest.fixture(scope="module")
def alone(servers, requests):
    "The answers of the first server alone, one request at a time: what the pool must give back."
    cold(servers[0])
    eng = OpenAIEngine("smollm2", base_url=servers[0], max_retries=0, timeout_s=120)
    try: return eng.generate(requests)
    finally: eng.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold(*urls):
    "One tiny unrelated request to each server, so that none starts on the prompt it answered last."
    for u in urls:
        req = urllib.request.Request(u + "/completions", json.dumps({"prompt": "Hello", "max_tokens": 1}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r: r.read()


def counting_proxy(fault_proxies, url: str, *options):
    "A fault proxy in front of `url` that injects nothing unless `options` say so: it counts what reaches the server."
    return fault_proxies(url.removesuffix("/v1"), *QUIET, *options)


def ask(eng, reqs, threads=4):
    "Send each request from `threads` threads at once, as the runner's workers do; the results in order."
    with ThreadPoolExecutor(threads) as ex: return list(ex.map(lambda r: eng.generate([r])[0], reqs))


def same_answers(got, want):
    assert [r.text for r in got] == [r.text for r in want]
    assert [(r.prompt_tokens, r.completion_tokens) for r in got] == [(r.prompt_tokens, r.completion_tokens) for r in want]


def test_pool_spreads_requests_and_answers_as_one_server(servers, requests, alone, fault_proxies):
    cold(*servers)
    pa, pb = (counting_proxy(fault_proxies, s) for s in servers)
    pool = OpenAIEngine("smollm2", base_url=[pa.url, pb.url], max_retries=0, timeout_s=120)
    assert isinstance(pool, OpenAIPool) and pool.in_flight() == 16
    got = ask(pool, requests)
    same_answers(got, alone)
    assert any(r.text.strip() for r in got)
    st, sa, sb = pool.stats(), pa.stats(), pb.stats()
    print(f"\npool: {st}\nproxies: {sa['passed']} / {sb['passed']}")
    # both servers served, and what each server received is what the pool says it sent there
    assert st["server0_answered"] > 0 and st["server1_answered"] > 0, st
    assert st["server0_answered"] + st["server1_answered"] == N and st["failovers"] == 0
    assert (st["server0_requests"], st["server1_requests"]) == (sa["requests"], sb["requests"]) == (sa["passed"], sb["passed"])
    assert st["attempts"] == N and st["retries"] == 0
    # the cache key does not depend on which servers, or in which order
    flipped = OpenAIEngine("smollm2", base_url=[pb.url, pa.url])
    assert pool.identity() == flipped.identity() and "base_url" not in pool.identity()


def test_pool_survives_a_server_that_stops(servers, requests, alone, fault_proxies):
    "The second server goes away after the first requests: every request is answered by the other, and the stats say so."
    cold(*servers)
    pa, pb = (counting_proxy(fault_proxies, s) for s in servers)
    pool = OpenAIEngine("smollm2", base_url=[pa.url, pb.url], max_retries=2, timeout_s=120)
    first = ask(pool, requests[:4], threads=2)
    served_by_b = pb.stats()["passed"]
    assert served_by_b > 0 and pool.stats()["server1_answered"] == served_by_b
    pb.proc.terminate(); pb.proc.wait(timeout=10)          # its URL now refuses connections
    rest = ask(pool, requests[4:], threads=2)
    same_answers(first + rest, alone)
    st = pool.stats()
    print(f"\npool: {st}")
    assert (st["server1_marked_down"], st["server1_down"], st["servers_down"]) == (1, 1, 1), st
    assert st["server1_failures"] >= 1 and st["failovers"] == st["server1_failures"], st
    assert st["server1_answered"] == served_by_b and st["server0_answered"] == N - served_by_b, st
    assert st["server0_answered"] == pa.stats()["passed"]
    assert st["retries"] == 0 and st["server0_failures"] == 0          # the dead server was left, not retried


def test_pool_with_a_closed_port_from_the_start(servers, requests, alone):
    cold(*servers)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    pool = OpenAIEngine("smollm2", base_url=[dead, servers[1]], max_retries=2, timeout_s=120)
    t0 = time.monotonic()
    got = ask(pool, requests[:6], threads=3)
    same_answers(got, alone[:6])
    st = pool.stats()
    print(f"\npool: {st} in {time.monotonic() - t0:.1f} s")
    assert (st["server0_answered"], st["server1_answered"], st["server0_marked_down"], st["server0_down"]) == (0, 6, 1, 1), st
    assert st["server0_requests"] == st["server0_failures"] >= 1 and st["retries"] == 0, st


def test_a_rate_limited_server_backs_off_while_the_other_serves(servers, requests, alone, fault_proxies):
    "The first server's proxy answers most attempts with bursts of 429s: its limit drops and it backs off; the other does not."
    cold(*servers)
    pa = counting_proxy(fault_proxies, servers[0], "--rate=http_429=0.9", "--seed", 1, "--max-consecutive", 3)
    pb = counting_proxy(fault_proxies, servers[1])
    pool = OpenAIEngine("smollm2", base_url=[pa.url, pb.url], max_retries=4, timeout_s=120)
    got = ask(pool, requests)
    same_answers(got, alone)
    st, sa, sb = pool.stats(), pa.stats(), pb.stats()
    print(f"\npool: {st}\nproxy of the 429-ing server: {sa}")
    n429 = sa["by_kind"]["http_429"]
    assert n429 >= 2 and st["server0_rate_limited"] == n429 == st["retries_by_kind"]["http_429"], (st, sa)
    assert st["server0_concurrency_limit"] < 64 and st["server0_retries"] == n429, st
    assert (st["server1_rate_limited"], st["server1_concurrency_limit"], st["server1_retries"]) == (0, 64, 0), st
    assert st["server1_answered"] > st["server0_answered"], st           # the healthy server took more of the work
    assert (st["server0_answered"], st["server1_answered"]) == (sa["passed"], sb["passed"])
    assert st["failovers"] == 0 and st["gave_up"] == 0


def test_llmforge_run_through_a_pool_logs_per_server_metrics(servers, tmp_path):
    "`llmforge run` with two base URLs: the run finishes and its MLflow run has the pool's counters per server."
    from mlflow.tracking import MlflowClient
    cfg = tmp_path / "pool.yaml"
    cfg.write_text("name: pool_cli\nmodel: smollm2\ndataset: triviaqa\nn: 6\nseed: 0\nmethod: {name: naive}\n"
                   f"engine: {{kind: openai, base_url: [{servers[0]}, {servers[1]}], max_retries: 2, timeout_s: 120}}\n"
                   "generation: {temperature: 0.0, max_tokens: 16}\nrunner: {cache: false, resume: false}\n"
                   "tracking: {experiment: pool_cli}\n")
    p = subprocess.run([sys.executable, "-c", "import sys; from llmforge.pipeline.cli import main; sys.exit(main())",
                        "run", str(cfg), "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "LLMFORGE_HOME": str(tmp_path / "home")})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("pool_cli").experiment_id])
    m = run.data.metrics
    print(f"\n{ {k: v for k, v in m.items() if k.startswith('engine_')} }")
    assert run.info.status == "FINISHED" and m["n"] == 6 and m["n_failed"] == 0
    assert m["engine_servers"] == 2 and m["engine_server0_requests"] > 0 and m["engine_server1_requests"] > 0
    assert m["engine_server0_answered"] + m["engine_server1_answered"] == 6
    assert m["engine_server0_marked_down"] == m["engine_server1_marked_down"] == 0
