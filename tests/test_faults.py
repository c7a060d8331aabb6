"""A run through a faulty server gives the same answers as a run against a healthy one, and says how much retrying it took.

A real llama.cpp server (SmolLM2) answers 100 TriviaQA questions twice through the `openai` engine, greedy, with the
response cache off: once directly, and once through `tests/fault_proxy.py`, which injects 5xx answers, time-outs, bursts
of 429s (with and without Retry-After), malformed and truncated bodies and connection resets, at most four per request.
The engine allows eight retries, so every request gets its answer even when the machine is slow enough that some
genuine answers come after the client's time-out (the proxy counts those as `late`). The `hf_inference` engine, which
shares the retry loop but sees another SDK's errors, does the same on 24 questions."""
import pytest

pytestmark = pytest.mark.slow   # a real llama.cpp server and 200 generations: skipped by the fast tier

from llmforge.pipeline.config import parse_config
from llmforge.pipeline.runner import run_experiment

N, TIMEOUT_S, MAX_RETRIES, MAX_CONSECUTIVE = 100, 4.0, 8, 4
# what the client sees of each fault the proxy injects
SEEN_AS = dict(http_5xx="http_5xx", timeout="timeout", http_429="http_429", malformed="malformed", truncated="truncated",
               reset="connection")


def config(base_url: str, name: str, kind: str = "openai", n: int = N, timeout_s: float = TIMEOUT_S):
    return parse_config({
        "name": name, "model": "smollm2", "dataset": "triviaqa", "n": n, "seed": 0, "method": {"name": "naive"},
        "engine": {"kind": kind, "base_url": base_url, "timeout_s": timeout_s, "max_retries": MAX_RETRIES},
        "generation": {"temperature": 0.0, "top_p": 1.0, "repeat_penalty": 1.0, "max_tokens": 16},
        "runner": {"cache": False, "resume": False, "batch_size": 6}})


def client_view(st: dict) -> dict:
    """The failed attempts the client saw, by the engine's kinds: each injected fault, except those built from an upstream
    answer that came after the client had given up (it saw a time-out instead), and every such late answer."""
    seen = {}
    for kind, n in st["by_kind"].items():
        n -= st["superseded"].get(kind, 0)
        if n: seen[SEEN_AS[kind]] = seen.get(SEEN_AS[kind], 0) + n
    late = st["late"] + sum(st["superseded"].values())
    if late: seen["timeout"] = seen.get("timeout", 0) + late
    return dict(sorted(seen.items()))


@pytest.fixture(scope="module")
def server(llama_servers):
    return llama_servers()


def run_both(server, fault_proxies, tmp_path, kind="openai", n=N, seed=7, rates=()):
    "The same experiment against the server, then through a fault proxy in front of it: (clean, faulty, proxy stats)."
    # the clean run waits as long as it takes (no retries at all); the faulty one gives up after TIMEOUT_S, and a genuine
    # answer slower than that is a time-out the proxy did not inject: it counts those as `late`
    clean = run_experiment(config(server, "clean", kind, n, timeout_s=120), progress=False, store_dir=tmp_path / "clean")
    proxy = fault_proxies(server.removesuffix("/v1"), "--seed", seed, "--hold-s", TIMEOUT_S + 4,
                          "--max-consecutive", MAX_CONSECUTIVE, "--budget", 1000, *(f"--rate={r}" for r in rates))
    faulty = run_experiment(config(proxy.url, "faulty", kind, n), progress=False, store_dir=tmp_path / "faulty")
    return clean, faulty, proxy.stats()


def check(clean, faulty, st, n):
    print(f"\nfault mix: {st}\nengine: {faulty.profile['engine']}\n"
          f"wall: clean {clean.wall_time_s:.1f} s, faulty {faulty.wall_time_s:.1f} s")
    # the run completed, nothing failed, and every answer is the clean run's
    assert len(clean.records) == len(faulty.records) == n
    assert not clean.failures and not faulty.failures, [r.error for r in faulty.failures][:3]
    assert faulty.summary["n_failed"] == 0
    assert [r.id for r in faulty.records] == [r.id for r in clean.records]
    assert [r.raw_output for r in faulty.records] == [r.raw_output for r in clean.records]
    assert [r.predicted for r in faulty.records] == [r.predicted for r in clean.records]
    assert [r.scores for r in faulty.records] == [r.scores for r in clean.records]
    assert any(r.predicted for r in clean.records)

    # the proxy stayed within its bounds
    assert st["most_consecutive"] <= MAX_CONSECUTIVE and st["keys"] == n, st
    assert st["timeouts_confirmed"] == st["by_kind"]["timeout"], st      # each held connection was given up by the client

    # the run's profile counts what the client went through, and it is what the proxy did
    eng, clean_eng = faulty.profile["engine"], clean.profile["engine"]
    assert (clean_eng["retries"], clean_eng["attempts"], clean_eng["retries_by_kind"]) == (0, n, {})
    assert eng["retries"] > 0 and eng["gave_up"] == 0
    assert eng["retries"] == st["injected"] + st["late"]
    assert eng["retries_by_kind"] == client_view(st)
    assert eng["attempts"] == st["requests"] == n + eng["retries"]
    assert eng["rate_limited"] == st["by_kind"]["http_429"]


def test_openai_engine_through_faults(server, fault_proxies, tmp_path):
    clean, faulty, st = run_both(server, fault_proxies, tmp_path)
    check(clean, faulty, st, N)
    # every kind of fault happened, and 429 bursts came with and without Retry-After
    assert all(st["by_kind"][k] > 0 for k in SEEN_AS), st
    assert st["retry_after_429"] > 0 and st["plain_429"] > 0 and st["longest_429_burst"] >= 2, st
    assert set(st["malformed_variants"]) == {"cut", "html", "no_choices"}, st


def test_hf_inference_engine_through_faults(server, fault_proxies, tmp_path, monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)   # only for these loopback servers
    rates = ["http_5xx=0.15", "timeout=0.1", "http_429=0.1", "malformed=0.1", "truncated=0.1", "reset=0.1"]
    clean, faulty, st = run_both(server, fault_proxies, tmp_path, kind="hf_inference", n=24, seed=3, rates=rates)
    check(clean, faulty, st, 24)
    assert all(st["by_kind"][k] > 0 for k in SEEN_AS), st        # rarer faults made more frequent for 24 questions
