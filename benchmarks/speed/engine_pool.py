"""Throughput of the `openai` engine over one llama.cpp server against a pool of two (`base_url` a list), side by side:
the same TriviaQA questions with the naive method's prompts, greedy, each server SmolLM2 with one thread. Each engine is
driven as the runner drives it with `batch_size: auto` (`engine.in_flight()` requests at once: 8 for one server, 16 for
the pool). The pool's answers are checked against the single server's, and its per-server counts are kept.

    python benchmarks/speed/engine_pool.py [--n 24] [--max-tokens 32] [--threads 1] [--rounds 3]
"""
import sys; from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # benchmarks/: harness, _prompts
from harness import Bench, timer

bench = Bench(__doc__, rounds=3)
bench.parser.add_argument("--n", type=int, default=24, help="TriviaQA questions (default 24)")
bench.parser.add_argument("--max-tokens", type=int, default=32, help="tokens per answer at most (default 32)")
bench.parser.add_argument("--threads", type=int, default=1, help="threads per server (default 1)")
bench.parser.add_argument("--seed", type=int, default=0)
a = bench.parse()

import atexit, json, socket, subprocess, tempfile, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

from llmforge.core.types import Context
from llmforge.data.datasets import load_dataset
from llmforge.engines.http import OpenAIEngine
from llmforge.engines.llama_cpp import llama_server_command
from llmforge.engines.mock import MockEngine
from llmforge.methods.prompting import methods
from llmforge.models.registry import resolve_model

WORK = Path(tempfile.mkdtemp(prefix="llmforge-engine-pool-"))
GGUF = resolve_model("smollm2-135m-instruct").path()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


class Server:
    "`python -m llama_cpp.server` on 127.0.0.1 with SmolLM2 served as `smollm2`, started and stopped by this script (by its PID)."
    def __init__(self, name: str):
        self.port, self.log = free_port(), WORK / f"{name}.log"
        self.base = f"http://127.0.0.1:{self.port}/v1"
        cmd = llama_server_command("--model", GGUF, "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", self.port,
                                   "--n_ctx", 1024, "--n_threads", a.threads, "--n_threads_batch", a.threads,
                                   "--seed", 0, "--verbose", "False")
        t = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        while True:
            if self.proc.poll() is not None: sys.exit(f"llama.cpp server exited ({self.proc.returncode}); log {self.log}")
            try:
                with urllib.request.urlopen(self.base + "/models", timeout=2) as r:
                    if json.loads(r.read()).get("data"): break
            except OSError: pass
            if time.perf_counter() - t > 180: sys.exit(f"llama.cpp server not ready after 180 s; log {self.log}")
            time.sleep(0.25)
        self.startup_s = time.perf_counter() - t

    def cold(self):
        """One tiny unrelated request: the server's next prompt must not be the one it just answered (llama-cpp-python then
        re-evaluates only its last token, which can change a greedy answer)."""
        req = urllib.request.Request(self.base + "/completions", json.dumps({"prompt": "Hello", "max_tokens": 1}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r: r.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()


method = methods.get("naive")()
ctx = Context(MockEngine(mode="chat"), generation=dict(temperature=0.0, top_p=1.0, top_k=40, repeat_penalty=1.0,
                                                       seed=a.seed, max_tokens=a.max_tokens))
examples = load_dataset("triviaqa").sample(a.n, a.seed)
REQS = [method.first_request(e, ctx) for e in examples]

servers = [Server("server0"), Server("server1")]
bench.fact(server_startup_s=[round(s.startup_s, 2) for s in servers])
one = OpenAIEngine("smollm2", base_url=servers[0].base, max_retries=0, timeout_s=300)
pool = OpenAIEngine("smollm2", base_url=[s.base for s in servers], max_retries=0, timeout_s=300)
for s in servers: s.cold()                          # each server's weights in memory before anything is timed


def drive(eng):
    "All requests, `eng.in_flight()` at a time (as the runner's workers send them): measurements and the answers."
    for s in servers: s.cold()
    with timer() as t, ThreadPoolExecutor(eng.in_flight()) as ex:
        out = list(ex.map(lambda r: eng.generate([r])[0], REQS))
    toks = sum(r.completion_tokens for r in out)
    return {"s": t.s, "req_per_s": len(out) / t.s, "completion_tok_per_s": toks / t.s, "completion_tokens": toks,
            "in_flight": eng.in_flight(), "_texts": [r.text for r in out]}


def single(rnd): return drive(one)


def pooled(rnd):
    before = pool.stats()
    m = drive(pool)
    st = pool.stats()
    m.update({f"server{i}_requests": st[f"server{i}_answered"] - before[f"server{i}_answered"] for i in range(2)})
    return m


c = bench.compare("one server vs a pool of two", {"one server": single, "pool of two": pooled},
                  ratios=[("pool of two", "one server")], ratio_of=("req_per_s", "completion_tok_per_s"),
                  show=("s", "req_per_s", "server0_requests", "server1_requests"))
same = all(row["pool of two"]["_texts"] == row["one server"]["_texts"] for row in c.rounds)
st = pool.stats()
bench.fact(identical_outputs=same, n_requests=len(REQS), pool_failovers=st["failovers"], pool_retries=st["retries"],
           pool_answered_per_server=[st["server0_answered"], st["server1_answered"]],
           identity_has_no_url="base_url" not in pool.identity())
pool.close(); one.close()
for s in servers: s.stop()
bench.save()
