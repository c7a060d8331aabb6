"""The package is installable: a built wheel carries everything a run needs, and a non-editable install of it runs the
quickstart from an empty directory (with `llmforge init` giving that directory its starter params)."""
import json, os, shutil, subprocess, sys, venv, zipfile
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ["llmforge/resources/data/datasets.yaml", "llmforge/resources/data/knowledge_bases.yaml",
          "llmforge/resources/data/quickstart.jsonl", "llmforge/resources/data/faithfulness_labelled.jsonl",
          "llmforge/resources/data/fewshot/math.jsonl", "llmforge/resources/data/react/qa.jsonl",
          "llmforge/resources/data/benchmarks/SOURCES.md", "llmforge/resources/data/benchmarks/gsm8k_test.jsonl",
          "llmforge/resources/data/benchmarks/hotpotqa_dev_distractor_paragraphs.jsonl",
          "llmforge/resources/experiments/run.ipynb", "llmforge/resources/experiments/compare.ipynb",
          "llmforge/resources/params/quickstart.yaml", "llmforge/pipeline/cli.py", "llmforge/core/plugins.py",
          "llmforge/resources/experiments/prep.ipynb", "llmforge/resources/params/prep_hh_dpo.yaml",
          "llmforge/resources/experiments/train.ipynb", "llmforge/resources/params/train_dpo_hh.yaml",
          "llmforge/resources/data/training/hh_rlhf_harmless_base_test.jsonl.gz", "llmforge/resources/data/training/SOURCES.md"]

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    "A wheel built from a copy of the source tree (so the build leaves nothing in the checkout)."
    src = tmp_path_factory.mktemp("src") / "llmforge"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "mlflow.db", "mlruns", ".llmforge", "reports", "__pycache__", ".ipynb_checkpoints"))
    out = tmp_path_factory.mktemp("dist")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return next(out.glob("llmforge-*.whl"))

def test_wheel_holds_what_a_run_needs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in NEEDED if n not in names]
    assert not missing, missing
    assert not any(n.startswith(("nbs/", "tests/", "benchmarks/")) for n in names)
    # every data file the registries name is in the wheel
    import yaml
    reg = yaml.safe_load(zipfile.ZipFile(wheel).read("llmforge/resources/data/datasets.yaml"))
    for name, e in reg.items():
        if "path" in e:
            rel = e["path"][len("project:"):] if e["path"].startswith("project:") else f"benchmarks/{e['path']}"
            assert f"llmforge/resources/data/{rel}" in names, (name, rel)

@pytest.mark.slow
def test_non_editable_install_runs_from_an_empty_directory(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)   # dependencies from this environment, llmforge from the wheel
    py, cli = env_dir / "bin" / "python", env_dir / "bin" / "llmforge"
    p = subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    work = tmp_path / "empty"; work.mkdir()
    env = {**os.environ, "LLMFORGE_HOME": str(tmp_path / "home"), "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("LLMFORGE_DATA_DIR", None)
    # nbconvert's templates sit under this environment's prefix, not the venv's: the reports find them there
    env.pop("JUPYTER_PATH", None)
    where = subprocess.run([py, "-c", "import llmforge; print(llmforge.__file__)"], cwd=work, capture_output=True, text=True, env=env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr        # the wheel, not the checkout
    p = subprocess.run([cli, "init", "."], cwd=work, capture_output=True, text=True, env=env)
    assert p.returncode == 0 and (work / "params" / "quickstart.yaml").is_file(), p.stdout + p.stderr
    p = subprocess.run([cli, "run", "params/quickstart.yaml", "--set", "n=3", "--quiet"], cwd=work, capture_output=True,
                       text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.metrics["n"] == 3
    report = json.loads(next((work / "reports").glob("quickstart-*.json")).read_text())
    assert len(report["records"]) == 3 and "HTML report was not rendered" not in p.stderr, p.stderr
    assert "<html" in next((work / "reports").glob("quickstart-*.html")).read_text()[:2000].lower()
    # a prep file that reads the training data shipped in the package (`input: project:training/...`)
    p = subprocess.run([cli, "prep", "params/prep_sft.yaml", "--set", "limit=40", "--set", "output=prepared/sft", "--quiet"],
                       cwd=work, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    card = json.loads((work / "prepared" / "sft" / "card.json").read_text())
    assert card["counts"]["rows_in"] == 40 and sum(card["counts"]["splits"].values()) == card["counts"]["rows_out"] > 30
