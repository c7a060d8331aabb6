"""Prompts shared by the decoding benchmarks (speed/batched_runs.py's ceiling, speed/batch_width.py, speed/scheduler.py,
agreement/batched_vs_sequential.py); importable from any group because each script puts benchmarks/ on sys.path."""
from llmforge.core.types import Context
from llmforge.data.datasets import load_dataset
from llmforge.methods.prompting import methods


def cot_requests(engine, n: int, max_tokens: int | None = None, shots: int = 3) -> list:
    """The first requests of `shots`-shot chain-of-thought on `n` GSM8K items (seed 0), greedy, with the method's own
    max_tokens and stop unless `max_tokens` is given, sorted by text as the runner orders them."""
    m = methods.get("cot")(shots=shots)
    gen = {**m.default_generation(), "temperature": 0.0, **({"max_tokens": max_tokens} if max_tokens else {})}
    ctx = Context(engine, generation=gen)
    return sorted((m.first_request(e, ctx) for e in load_dataset("gsm8k").sample(n, 0)), key=lambda r: r.text())
