"""Studies on a real Ray cluster on loopback: a head and a second node started by the test (`ray start --block`, stopped
by PID), arms logged to a real `mlflow server` on PostgreSQL; the second node killed mid-arm."""
import json, os, re, shutil, subprocess, sys, threading, time
from pathlib import Path

import pytest

from conftest import free_port
from llmforge.pipeline.executor import ray_env

pytestmark = pytest.mark.slow   # a real cluster, a real model and real servers: skipped by the fast tier
pytest.importorskip("ray", reason="needs Ray: pip install 'llmforge[cluster]'")

LLMFORGE = shutil.which("llmforge") or "llmforge"

STUDY = """\
study: cluster
description: "Four arms of SmolLM2 on TriviaQA, spread over a Ray cluster"
base:
  model: smollm2-135m-instruct
  engine: {kind: llama_cpp, n_ctx: 1024}
  dataset: triviaqa
  n: 12
  seed: 0
  generation: {temperature: 0.0, max_tokens: 48}
  runner: {batch_size: 1}   # sequential decoding: a resumed arm batches other items together, and batched greedy outputs can differ
arms:
  naive: {method: {name: naive}}
  cot: {method: {name: cot, options: {shots: 0}}}
  naive_short: {method: {name: naive}, generation: {max_tokens: 16}}
  cot_long: {method: {name: cot, options: {shots: 0}}, generation: {max_tokens: 64}}
compare: {baseline: naive, metrics: [accuracy, f1]}
tracking: {experiment: cluster-study}
executor: {kind: ray, num_cpus: 1, max_retries: 3}
"""


def _nodes(address: str) -> dict:
    "The cluster's alive nodes as {'head': id8, 'others': [id8, ...]} (asked from a short-lived driver)."
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR', include_dashboard=False); "
            "print(json.dumps([[n['NodeID'][:8], 'node:__internal_head__' in n['Resources']] for n in ray.nodes() if n['Alive']]))" % address)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **ray_env()})
    nodes = json.loads(p.stdout.strip().splitlines()[-1])
    return dict(head=next(i for i, h in nodes if h), others=[i for i, h in nodes if not h])


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    "A head node and a second node on this machine, one CPU each; (head, second, address); both stopped by PID after the module."
    from llmforge.pipeline.executor import RayNode, wait_for_nodes
    logs = tmp_path_factory.mktemp("ray-logs")
    head = RayNode(head=True, port=free_port(), num_cpus=1, log=logs / "head.log")
    second = None
    try:
        wait_for_nodes(head.address, 1)
        second = RayNode(head=False, address=head.address, num_cpus=1, log=logs / "second.log")
        wait_for_nodes(head.address, 2)
        yield head, second, head.address
    finally:
        if second is not None: second.stop(15)
        head.stop(15)


def _arm_lines(out: str, cwd: Path) -> dict:
    "The `arm K: run ID STATUS (node N, attempt A)  report PATH` lines the CLI prints, by arm (paths from `cwd`)."
    arms = {}
    for m in re.finditer(r"^arm (\S+): run (\w+) (\w+)(?: \(node (\w+), attempt (\d+)\))?  report (\S+)", out, re.M):
        arms[m[1]] = dict(run_id=m[2], status=m[3], node=m[4], attempt=int(m[5] or 0), json=cwd / (m[6][:-len(".html")] + ".json"))
    return arms


def _answers(arms: dict) -> dict:
    "Each arm's (example id, raw model output) pairs, from its results JSON."
    return {k: [(r["id"], r["raw_output"]) for r in json.loads(Path(a["json"]).read_text())["records"]] for k, a in arms.items()}


