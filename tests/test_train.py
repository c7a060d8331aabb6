"""`llmforge train`: bad training files refused in one line before any run; a real LoRA SFT run through the CLI killed with
SIGKILL after a checkpoint resumes from it when run again, and MLflow shows the killed run as KILLED."""
import json, os, re, shutil, signal, subprocess, time
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient
from llmforge.pipeline.cli import main

LLMFORGE = shutil.which("llmforge") or "llmforge"

@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    "A small SFT prep folder and a small preference prep folder (no PII scan, for speed)."
    d = tmp_path_factory.mktemp("prepared")
    from llmforge.prep.config import PrepConfig
    from llmforge.prep.build import prepare
    for inp, fmt, out in (("project:training/self_instruct_seed_tasks.jsonl", "sft", "sft"),
                          ("project:training/hh_rlhf_harmless_base_test.jsonl.gz", "preference", "pref")):
        prepare(PrepConfig(input=inp, format=fmt, output=str(d / out), limit=40, pii={"enabled": False},
                           decontaminate={"enabled": False}, max_tokens=256,
                           split={"sizes": {"train": 0.8, "validation": 0.2}}), log=lambda s: None)
    return d

def yaml_for(data, kind="sft", out="run", extra="") -> str:
    return f"name: t\nkind: {kind}\ndata: {data}\noutput: {out}\nmax_length: 256\ntracking: {{experiment: train-test}}\n{extra}"

CASES = {
    "unknown-kind":   (lambda d: yaml_for(d / "sft", kind="ppo"), "kind: 'ppo' is not allowed"),
    "data-not-prep":  (lambda d: yaml_for(d), "is not a folder written by llmforge prep (no card.json)"),
    "sft-on-pairs":   (lambda d: yaml_for(d / "pref", kind="sft"), "holds 'preference' rows; sft training needs 'sft' data"),
    "dpo-on-sft":     (lambda d: yaml_for(d / "sft", kind="dpo"), "dpo training needs 'preference' data"),
    "qlora-on-cpu":   (lambda d: yaml_for(d / "sft", extra="method: qlora\n"), "method: qlora needs a CUDA GPU"),
    "unknown-field":  (lambda d: yaml_for(d / "sft", extra="lora: {rank: 8}\n"), "lora.rank: unknown field"),
    "bad-lr":         (lambda d: yaml_for(d / "sft", extra="learning_rate: -1\n"), "learning_rate: -1"),
    "too-big":        (lambda d: yaml_for(d / "sft", extra="batch_size: 4096\n"), "exceeds the"),
    "model-missing":  (lambda d: yaml_for(d / "sft", extra="model: /nope/m.gguf\n"), "model: '/nope/m.gguf' is not a registered model"),
}

