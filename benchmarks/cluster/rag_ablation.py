"""The retrieval ablation (`params/rag_ablation_hotpotqa.yaml`: 4 retrievers x 4 k x 3 chunk sizes + closed book, 49 arms,
50 HotpotQA items each) run by `llmforge run --executor ray` on a Ray cluster started on this machine, tracked on an MLflow
server over PostgreSQL, both started here and stopped by PID.

Each invocation is one measured run, appended to `--workdir/runs.jsonl`: its nodes and CPUs, wall time, the study's run,
and per arm (from MLflow) where it ran, its attempt, its seconds in the task, in the loop and at start-up. `--collect`
tabulates the whole-study runs among them with the ablation's findings and writes `benchmarks/results/rag_ablation.json`.

    python benchmarks/cluster/rag_ablation.py --workdir ~/ablation --nodes 2               # the whole study (hours)
    python benchmarks/cluster/rag_ablation.py --workdir ~/ablation --collect

How the wall time scales from the sequential executor to one and two workers is `benchmarks/cluster/scaling.py` (a
sub-study in alternating rounds); `--arms` and `--local` here are for a quick look.
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench
import json, os, subprocess, time

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "params" / "rag_ablation_hotpotqa.yaml"


def sub_study(path: Path, n_arms: int, out: Path) -> Path:
    "The study with only its first `n_arms` arms (the baseline first), written to `out`."
    import yaml
    from llmforge.pipeline.config import sweep_arms
    d = yaml.safe_load(path.read_text())
    arms = {**d.get("arms", {}), **sweep_arms(d.pop("sweep", {}))}
    d["arms"] = dict(list(arms.items())[:n_arms])
    d["study"] = f"{d['study']}-{n_arms}arms"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


def arm_rows(url: str, study_run: str) -> list[dict]:
    "Per arm of the study's run: status, node, attempt, seconds (task, notebook, loop, start-up), accuracy."
    from mlflow.tracking import MlflowClient
    c = MlflowClient(url)
    parent = c.get_run(study_run)
    rows = []
    for r in c.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{study_run}'", max_results=1000):
        m, t = r.data.metrics, r.data.tags
        rows.append(dict(arm=t.get("llmforge.arm"), run_id=r.info.run_id, status=r.info.status, node=t.get("llmforge.ray_node"),
                         attempt=int(t.get("llmforge.attempt", 0) or 0),
                         run_s=round((r.info.end_time - r.info.start_time) / 1000, 2) if r.info.end_time else None,
                         notebook_s=m.get("notebook_wall_s"), loop_s=m.get("wall_time_s"), startup_s=m.get("startup_s"),
                         n_resumed=m.get("n_resumed"), n_cached=m.get("n_cached"), n=m.get("n"), accuracy=m.get("accuracy")))
    return rows


def run_once(a) -> dict:
    from llmforge.tracking.services import tracking_server, free_port
    from llmforge.pipeline.executor import RayNode, wait_for_nodes
    study = STUDY if not a.arms else sub_study(STUDY, a.arms, a.workdir / f"study-{a.arms}arms.yaml")
    env = {**os.environ, "LLMFORGE_HOME": str(a.workdir / "home"), "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    nodes = []
    with tracking_server(a.workdir / "tracking") as srv:
        try:
            if a.local: cmd = ["llmforge", "run", str(study), "--executor", "local"]
            else:
                nodes.append(RayNode(head=True, port=free_port(), num_cpus=a.cpus, log=a.workdir / "ray-node0.log"))
                wait_for_nodes(nodes[0].address, 1)
                for i in range(1, a.nodes):
                    nodes.append(RayNode(head=False, address=nodes[0].address, num_cpus=a.cpus, log=a.workdir / f"ray-node{i}.log"))
                wait_for_nodes(nodes[0].address, a.nodes)
                cmd = ["llmforge", "run", str(study), "--executor", "ray", "--ray-address", nodes[0].address]
            cmd += [x for s in a.set for x in ("--set", s)]
            started = time.time(); t0 = time.perf_counter()
            with open(a.workdir / "driver.log", "a") as log:
                log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n"); log.flush()
                p = subprocess.run(cmd, cwd=a.workdir, env={**env, "MLFLOW_TRACKING_URI": srv.url}, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
            wall = time.perf_counter() - t0
            text = (a.workdir / "driver.log").read_text().rsplit("\n=== ", 1)[-1]
            study_run = next((l.split()[1] for l in text.splitlines() if l.startswith("study ")), None)
            rec = dict(label=a.label or ("local" if a.local else f"{a.nodes}x{a.cpus}"), executor="local" if a.local else "ray",
                       nodes=0 if a.local else a.nodes, cpus_per_node=a.cpus, arms=a.arms or 49, set=a.set,
                       started=started, wall_s=round(wall, 1), returncode=p.returncode, study_run=study_run,
                       load=os.getloadavg(), per_arm=arm_rows(srv.url, study_run) if study_run else [])
        finally:
            for n in reversed(nodes): n.stop(15)
    with open(a.workdir / "runs.jsonl", "a") as f: f.write(json.dumps(rec) + "\n")
    return rec


FACTORS = {"retriever": r"retriever-(\w+?)_", "k": r"_k-(\d+)_", "chunk_size": r"chunk_size-(\d+)$"}
METRICS = ("accuracy", "f1", "contains")


def arm_records(workdir: Path, rec: dict) -> dict:
    "Each finished arm's records, from its report JSON in --workdir/reports."
    from llmforge.core.types import Record
    out = {}
    for r in rec["per_arm"]:
        if r["status"] != "FINISHED": continue
        if r.get("run_id"): f = next((workdir / "reports").glob(f"*-{r['arm']}-{r['run_id'][:8]}.json"))   # named by its run
        else:      # a record without run ids: the arm's newest results written during this run
            f = max((p for p in (workdir / "reports").glob(f"rag_ablation_hotpotqa-{r['arm']}-????????.json")
                     if p.stat().st_mtime >= rec["started"]), key=lambda p: p.stat().st_mtime)
        out[r["arm"]] = [Record.from_dict(x) for x in json.loads(f.read_text())["records"]]
    return out


def findings(bench, runs: dict) -> None:
    "Every arm against closed book, the best arm against every other, and each factor's levels against each other."
    import re
    import numpy as np
    from llmforge.eval.stats import compare_many, paired_bootstrap_diff, wilcoxon_test, adjust_pvalues, metric_value
    fmt = lambda pc: f"{pc.diff:+.3f} [{pc.diff_low:+.3f}, {pc.diff_high:+.3f}] p {pc.p_holm:.2g}"
    vs_closed = compare_many(runs, METRICS, baseline="closed_book")
    by = {(pc.label_b, pc.metric): pc for pc in vs_closed}
    arms = [a for a in runs if a != "closed_book"]
    rank = sorted(arms, key=lambda a: -by[(a, "f1")].mean_b)
    bench.table("every arm against closed book (paired difference [95% CI], Holm over the 48 arms), best F1 first",
                [{"arm": a, **{m: f"{by[(a, m)].mean_b:.3f} ({fmt(by[(a, m)])})" for m in METRICS}} for a in rank])
    best = rank[0]
    vs_best = compare_many({best: runs[best], **{a: runs[a] for a in arms if a != best}}, ("f1", "accuracy"), baseline=best)
    worse = [pc for pc in vs_best if pc.metric == "f1" and pc.p_holm < 0.05 and pc.diff < 0]
    bench.fact(best_arm=best, best_f1=round(by[(best, "f1")].mean_b, 4), closed_book_f1=round(by[(best, "f1")].mean_a, 4),
               best_vs_closed_book={m: fmt(by[(best, m)]) for m in METRICS},
               arms_significantly_better_than_closed_book={m: sum(1 for a in arms if by[(a, m)].p_holm < 0.05 and by[(a, m)].diff > 0) for m in METRICS},
               arms_significantly_worse_than_best_on_f1=len(worse), arms_compared_with_best=len(arms) - 1)
    bench.table(f"the best arm ({best}) against the next ten by F1 (difference other - best, Holm over the 47 others)",
                [{"arm": pc.label_b, "metric": pc.metric, "difference": fmt(pc)} for pc in vs_best
                 if pc.label_b in rank[1:11]])
    ids = [r.id for r in runs["closed_book"]]
    def item_scores(arm, metric):
        d = {r.id: metric_value(r, metric) for r in runs[arm]}
        return np.array([d[i] if d.get(i) is not None else 0.0 for i in ids], dtype=float)
    rows = []
    for factor, pat in FACTORS.items():
        levels = {}
        for a in arms: levels.setdefault(re.search(pat, a)[1], []).append(a)
        for metric in ("f1", "accuracy"):
            means = {lv: np.mean([item_scores(a, metric) for a in ax], axis=0) for lv, ax in levels.items()}
            order = sorted(means, key=lambda lv: -means[lv].mean())
            pairs = [(order[0], lv) for lv in order[1:]]
            ps = [wilcoxon_test(means[b] - means[a])["pvalue"] for a, b in pairs]
            for (a, b), p in zip(pairs, adjust_pvalues(ps)):
                ci = paired_bootstrap_diff(means[a], means[b])
                rows.append(dict(factor=factor, metric=metric, best=a, best_mean=round(means[a].mean(), 4), other=b,
                                 other_mean=round(means[b].mean(), 4), difference=f"{ci.estimate:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]",
                                 p_holm=round(float(p), 4), arms_per_level=len(levels[a])))
    bench.table("each factor: its best level against the others, item scores averaged over the other factors' arms "
                "(Wilcoxon signed-rank, Holm within the factor)", rows)


def collect(bench, workdir: Path) -> None:
    recs = [json.loads(l) for l in (workdir / "runs.jsonl").read_text().splitlines() if l.strip()]
    full = [r for r in recs if r["arms"] == 49 and r["returncode"] == 0 and not r["set"]]
    rows = []
    for r in recs:
        if r["arms"] != 49 or r["set"]: continue           # sub-studies and overrides: a quick look, not the study
        arms = [x for x in r["per_arm"] if x["status"] == "FINISHED"]
        loops = [x["loop_s"] or 0 for x in arms]
        over = [x["run_s"] - (x["loop_s"] or 0) for x in arms if x["run_s"] is not None]
        rows.append(dict(label=r["label"], executor=r.get("executor", "ray"), nodes=r["nodes"], cpus_per_node=r["cpus_per_node"], arms=len(arms), set=" ".join(r["set"]),
                         wall_s=r["wall_s"], sum_arm_run_s=round(sum(x["run_s"] or 0 for x in arms), 1),
                         sum_loop_s=round(sum(loops), 1), overhead_per_arm_s=round(sum(over) / max(1, len(over)), 2),
                         startup_first_s=max((x["startup_s"] or 0 for x in arms), default=0),
                         retried=sum(1 for x in arms if x["attempt"] > 1)))
    bench.table("whole-study runs: wall time, the arms' own time summed, per-arm overhead (run time - loop time)", rows)
    builds = [json.loads(m.read_text()) for m in sorted((workdir / "home" / "indexes").glob("*/meta.json"))]
    bench.fact(index_builds=[dict(chunk_size=b["chunk_size"], chunks=b["n_chunks"], seconds=round(b["build_s"]["total"], 1),
                                  embedded=b["embedded"], from_embedding_cache=b["from_cache"]) for b in builds])
    if full:
        arms = full[-1]["per_arm"]
        bench.fact(full_run_answers_from_response_cache=sum(x.get("n_cached") or 0 for x in arms),
                   full_run_answers=sum(x.get("n") or 0 for x in arms if x["status"] == "FINISHED"),
                   first_arm_startup_s=sorted((x["startup_s"] or 0 for x in arms), reverse=True)[:2],
                   later_arm_startup_s_median=sorted(x["startup_s"] or 0 for x in arms)[len(arms) // 2])
    if full:
        run = full[-1]
        findings(bench, arm_records(workdir, run))
    bench.save()


if __name__ == "__main__":
    bench = Bench(__doc__)
    p = bench.parser
    p.add_argument("--workdir", required=True, type=Path, help="folder for the tracking server's data, LLMFORGE_HOME, reports, logs")
    p.add_argument("--nodes", type=int, default=2, help="Ray nodes to start on this machine (default 2)")
    p.add_argument("--cpus", type=int, default=1, help="CPUs each node offers (each arm asks for one)")
    p.add_argument("--arms", type=int, help="only the first N arms of the study (the closed-book baseline first)")
    p.add_argument("--set", action="append", default=[], help="override for every arm, e.g. n=20")
    p.add_argument("--label", help="name of this run in the results (default NODESxCPUS, or local)")
    p.add_argument("--local", action="store_true", help="the local executor instead (arms one after another, no Ray)")
    p.add_argument("--collect", action="store_true", help="run nothing: write the results from --workdir's runs")
    a = bench.parse()
    a.workdir = a.workdir.expanduser().resolve(); a.workdir.mkdir(parents=True, exist_ok=True)
    if not a.collect:
        rec = run_once(a)
        print(json.dumps({k: v for k, v in rec.items() if k != "per_arm"}))
        sys.exit(rec["returncode"])
    collect(bench, a.workdir)
