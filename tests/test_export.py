"""`llmforge export`: a real LoRA SFT run written as adapter, merged model, GGUF f16 / q8_0 / q4_k_m and a LoRA GGUF through
llama.cpp's own converters (from the sources of the installed llama-cpp-python), each GGUF checked against the model
through llama.cpp, the model card and the MLflow run written; a check that fails marks the export failed; bad exports
are refused in one line before anything is written."""
import hashlib, json, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient
from llmforge.pipeline.cli import main
from llmforge.tracking.tracker import set_fluent_uri

LLMFORGE = shutil.which("llmforge") or "llmforge"

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A two-step LoRA SFT run on a small prep folder with a test split; LLMFORGE_HOME shared by the module's exports."
    d = tmp_path_factory.mktemp("export")
    from llmforge.prep.config import PrepConfig
    from llmforge.prep.build import prepare
    from llmforge.train.trainer import TrainConfig, train
    prepare(PrepConfig(input="project:training/self_instruct_seed_tasks.jsonl", format="sft", output=str(d / "sft"), limit=32,
                       pii={"enabled": False}, decontaminate={"enabled": False}, max_tokens=256,
                       split={"sizes": {"train": 0.75, "test": 0.25}}), log=lambda s: None)
    old = os.environ.get("LLMFORGE_HOME"); os.environ["LLMFORGE_HOME"] = str(d / "home")
    try: train(TrainConfig(kind="sft", data=str(d / "sft"), output=str(d / "run"), max_steps=2, batch_size=2, max_length=256,
                           learning_rate=1e-3, logging_steps=1), log=lambda s: None)
    finally:
        if old is None: os.environ.pop("LLMFORGE_HOME", None)
        else: os.environ["LLMFORGE_HOME"] = old
    return d

def _cli(d: Path, db: str = "mlflow.db", home: str = "home"):
    "A runner of `llmforge ...` (or `exe ...`) in `d`, with the tracking store `d/db` (or a server's URL) and the working state `d/home`."
    uri = db if db.startswith("http") else f"sqlite:///{d / db}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "LLMFORGE_HOME": str(d / home), "HF_HUB_OFFLINE": "1"}
    return lambda *a, exe=LLMFORGE: subprocess.run([exe, *a], cwd=d, env=env, capture_output=True, text=True, timeout=3600)

def _export(d: Path, *args, out="exp"):
    return _cli(d)("export", str(d / "run"), "--output", str(d / out), "--set", "threads=1", "--set", "checks.prompts=4",
                   "--set", "checks.texts=8", "--set", "checks.max_tokens=16", *args)

@pytest.mark.slow
def test_export_formats_checked_carded_and_tracked(trained):
    p = _export(trained, "--formats", "adapter,merged,f16,q8_0,q4_k_m,lora")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = trained / "exp"
    man = json.loads((out / "export.json").read_text())
    assert man["status"] == "passed" and man["failed"] == {}, man["failed"]
    names = {f["path"] for f in man["files"]}
    assert {"adapter/adapter_model.safetensors", "merged/model.safetensors", "gguf/run-f16.gguf", "gguf/run-q8_0.gguf",
            "gguf/run-q4_k_m.gguf", "gguf/run-lora-f16.gguf", "gguf/base-f16.gguf"} <= names, names
    for f in man["files"]:                                            # the manifest describes the files on disk
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
        assert 0 <= f["seconds"] <= man["seconds"], f                 # each file with the time it took to write
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "merged" / "config.json").is_file()
    assert (out / "merged" / "chat_template.jinja").is_file() or "chat_template" in (out / "merged" / "tokenizer_config.json").read_text()
    c = man["checks"]
    assert set(c) == {"f16", "q8_0", "q4_k_m", "lora"} and all(0 < v["seconds"] < man["seconds"] for v in c.values())
    assert c["f16"]["ppl_ratio"] < 1.01 and c["f16"]["agreement"]["identical"] >= 0.75 and c["f16"]["tokenizer_agreement"] == 1.0
    assert c["lora"]["ppl_ratio"] < 1.01 and c["lora"]["agreement"]["identical"] >= 0.75   # the adapter over the base = the merged model
    assert 1.0 < c["q4_k_m"]["ppl_ratio"] < c["q4_k_m"]["tolerance"]                      # quantization costs some, within bounds
    assert os.path.getsize(out / "gguf" / "run-q4_k_m.gguf") < 0.5 * os.path.getsize(out / "gguf" / "run-f16.gguf")
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0\nbase_model: smollm2-135m-instruct\n") and "| `gguf/run-q8_0.gguf` | q8_0 |" in card
    assert f"data set hash `{man['train_card']['dataset_hash']}`" in card and "## Checks" in card
    cl = MlflowClient(f"sqlite:///{trained / 'mlflow.db'}")
    run = cl.get_run(man_run_id(p.stdout))
    assert run.info.status == "FINISHED" and run.data.metrics["f16.ppl_ratio"] == c["f16"]["ppl_ratio"]
    assert {a.path for a in cl.list_artifacts(run.info.run_id, "export")} == {"export/README.md", "export/export.json"}

