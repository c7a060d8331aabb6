"End to end: `llmforge run` with the real SmolLM2 model through papermill into MLflow, and the failure paths."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow   # the real SmolLM2 model through papermill: skipped by the fast tier (pytest tests --fast)
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
LLMFORGE = shutil.which("llmforge") or "llmforge"   # the console script the README uses

def llmforge(*args, cwd, env=None):
    return subprocess.run([LLMFORGE, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("run")
    home = tmp_path_factory.mktemp("home")
    p = llmforge("run", str(ROOT / "params" / "quickstart.yaml"), "--set", "n=4", "--quiet", cwd=wd, env={"LLMFORGE_HOME": str(home)})
    return wd, home, p

def test_quickstart_run_lands_in_mlflow_with_report(quick_run):
    wd, home, p = quick_run
    assert p.returncode == 0, p.stdout + p.stderr
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("quickstart")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["n"] == 4 and 0 <= run.data.metrics["accuracy"] <= 1
    assert run.data.params["model"] == "smollm2-135m-instruct"
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"records.json", "manifest.json", "report"} <= arts, arts
    report = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert any(x.endswith(".html") for x in report) and any(x.endswith(".ipynb") for x in report)
    html = next((wd / "reports").glob("quickstart-*.html")).read_text()
    assert "accuracy" in html and "latency p50" in html and "data:image/png;base64" in html   # cards and the histogram
    assert "run_experiment(" not in html                                                        # code cells are hidden
    data = json.loads(next((wd / "reports").glob("quickstart-*.json")).read_text())
    assert len(data["records"]) == 4 and data["manifest"]["model_sha256"]

def test_rerun_is_served_from_cache(quick_run):
    wd, home, _ = quick_run
    p = llmforge("run", str(ROOT / "params" / "quickstart.yaml"), "--set", "n=4", "--quiet", cwd=wd, env={"LLMFORGE_HOME": str(home)})
    assert p.returncode == 0, p.stderr
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id], order_by=["start_time DESC"])
    assert runs[0].data.metrics["n_cached"] == 4
    assert runs[0].data.metrics["accuracy"] == runs[1].data.metrics["accuracy"]

def test_invalid_config_fails_before_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmethod: {name: cott}\n")
    p = llmforge("run", str(bad), cwd=tmp_path)
    assert p.returncode == 2
    assert "method.name: 'cott' is not one of:" in p.stderr and "naive" in p.stderr
    assert not (tmp_path / "mlflow.db").exists()

def test_malformed_dataset_line_fails_before_a_run_exists(tmp_path):
    ds = tmp_path / "broken.jsonl"
    ds.write_text('{"id": "1", "question": "q", "answers": ["a"]}\n{"id": "2", "question": \n')
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(f"name: broken\ndataset: {ds}\nmodel: mock\nengine: mock\n")
    p = llmforge("run", str(cfg), "--quiet", cwd=tmp_path, env={"LLMFORGE_HOME": str(tmp_path / "home")})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {ds}:2: invalid JSON (Expecting value at column "), p.stderr
    assert not (tmp_path / "mlflow.db").exists()

def test_failing_notebook_marks_run_failed(tmp_path):
    model = tmp_path / "corrupt.gguf"
    model.write_bytes(b"GGUF" + bytes(4096))          # passes the magic-bytes check; llama.cpp cannot load it
    cfg = tmp_path / "corrupt.yaml"
    cfg.write_text(f"name: corrupt\nmodel: {model}\nn: 2\n")
    p = llmforge("run", str(cfg), "--quiet", cwd=tmp_path, env={"LLMFORGE_HOME": str(tmp_path / "home")})
    assert p.returncode == 1
    err = [l for l in p.stderr.splitlines() if l.strip().startswith("error:")]
    assert len(err) == 1 and "traceback in" in err[0] and "Traceback" not in p.stderr, p.stderr   # one line, not a traceback
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("llmforge").experiment_id])[0]
    assert run.info.status == "FAILED"
    assert list((tmp_path / "reports").glob("corrupt-*.html")), "the partial report of a failed run is kept"


STUDY = """study: qs_methods
description: "naive vs zero-shot CoT on four quickstart questions"
base:
  model: smollm2-135m-instruct
  engine: {kind: llama_cpp, n_ctx: 2048, n_threads: 1}
  dataset: quickstart
  n: 4
  seed: 0
  generation: {temperature: 0.0, max_tokens: 48}
arms:
  naive: {method: {name: naive}}
  cot: {method: {name: cot, options: {shots: 0}}}
compare: {baseline: naive}
tracking: {experiment: study-test}
"""

@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("study")
    (wd / "study.yaml").write_text(STUDY)
    p = llmforge("run", str(wd / "study.yaml"), "--quiet", cwd=wd, env={"LLMFORGE_HOME": str(wd / "home")})
    return wd, p