def test_study_spread_over_two_nodes_survives_a_node_killed_mid_arm(ray_cluster, postgres_mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient
    from llmforge.pipeline.config import load_study, config_hash
    from llmforge.data.datasets import load_dataset, slice_hash
    head, second, address = ray_cluster
    nodes = _nodes(address)
    assert len(nodes["others"]) == 1
    other = nodes["others"][0]
    w = tmp_path / "cluster"; w.mkdir()
    (w / "study.yaml").write_text(STUDY)
    home = w / "home"
    env = {**os.environ, "MLFLOW_TRACKING_URI": postgres_mlflow_server, "LLMFORGE_HOME": str(home), "RAY_ADDRESS": address}
    t0 = time.monotonic()
    proc = subprocess.Popen([LLMFORGE, "run", "study.yaml", "--executor", "ray"], cwd=w, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        # wait until an arm runs on the second node and has finished two examples there, then kill that node
        study = load_study(w / "study.yaml")
        victim, deadline = None, time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            started = [re.search(r"arm (\S+) started on node (\w+)", l) for l in list(lines)]
            on_other = [m[1] for m in started if m and m[2] == other]
            if on_other:
                victim = on_other[0]
                cfg = study.arms[victim]
                store = home / "runs" / f"{config_hash(cfg)}-{slice_hash(load_dataset(cfg.dataset).sample(cfg.n, cfg.seed))[:12]}" / "records.jsonl"
                if store.exists() and len(store.read_text().splitlines()) >= 2: break
            time.sleep(0.2)
        assert victim is not None and proc.poll() is None, "no arm reached two examples on the second node:\n" + "".join(lines)
        n_before_kill = len(store.read_text().splitlines())
        second.kill()
        assert second.proc.poll() is not None
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None: proc.kill()
        reader.join(10)
    ray_s = time.monotonic() - t0
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert re.search(r"^study \w+ \(study.yaml\): FINISHED", out, re.M), out
    arms = _arm_lines(out, w)
    assert sorted(arms) == sorted(study.arms) and all(a["status"] == "FINISHED" for a in arms.values()), out
    # the arms were spread over both nodes; the killed node's arm was retried on the head, as a second attempt
    assert re.search(rf"arm \S+ started on node {nodes['head']}$", out, re.M) and re.search(rf"started on node {other}$", out, re.M)
    assert re.search(rf"arm {victim} started on node {nodes['head']} \(attempt 2", out), out
    assert (arms[victim]["node"], arms[victim]["attempt"]) == (nodes["head"], 2), out

    # MLflow on PostgreSQL: one finished child per arm under the study's run, the killed attempt's child closed as KILLED
    client = MlflowClient(postgres_mlflow_server)
    parent = re.search(r"^study (\w+) ", out, re.M)[1]
    children = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    finished = {r.data.tags["llmforge.arm"]: r for r in children if r.info.status == "FINISHED"}
    assert sorted(finished) == sorted(study.arms)
    assert {k: r.info.run_id for k, r in finished.items()} == {k: a["run_id"] for k, a in arms.items()}
    killed = [r for r in children if r.info.status == "KILLED"]
    assert len(killed) == 1 and killed[0].data.tags["llmforge.arm"] == victim
    assert killed[0].data.tags["llmforge.superseded_by"] == arms[victim]["run_id"]
    # one CPU per node, one CPU per arm: no two arms ever ran on the same node at the same time
    by_node: dict = {}
    for r in finished.values(): by_node.setdefault(r.data.tags["llmforge.ray_node"], []).append((r.info.start_time, r.info.end_time))
    for spans in by_node.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1000 for a, b in zip(spans, spans[1:])), f"arms overlapped on one node: {spans}"
    retried = finished[victim]
    assert retried.data.tags["llmforge.ray_node"] == nodes["head"] and retried.data.tags["llmforge.attempt"] == "2"
    # the retry resumed from the examples the killed attempt had finished, and did only the rest
    assert retried.data.metrics["n_resumed"] >= min(n_before_kill, 2)
    assert retried.data.metrics["n_resumed"] + retried.data.metrics["n_new"] == 12
    assert client.get_run(parent).info.status == "FINISHED"
    assert "accuracy" in "".join(client.get_run(parent).data.metrics)

    # the same study run here, one arm after another, with nothing reused: the same answers, item by item
    loc = tmp_path / "local"; loc.mkdir()
    (loc / "study.yaml").write_text(STUDY)
    t1 = time.monotonic()
    p = subprocess.run([LLMFORGE, "run", "study.yaml", "--executor", "local", "--no-cache", "--quiet"], cwd=loc, text=True,
                       capture_output=True, timeout=900, env={**os.environ, "LLMFORGE_HOME": str(loc / "home")})
    local_s = time.monotonic() - t1
    assert p.returncode == 0, p.stdout + p.stderr
    local = _arm_lines(p.stdout, loc)
    assert sorted(local) == sorted(arms) and all(a["node"] is None for a in local.values())
    ray_answers, local_answers = _answers(arms), _answers(local)
    assert all(len(v) == 12 for v in ray_answers.values())
    assert ray_answers == local_answers
    print(f"\ncluster study: {ray_s:.0f} s on Ray with a node killed mid-arm (arm {victim}, {n_before_kill} examples in), "
          f"{local_s:.0f} s locally")


def test_ray_executor_errors_are_one_line(tmp_path):
    "A cluster that does not answer, or an arm larger than any node: one line naming the field, exit 2, nothing created."
    (tmp_path / "s.yaml").write_text(STUDY.replace("model: smollm2-135m-instruct", "model: mock").replace("kind: llama_cpp, n_ctx: 1024", "kind: mock"))
    env = {**os.environ, "LLMFORGE_HOME": str(tmp_path / "home")}
    env.pop("RAY_ADDRESS", None)
    p = subprocess.run([LLMFORGE, "run", "s.yaml", "--ray-address", f"127.0.0.1:{free_port()}"], cwd=tmp_path, text=True,
                       capture_output=True, timeout=120, env=env)
    assert p.returncode == 2 and p.stderr.startswith("error: executor.address: no Ray cluster answers at 127.0.0.1:"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not (tmp_path / "mlflow.db").exists()
