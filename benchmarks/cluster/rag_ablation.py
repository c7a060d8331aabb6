"""The retrieval ablation (`params/rag_ablation_hotpotqa.yaml`: 4 retrievers x 4 k x 3 chunk sizes + closed book, 49 arms,
50 HotpotQA items each) run by `llmforge run --executor ray` on a Ray cluster started on this machine, tracked on an MLflow
server over PostgreSQL, both started here and stopped by PID.

Each invocation is one measured run, appended to `--workdir/runs.jsonl`: its nodes and CPUs, wall time, the study's run,
and per arm (from MLflow) where it ran, its attempt, its seconds in the task, in the loop and at start-up. `--collect`
reads them with the ablation's comparison report and writes `benchmarks/results/cluster_ablation.json`.

    python benchmarks/cluster/rag_ablation.py --workdir ~/ablation --nodes 2               # the whole study (hours)
    python benchmarks/cluster/rag_ablation.py --workdir ~/scaling --nodes 1 --arms 6 --set n=20 --label 1x1
    python benchmarks/cluster/rag_ablation.py --workdir ~/ablation --collect
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
        rows.append(dict(arm=t.get("llmforge.arm"), status=r.info.status, node=t.get("llmforge.ray_node"),
                         attempt=int(t.get("llmforge.attempt", 0) or 0),
                         run_s=round((r.info.end_time - r.info.start_time) / 1000, 2) if r.info.end_time else None,
                         notebook_s=m.get("notebook_wall_s"), loop_s=m.get("wall_time_s"), startup_s=m.get("startup_s"),
                         n_resumed=m.get("n_resumed"), accuracy=m.get("accuracy")))
    return rows


def run_once(a) -> dict:
    from llmforge.tracking.services import tracking_server, free_port
    from llmforge.pipeline.executor import RayNode, wait_for_nodes
    study = STUDY if not a.arms else sub_study(STUDY, a.arms, a.workdir / f"study-{a.arms}arms.yaml")
    env = {**os.environ, "LLMFORGE_HOME": str(a.workdir / "home"), "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    nodes = []
    with tracking_server(a.workdir / "tracking") as srv:
        try:
            nodes.append(RayNode(head=True, port=free_port(), num_cpus=a.cpus, log=a.workdir / "ray-node0.log"))
            wait_for_nodes(nodes[0].address, 1)
            for i in range(1, a.nodes):
                nodes.append(RayNode(head=False, address=nodes[0].address, num_cpus=a.cpus, log=a.workdir / f"ray-node{i}.log"))
            wait_for_nodes(nodes[0].address, a.nodes)
            cmd = ["llmforge", "run", str(study), "--executor", "ray", "--ray-address", nodes[0].address,
                   *[x for s in a.set for x in ("--set", s)]]
            started = time.time(); t0 = time.perf_counter()
            with open(a.workdir / "driver.log", "a") as log:
                log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n"); log.flush()
                p = subprocess.run(cmd, cwd=a.workdir, env={**env, "MLFLOW_TRACKING_URI": srv.url}, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
            wall = time.perf_counter() - t0
            text = (a.workdir / "driver.log").read_text().rsplit("\n=== ", 1)[-1]
            study_run = next((l.split()[1] for l in text.splitlines() if l.startswith("study ")), None)
            rec = dict(label=a.label or f"{a.nodes}x{a.cpus}", nodes=a.nodes, cpus_per_node=a.cpus, arms=a.arms or 49, set=a.set,
                       started=started, wall_s=round(wall, 1), returncode=p.returncode, study_run=study_run,
                       load=os.getloadavg(), per_arm=arm_rows(srv.url, study_run) if study_run else [])
        finally:
            for n in reversed(nodes): n.stop(15)
    with open(a.workdir / "runs.jsonl", "a") as f: f.write(json.dumps(rec) + "\n")
    return rec


if __name__ == "__main__":
    bench = Bench(__doc__)
    p = bench.parser
    p.add_argument("--workdir", required=True, type=Path, help="folder for the tracking server's data, LLMFORGE_HOME, reports, logs")
    p.add_argument("--nodes", type=int, default=2, help="Ray nodes to start on this machine (default 2)")
    p.add_argument("--cpus", type=int, default=1, help="CPUs each node offers (each arm asks for one)")
    p.add_argument("--arms", type=int, help="only the first N arms of the study (the closed-book baseline first)")
    p.add_argument("--set", action="append", default=[], help="override for every arm, e.g. n=20")
    p.add_argument("--label", help="name of this run in the results (default NODESxCPUS)")
    p.add_argument("--collect", action="store_true", help="run nothing: write the results from --workdir's runs")
    a = bench.parse()
    a.workdir = a.workdir.expanduser().resolve(); a.workdir.mkdir(parents=True, exist_ok=True)
    if not a.collect:
        rec = run_once(a)
        print(json.dumps({k: v for k, v in rec.items() if k != "per_arm"}))
        sys.exit(rec["returncode"])
    sys.exit("--collect: not written yet")