def test_study_runs_arms_as_child_runs_then_compares_them(study_run):
    wd, p = study_run
    assert p.returncode == 0, p.stdout + p.stderr
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    eid = client.get_experiment_by_name("study-test").experiment_id
    parent = client.search_runs([eid], "tags.`llmforge.kind` = 'study'")[0]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "qs_methods"
    children = client.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(c.data.tags["llmforge.arm"] for c in children) == ["cot", "naive"]
    assert all(c.info.status == "FINISHED" and c.data.metrics["n"] == 4 for c in children)
    ids = {c.data.tags["llmforge.arm"]: c.info.run_id for c in children}
    assert json.loads(parent.data.tags["llmforge.inputs"]) == ids           # the comparison links its inputs
    m = parent.data.metrics
    assert m["cot_vs_naive.accuracy.n"] == 4 and 0 <= m["cot_vs_naive.accuracy.p"] <= 1
    assert m["cot_vs_naive.accuracy.fixed"] + m["cot_vs_naive.accuracy.broke"] <= 4
    assert m["cot_vs_naive.completion_tokens.diff"] > 0                      # reasoning costs tokens
    cpu = [c.data.metrics["cpu_time_s"] for c in children]                   # what each arm and the study took
    assert all(x > 0 for x in cpu) and m["study_cpu_time_s"] == pytest.approx(sum(cpu))
    assert m["study_peak_rss_mb"] == max(c.data.metrics["peak_rss_mb"] for c in children) > 0 and m["study_wall_s"] > 0
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.json", "charts", "report", "config"} <= arts, arts
    charts = {a.path for a in client.list_artifacts(parent.info.run_id, "charts")}
    assert {"charts/metric_bars.png", "charts/pareto_tokens.png", "charts/accuracy_vs_latency.png"} <= charts
    html = (wd / "reports" / f"qs_methods-{parent.info.run_id[:8]}.html").read_text()
    assert sorted(x.name.rsplit("-", 1)[0] for x in (wd / "reports").glob("qs_methods-*-*.html")) == ["qs_methods-cot", "qs_methods-naive"]
    for text in ("Differences against the baseline", "fixed / broke", "matched 4 items by example id", "data:image/png;base64"):
        assert text in html, text
    assert "resolve_runs(" not in html                                      # code hidden

def test_compare_study_file_finds_the_arms_latest_runs(study_run):
    wd, _ = study_run
    p = llmforge("compare", str(wd / "study.yaml"), "--quiet", cwd=wd)
    assert p.returncode == 0, p.stdout + p.stderr
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    eid = client.get_experiment_by_name("study-test").experiment_id
    cmp_run = client.search_runs([eid], "tags.`llmforge.kind` = 'comparison'")[0]
    arms = {c.data.tags["llmforge.arm"]: c.info.run_id for c in client.search_runs([eid], "tags.`llmforge.arm` != ''")}
    assert json.loads(cmp_run.data.tags["llmforge.inputs"]) == arms
    assert cmp_run.data.params["baseline"] == "naive"                        # from the study's compare section

def _mock_run(wd, name, lines, n=None):
    ds = wd / f"{name}.jsonl"
    ds.write_text("".join(json.dumps(l) + "\n" for l in lines))
    (wd / f"{name}.yaml").write_text(f"name: {name}\ndataset: {ds}\nmodel: mock\nengine: {{kind: mock}}\n"
                                     + (f"n: {n}\n" if n else "") + "tracking: {experiment: mocks}\n")
    p = llmforge("run", str(wd / f"{name}.yaml"), "--quiet", cwd=wd, env={"LLMFORGE_HOME": str(wd / "home")})
    return p.stdout.split()[1].rstrip(":")

def test_compare_reports_what_was_matched_and_dropped(tmp_path):
    q = lambda i, text="q": {"id": str(i), "question": f"{text} {i}?", "answers": ["a"]}
    a = _mock_run(tmp_path, "a", [q(1), q(2), q(3, "<<FAIL>>"), q(4), q(5), q(6)])
    b = _mock_run(tmp_path, "b", [q(1), q(2), q(3, "<<FAIL>>"), q(4), q(5), q(7)])
    p = llmforge("compare", f"a={a}", f"b={b}", "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(next((tmp_path / "reports").glob("compare-a-vs-b-*.json")).read_text())
    msg = out["matching"]["b vs a"]
    assert msg.startswith("matched 5 items by example id; dropped 1 only in a (6); dropped 1 only in b (7)")
    assert "1 matched items failed in a (3)" in msg and "1 matched items failed in b (3)" in msg
    assert "matched 5 items by example id" in next((tmp_path / "reports").glob("compare-a-vs-b-*.html")).read_text()
    c = _mock_run(tmp_path, "c", [q(100), q(101)])
    p = llmforge("compare", f"a={a}", f"c={c}", "--quiet", cwd=tmp_path)
    assert p.returncode == 2 and "have no example ids in common" in p.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    kinds = [r.data.tags.get("llmforge.kind") for r in client.search_runs([client.get_experiment_by_name("mocks").experiment_id])]
    assert kinds.count("comparison") == 1                                     # the refused comparison created no run
