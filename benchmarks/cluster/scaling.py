"""How a study's wall time scales with Ray workers on this machine: the first `--arms` arms of the retrieval ablation
(`params/rag_ablation_hotpotqa.yaml`, closed book first) with `--set` overrides, run by `llmforge run` with the local
executor (arms one after another, llama.cpp on every core), on a Ray cluster of one node with one CPU (one worker),
and on two nodes with one CPU each (two workers), in alternating rounds, each tracked on its own MLflow server over
PostgreSQL started and stopped by the script.

The indexes the arms need are built once, untimed, before the first round (a warm-up run of one item per arm); the
response cache is off (`runner.cache=false`), so every round generates every answer.

    python benchmarks/cluster/scaling.py --workdir ~/scaling              # 7 arms x 20 items, 2 rounds: about 25 minutes
    python benchmarks/cluster/scaling.py --workdir ~/scaling --arms 3 --set n=4 --rounds 1 --out /tmp/x.json   # quick
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench
import argparse, json
from rag_ablation import run_once   # the same measured run as the full ablation's (cluster/ is on sys.path as the script's folder)


def variant(a, label: str, local: bool, nodes: int, cpus: int, sets: list[str]):
    "One measured `llmforge run` of the sub-study; its wall time, the arms' own time and overhead, and its answers."
    def run(rnd: int) -> dict:
        rec = run_once(argparse.Namespace(workdir=a.workdir, arms=a.arms, local=local, nodes=nodes, cpus=cpus, set=sets,
                                          label=f"{label} round {rnd}"))
        if rec["returncode"] != 0: raise SystemExit(f"{label}: llmforge run exited {rec['returncode']} (see {a.workdir}/driver.log)")
        arms = [x for x in rec["per_arm"] if x["status"] == "FINISHED"]
        over = [x["run_s"] - (x["loop_s"] or 0) for x in arms if x["run_s"] is not None]
        return dict(s=rec["wall_s"], arms_finished=len(arms), sum_arm_run_s=round(sum(x["run_s"] or 0 for x in arms), 1),
                    sum_loop_s=round(sum(x["loop_s"] or 0 for x in arms), 1), overhead_per_arm_s=round(sum(over) / max(1, len(over)), 2),
                    nodes_used=len({x["node"] for x in arms if x["node"]}), retried=sum(1 for x in arms if x["attempt"] > 1),
                    _accuracy={x["arm"]: x["accuracy"] for x in arms})
    return run


if __name__ == "__main__":
    bench = Bench(__doc__, rounds=2)
    p = bench.parser
    p.add_argument("--workdir", required=True, type=Path, help="folder for the tracking servers' data, LLMFORGE_HOME, reports, logs")
    p.add_argument("--arms", type=int, default=7, help="the first N arms of the ablation (default 7)")
    p.add_argument("--set", action="append", default=None, help="override for every arm (default: n=20 and runner.cache=false)")
    a = bench.parse()
    a.workdir = a.workdir.expanduser().resolve(); a.workdir.mkdir(parents=True, exist_ok=True)
    sets = a.set or ["n=20", "runner.cache=false"]
    if not any(s.startswith("runner.cache") for s in sets): sets.append("runner.cache=false")
    warm = run_once(argparse.Namespace(workdir=a.workdir, arms=a.arms, local=True, nodes=0, cpus=1, set=[*sets, "n=1"], label="warm-up"))
    bench.fact(warm_up_s=warm["wall_s"], warm_up_returncode=warm["returncode"], arms=a.arms, overrides=sets)
    c = bench.compare(f"the ablation's first {a.arms} arms ({' '.join(sets)}): wall time by executor", {
        "2 workers (2 nodes x 1 CPU)": variant(a, "2 workers", False, 2, 1, sets),
        "1 worker (1 node x 1 CPU)": variant(a, "1 worker", False, 1, 1, sets),
        "local executor (sequential)": variant(a, "local", True, 0, 1, sets)},
        ratio_of=["s"])
    acc = [{v: row[v]["_accuracy"] for v in c.variants} for row in c.rounds]
    bench.fact(same_accuracy_every_arm_every_run=all(len({json.dumps(r[v], sort_keys=True) for v in r}) == 1 for r in acc)
               and len({json.dumps(next(iter(r.values())), sort_keys=True) for r in acc}) == 1)
    bench.save()