def man_run_id(stdout: str) -> str:
    line = next(l for l in stdout.splitlines() if l.startswith("export "))
    return line.split()[1]

@pytest.mark.slow
def test_failed_check_marks_the_export_failed(trained):
    p = _export(trained, "--formats", "f16", "--set", "checks.tolerance.f16=0.5", out="exp_bad")
    assert p.returncode == 1 and "error: check f16 failed: perplexity" in p.stderr and "(allowed 0.5x)" in p.stderr, p.stderr[-2000:]
    man = json.loads((trained / "exp_bad" / "export.json").read_text())
    assert man["status"] == "failed" and "f16" in man["failed"] and (trained / "exp_bad" / "gguf" / "run-f16.gguf").is_file()
    cl = MlflowClient(f"sqlite:///{trained / 'mlflow.db'}")
    assert cl.get_run(man_run_id(p.stdout)).info.status == "FAILED"

BAD = {
    "no-run":       (lambda d: [str(d / "nope")], "export file not found"),
    "not-trained":  (lambda d: [str(d / "empty")], "holds no trained model (no final/train_card.json)"),
    "full-adapter": (lambda d: [str(d / "full"), "--formats", "adapter,f16"], "formats: adapter needs a LoRA run"),
    "bad-format":   (lambda d: [str(d / "full"), "--formats", "q4_k_x"], "formats.0"),
}

