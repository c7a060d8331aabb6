"""lm-evaluation-harness side of benchmarks/comparison/vs_lm_eval.py; runs with the benchmark virtualenv's Python, never LlmForge's.

    <venv>/bin/python benchmarks/comparison/lmeval/run_lmeval.py --include-path DIR --task NAME --model-args JSON --out FILE

Runs `lm_eval.simple_evaluate` (the function behind `lm-eval run`) with `--log_samples` on one local task against an
OpenAI-compatible server, and writes one JSON: lm-eval's metrics, every logged sample (prompt sent, raw response, filtered
responses, per-filter scores) and three timings:

- import_s: importing lm_eval;
- evaluate_s: the whole `simple_evaluate` call (task loading, dataset building, requests, filters, metrics);
- generate_s: the time spent inside the model's `generate_until` (the HTTP requests for every item), the figure comparable
  with LlmForge's runner loop.

Only the standard library is imported before lm_eval, so the timings cover lm-eval alone.
"""
import argparse, json, os, sys, time

p = argparse.ArgumentParser()
p.add_argument("--include-path", required=True, help="folder holding the task YAML")
p.add_argument("--task", required=True)
p.add_argument("--model", default="local-completions")
p.add_argument("--model-args", required=True, help="JSON object of model_args")
p.add_argument("--out", required=True)
a = p.parse_args()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

t0 = time.perf_counter()
import lm_eval
from lm_eval import simple_evaluate
from lm_eval.api.registry import get_model
from lm_eval.tasks import TaskManager
import_s = time.perf_counter() - t0

# Time the generation requests: wrap the model class's generate_until (the only place lm-eval talks to the server).
cls = get_model(a.model)
_orig = cls.generate_until
gen = {"s": 0.0, "calls": 0, "requests": 0}

def timed_generate_until(self, requests, *args, **kw):
    t = time.perf_counter()
    try: return _orig(self, requests, *args, **kw)
    finally:
        gen["s"] += time.perf_counter() - t
        gen["calls"] += 1
        gen["requests"] += len(requests)

cls.generate_until = timed_generate_until

t1 = time.perf_counter()
tm = TaskManager(include_path=a.include_path, include_defaults=False)   # only our task: no scan of the built-in ones
res = simple_evaluate(model=a.model, model_args=json.loads(a.model_args), tasks=[a.task], task_manager=tm,
                      batch_size=1, log_samples=True)
evaluate_s = time.perf_counter() - t1

samples = []
for s in res["samples"][a.task]:
    samples.append(dict(doc_id=s["doc_id"], id=s["doc"].get("id"), filter=s["filter"], target=s["target"],
                        prompt=s["arguments"][0][0], gen_kwargs=s["arguments"][0][1], resp=s["resps"][0][0],
                        filtered=s["filtered_resps"][0], exact_match=s.get("exact_match")))

from importlib.metadata import version
out = dict(lm_eval_version=version("lm-eval"), python=sys.version.split()[0],
           model=a.model, model_args=json.loads(a.model_args), task=a.task,
           results=res["results"][a.task], n_samples=res.get("n-samples", {}).get(a.task),
           config=res.get("configs", {}).get(a.task), import_s=import_s, evaluate_s=evaluate_s, generate_s=gen["s"],
           generate_calls=gen["calls"], generate_requests=gen["requests"], samples=samples)
with open(a.out, "w", encoding="utf-8") as f: json.dump(out, f, indent=1, ensure_ascii=False, default=str)
print(f"lm-eval: {gen['requests']} requests in {gen['s']:.2f} s (simple_evaluate {evaluate_s:.2f} s, import {import_s:.2f} s)",
      file=sys.stderr)