@pytest.mark.parametrize("case", list(CASES))
def test_bad_training_file_refused(case, prepared, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text, expected = CASES[case]
    (tmp_path / "t.yaml").write_text(text(tmp_path if case == "data-not-prep" else prepared))
    if case == "data-not-prep": (tmp_path / "run").mkdir()
    rc = main(["train", "t.yaml", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "reports").exists()
    gb = lambda s: re.sub(r"[\d.]+ GB", "N GB", s)                                           # available memory moves
    assert main(["validate", "t.yaml"]) == 2 and gb(capsys.readouterr().err.strip()) == gb(err)   # validate says the same

def test_output_folder_of_something_else_is_refused(prepared, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir(); (tmp_path / "run" / "notes.txt").write_text("mine")
    (tmp_path / "t.yaml").write_text(yaml_for(prepared / "sft"))
    assert main(["train", "t.yaml", "--quiet"]) == 2
    assert "output: run exists and is not a training output folder" in capsys.readouterr().err
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"

def test_checkpoints_of_other_settings_are_not_resumed(prepared, tmp_path, monkeypatch, capsys):
    "A re-run with a changed learning rate must not continue the old run's checkpoint: exit 2, one line, nothing touched."
    monkeypatch.chdir(tmp_path)
    from llmforge.train.trainer import TrainConfig, record_settings
    ck = tmp_path / "run" / "checkpoint-4"; ck.mkdir(parents=True); (ck / "trainer_state.json").write_text('{"global_step": 4}')
    record_settings(TrainConfig(kind="sft", data=str(prepared / "sft"), output="run", max_length=256, learning_rate=2e-4),
                    json.loads((prepared / "sft" / "card.json").read_text())["dataset_hash"])
    (tmp_path / "t.yaml").write_text(yaml_for(prepared / "sft", extra="learning_rate: 1.0e-4\n"))
    assert main(["train", "t.yaml", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds checkpoints of a run with other settings (learning_rate 0.0002 -> 0.0001)" in err, err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint-4", "run_settings.json"]
    (tmp_path / "t.yaml").write_text(yaml_for(prepared / "pref", kind="dpo"))                 # other data, other kind
    assert main(["validate", "t.yaml"]) == 2 and "other settings" in capsys.readouterr().err

@pytest.mark.slow
def test_kill_9_then_resume(prepared, tmp_path):
    "SIGKILL once checkpoint-2 is on disk; the same command again resumes from it and finishes all 6 steps."
    (tmp_path / "t.yaml").write_text(yaml_for(prepared / "sft", extra="max_steps: 6\nbatch_size: 2\nlogging_steps: 1\nsave_steps: 2\n"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    p = subprocess.Popen([LLMFORGE, "train", "t.yaml", "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (tmp_path / "run" / "checkpoint-2" / "trainer_state.json").exists():
        assert p.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.5)
    time.sleep(1.0)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert not (tmp_path / "run" / "final").exists()
    q = subprocess.run([LLMFORGE, "train", "t.yaml", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert q.returncode == 0, q.stdout + q.stderr
    card = json.loads((tmp_path / "run" / "final" / "train_card.json").read_text())
    assert card["global_step"] == 6 and card["resumed_from"].rsplit("checkpoint-", 1)[1] in ("2", "4"), card["resumed_from"]
    c = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("train-test").experiment_id], order_by=["attributes.start_time ASC"])
    assert [r.info.status for r in runs] == ["KILLED", "FINISHED"]
    steps = [m.step for m in c.get_metric_history(runs[1].info.run_id, "loss")]
    assert steps and min(steps) > 2 and max(steps) == 6, steps          # the resumed run logged only the steps it trained
    m = runs[1].data.metrics                                             # what the training took, under the evaluation runs' names
    assert m["cpu_time_s"] > 0 and m["peak_rss_mb"] > 0 and "final_cpu_time_s" not in m, m


def study_yaml(data, extra="") -> str:
    return (f"study: tiny\ntrain: {{kind: dpo, data: {data}, output: runs/tiny, max_length: 256, learning_rate: 5.0e-5, "
            "batch_size: 1, grad_accum: 2, logging_steps: 1, save_steps: 50}\n"
            "sweep: {beta: [0.1]}\n"
            "evaluate:\n  preference: {split: validation}\n  responses: {split: validation, max_tokens: 16}\n"
            "  benchmarks: {quick: {dataset: quickstart, n: 2}}\n  limit: 2\n"
            "  judge: {kind: mock, answers: {'Which reply is better': 'A'}}\n"
            f"tracking: {{experiment: study-test}}\n{extra}")

STUDY_CASES = {
    "bad-sweep-value": ("sweep: {beta: [-1]}\n", "arm 'beta--1'"),
    "model-in-benchmark": ("evaluate: {benchmarks: {q: {dataset: quickstart, model: x}}}\n", "set by the study"),
    "unknown-dataset": ("evaluate: {preference: {split: validation}, responses: null, benchmarks: {q: {dataset: nosuch}}}\n", "dataset: 'nosuch' is not one of"),
    "missing-split": ("evaluate: {preference: {split: test}}\n", "has no test split"),
    "no-arms": ("sweep: {}\n", "needs at least one arm"),
    "empty-sweep": ("sweep: {beta: []}\n", "sweep.beta: needs at least one value"),
}

@pytest.mark.parametrize("case", list(STUDY_CASES))
def test_bad_tuning_study_refused(case, prepared, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    extra, expected = STUDY_CASES[case]
    text = study_yaml(prepared / "pref")
    key = extra.split(":")[0]
    text = "\n".join(l for l in text.splitlines() if not l.startswith(key + ":") and not (key == "evaluate" and l.startswith("  "))) + "\n" + extra
    (tmp_path / "s.yaml").write_text(text)
    rc = main(["train", "s.yaml", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "runs").exists()
    assert main(["validate", "s.yaml"]) == 2 and capsys.readouterr().err.strip() == err
    assert main(["run", "s.yaml"]) == 2 and "run it with `llmforge train" in capsys.readouterr().err

@pytest.mark.slow
def test_tuning_study_nests_training_sizes(prepared, tmp_path):
    "A train_size sweep with rows in order and a constant learning rate trains once: the 4-row arm saves the 2-row arm."
    text = (f"study: nest\ntrain: {{kind: dpo, data: {prepared / 'pref'}, output: runs/nest, max_length: 256, batch_size: 1, "
            "grad_accum: 2, shuffle: false, lr_scheduler: constant, logging_steps: 1}\n"
            "sweep: {train_size: [2, 4]}\nevaluate: {preference: {split: validation}, responses: null, limit: 2}\n"
            "tracking: {experiment: nest-test}\n")
    (tmp_path / "s.yaml").write_text(text)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    p = subprocess.run([LLMFORGE, "train", "s.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "arm train_size-4 saves train_size-2 on the way" in p.stdout, p.stdout[-2000:]
    small = json.loads((tmp_path / "runs" / "nest" / "train_size-2" / "final" / "train_card.json").read_text())
    big = json.loads((tmp_path / "runs" / "nest" / "train_size-4" / "final" / "train_card.json").read_text())
    assert (small["global_step"], small["config"]["train_size"], big["global_step"]) == (1, 2, 2)
    assert small["snapshot_of"] == str((tmp_path / "runs" / "nest" / "train_size-4").resolve())
    c = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("nest-test").experiment_id])
    assert [r.data.tags.get("mlflow.runName") for r in runs if r.data.tags.get("llmforge.kind") == "train"] == ["nest-train_size-4"]
    out = json.loads(next(p for p in (tmp_path / "reports").glob("nest-*.json") if re.fullmatch(r"nest-[0-9a-f]{8}\.json", p.name)).read_text())
    assert [r["arm"] for r in out["table"]] == ["train_size-2", "train_size-4"] and out["arms"] == {"train_size-2": "trained", "train_size-4": "FINISHED"}

@pytest.mark.slow
def test_tuning_study_trains_judges_and_resumes(prepared, tmp_path):
    "One DPO arm, trained one step, judged against its base (preference, responses, a benchmark through the runner); a re-run trains nothing."
    (tmp_path / "s.yaml").write_text(study_yaml(prepared / "pref"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cmd = [LLMFORGE, "train", "s.yaml", "--set", "max_steps=1", "--set", "train_size=4", "--quiet"]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    final = tmp_path / "runs" / "tiny" / "beta-0.1" / "final"
    card = json.loads((final / "train_card.json").read_text())
    assert card["global_step"] == 1 and card["config"]["train_size"] == 4 and (final / "adapter_model.safetensors").is_file()
    out = json.loads(next(p for p in (tmp_path / "reports").glob("tiny-*.json") if re.fullmatch(r"tiny-[0-9a-f]{8}\.json", p.name)).read_text())
    row = out["table"][0]
    assert row["arm"] == "beta-0.1" and row["preference/preference_accuracy"]["base"] == 0.5 and row["preference/preference_accuracy"]["n"] == 2
    assert {"preference/likelihood_accuracy", "responses/response_tokens", "quick/accuracy", "judge/judged_win"} <= set(row), row.keys()
    assert row["judge/judged_win"]["base"] == 0.5 and row["judge/judged_win"]["n"] == 2
    assert out["findings"][0].startswith("beta-0.1 changes preference accuracy by ")
    c = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("study-test").experiment_id])
    by_kind = {}
    for r in runs: by_kind.setdefault(r.data.tags.get("llmforge.kind"), []).append(r)
    parent = by_kind["tune-study"][0]
    assert parent.info.status == "FINISHED" and "beta-0.1.preference.preference_accuracy.p_holm" in parent.data.metrics
    assert by_kind["train"][0].data.tags["mlflow.parentRunId"] == parent.info.run_id
    evals = [r for r in by_kind["eval"] if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted((r.data.tags["llmforge.eval"], r.data.tags["llmforge.arm"]) for r in evals) == [
        ("judge", "base"), ("judge", "beta-0.1"), ("preference", "base"), ("preference", "beta-0.1"), ("responses", "base"), ("responses", "beta-0.1")]
    bench = [r for r in runs if r.data.tags.get("llmforge.arm") in ("base", "beta-0.1") and r.data.tags.get("llmforge.kind") not in ("eval",)]
    assert {r.data.params.get("engine.kind") for r in bench} == {"transformers"}, [r.data.params for r in bench]
    q = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert q.returncode == 0 and "arm beta-0.1: already trained" in q.stderr, q.stderr[-3000:]
    assert json.loads((final / "train_card.json").read_text()) == card          # not trained again


def test_shipped_training_files_validate():
    "Every training file and tuning study in params/ loads (its data is written by the matching prep file, so it is not read here)."
    import yaml
    from llmforge.core.paths import resource
    from llmforge.pipeline.cli import load_train
    files = [p for p in sorted(resource("params").glob("*.yaml"))
             if {"kind", "data"} <= set(d := yaml.safe_load(p.read_text())) or {"study", "train"} <= set(d)]
    assert {p.name for p in files} >= {"train_dpo_hh.yaml", "train_sft_smollm2.yaml", "study_dpo_hh.yaml", "study_sft_gemma.yaml"}
    gemma = load_train(next(p for p in files if p.name == "study_sft_gemma.yaml"))
    assert [(c.kind, c.model, c.output) for c in gemma.arms.values()] == [("sft", "gemma3-270m", "runs/sft_gemma3/lora")]
    assert set(gemma.evaluate.benchmarks) == {"quickstart", "triviaqa"} and gemma.evaluate.preference is None
    study = load_train(next(p for p in files if p.name == "study_dpo_hh.yaml"), {"max_steps": 2})
    assert len(study.arms) == 9 and {c.max_steps for c in study.arms.values()} == {2}
    assert {(c.beta, c.train_size) for c in study.arms.values()} == {(b, n) for b in (0.05, 0.1, 0.2) for n in (200, 500, 800)}
    for p in files: load_train(p)