@pytest.mark.parametrize("case", list(BAD))
def test_bad_export_refused(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir(); (tmp_path / "full" / "final").mkdir(parents=True)
    (tmp_path / "full" / "final" / "train_card.json").write_text('{"method": "full", "base_model": "smollm2-135m-instruct"}')
    args, expected = BAD[case]
    rc = main(["export", *args(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "exports").exists() and not (tmp_path / "mlflow.db").exists()

def test_shipped_export_file_loads():
    "The export of the DPO study's arm validates (the model it names is trained by params/study_dpo_hh.yaml)."
    from llmforge.core.paths import resource
    from llmforge.pipeline.cli import load_export
    cfg = load_export(resource("params") / "export_dpo_hh.yaml")
    assert cfg.formats == ["adapter", "merged", "f16", "q8_0", "q4_k_m", "lora"] and cfg.run.endswith("train_size-800_beta-0.1")

@pytest.mark.slow
def test_registry_versions_uris_and_promotion(trained):
    "Exports become versions; `models:/NAME@ALIAS` runs in an experiment; champion moves only on paired evidence or --force."
    import pandas as pd, mlflow
    if not (trained / "exp" / "export.json").is_file(): assert _export(trained, "--formats", "f16,q4_k_m").returncode == 0
    db = f"sqlite:///{trained / 'registry.db'}"
    sh = _cli(trained, "registry.db")
    p = sh("models", "register", "exp", "--name", "smol-test", "--format", "q4_k_m", "--alias", "candidate")
    assert p.returncode == 0 and "registered smol-test version 1 @candidate" in p.stdout, p.stderr[-2000:]
    assert sh("models", "register", "exp", "--name", "smol-test", "--format", "f16").returncode == 0
    listed = sh("models", "list").stdout
    assert "smol-test  v1  q4_k_m   @candidate" in listed and "smol-test  v2  f16" in listed, listed
    quick = str(Path(__file__).resolve().parent.parent / "params" / "quickstart.yaml")
    run = sh("run", quick, "--set", "model=models:/smol-test@candidate", "--set", "n=4", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    c = MlflowClient(db)
    rid = run.stdout.split()[1]
    assert c.get_run(rid).data.tags["llmforge.model_version"] == "smol-test/1"          # the version the alias named then
    assert sh("models", "promote", "smol-test", "1", "champion").returncode == 0          # a first champion needs no evidence
    p = sh("models", "promote", "smol-test", "2", "champion")
    assert p.returncode == 2 and "no evidence" in p.stderr and "--force" in p.stderr, p.stderr
    assert sh("run", quick, "--set", "model=models:/smol-test/2", "--set", "n=4", "--quiet").returncode == 0
    p = sh("models", "promote", "smol-test", "2", "champion")
    assert p.returncode == 2 and "stays off champion (version 1 is champion): accuracy" in p.stderr and "4 quickstart items" in p.stderr, p.stderr
    assert int(c.get_model_version_by_alias("smol-test", "champion").version) == 1
    p = sh("models", "promote", "smol-test", "2", "champion", "--force")
    assert p.returncode == 0 and "was version 1" in p.stdout and int(c.get_model_version_by_alias("smol-test", "champion").version) == 2
    bad = sh("run", quick, "--set", "model=models:/nope@champion", "--set", "n=2", "--quiet")
    assert bad.returncode == 2 and "is not in the model registry" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert sh("models", "promote", "smol-test", "9", "champion").returncode == 2
    set_fluent_uri(db)                                              # the GGUF version is a working pyfunc model
    m = mlflow.pyfunc.load_model("models:/smol-test@candidate")
    out = m.predict(pd.DataFrame({"prompt": ["What is the capital of France?"]}), params={"max_tokens": 8})
    assert len(out) == 1 and isinstance(out[0], str) and out[0].strip()

@pytest.mark.slow
def test_registry_through_an_mlflow_server(trained, mlflow_server):
    "The same registry on a team's `mlflow server`: the GGUF goes up as a proxied artifact and comes back for a run by alias."
    if not (trained / "exp" / "export.json").is_file(): assert _export(trained, "--formats", "f16,q4_k_m").returncode == 0
    sh = _cli(trained, mlflow_server, "home_srv")
    p = sh("models", "register", "exp", "--name", "smol-srv", "--format", "q4_k_m", "--alias", "candidate")
    assert p.returncode == 0 and "registered smol-srv version 1 @candidate" in p.stdout, p.stderr[-2000:]
    assert "smol-srv  v1  q4_k_m   @candidate" in sh("models", "list").stdout
    quick = str(Path(__file__).resolve().parent.parent / "params" / "quickstart.yaml")
    run = sh("run", quick, "--set", "model=models:/smol-srv@candidate", "--set", "n=2", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    c = MlflowClient(mlflow_server)
    rid = re.search(r"^run ([0-9a-f]{32}) ", run.stdout, re.M).group(1)     # MLflow adds its own lines for a server
    assert c.get_run(rid).data.tags["llmforge.model_version"] == "smol-srv/1"
    got = list((trained / "home_srv" / "registry" / "smol-srv" / "1").rglob("*.gguf"))   # downloaded from the server, once
    man = json.loads((trained / "exp" / "export.json").read_text())
    want = next(f["sha256"] for f in man["files"] if f["format"] == "q4_k_m")
    assert len(got) == 1 and hashlib.sha256(got[0].read_bytes()).hexdigest() == want
    p = sh("models", "promote", "smol-srv", "1", "champion")
    assert p.returncode == 0 and c.get_model_version_by_alias("smol-srv", "champion").version == "1", p.stderr

@pytest.mark.slow
def test_merged_model_registered_through_the_transformers_flavor(trained):
    "The merged model as a transformers-flavor version: `models:/` resolves to a folder the transformers engine loads."
    if not (trained / "exp" / "merged").is_dir(): assert _export(trained, "--formats", "merged,f16").returncode == 0
    sh = _cli(trained, "registry_hf.db", "home_hf")
    p = sh("models", "register", "exp", "--name", "smol-hf", "--format", "merged")
    assert p.returncode == 0 and "registered smol-hf version 1" in p.stdout, p.stderr[-2000:]
    code = ("from llmforge.core.plugins import load_plugins; load_plugins()\n"
            "from llmforge.engines.transformers import load_served\n"
            "m, tok, card, ident = load_served('models:/smol-hf/1')\n"
            "print(type(m).__name__, tok.eos_token, ident['model_sha256'])")
    q = sh("-c", code, exe=sys.executable)
    assert q.returncode == 0, q.stderr[-2000:]
    name, eos, sha = q.stdout.split()[-3:]
    assert name == "LlamaForCausalLM" and eos == "<|im_end|>" and sha != hashlib.sha256(b"").hexdigest()
