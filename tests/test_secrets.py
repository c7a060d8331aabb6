"""API keys and tokens never leave the process: not in MLflow (params, tags, metrics, artifacts, traces), not in the reports
(HTML, JSON, the executed notebook), not in LlmForge's working state (response cache, record stores), not on the console.

Each case runs `llmforge run` in a subprocess against a real llama.cpp server that requires a key, with a canary key
(random, so any hit is a leak) in the variable `api_key_env` names, tracking to a SQLite MLflow store and every file the
run writes (temporary files included: TMPDIR points into the test's folder) under `tmp_path`; then every byte of every
file there, and the captured stdout and stderr, is searched for the canary's random part.

- accepted: the server takes the key, which comes with the final newline a key file has (a newline in an HTTP header is
  illegal, and the HTTP library's error message quotes the header: the engine strips the key instead);
- rejected: the key is wrong, and a fault proxy in front of the server quotes the request's Authorization header in its
  401 answers and in the 5xx errors it injects (as some servers do); every example fails, and the errors the report
  prints name the variable, never the key.

Both for the `openai` engine (`api_key_env`, an OpenAI-style key) and for `hf_inference` (an HF token, through
`huggingface_hub.InferenceClient` with `base_url` on loopback: its offline mode is lifted for these runs only)."""
import json, os, secrets, shutil, sqlite3
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # real llama.cpp servers and the CLI through papermill: skipped by the fast tier

LLMFORGE = shutil.which("llmforge") or "llmforge"
VAR = "LLMFORGE_CANARY_KEY"
PREFIX = {"openai": "sk-canary-", "hf_inference": "hf_canary_"}


def config(kind: str, base_url: str, max_retries: int) -> str:
    return (f"name: secrets-{kind.replace('_', '-')}\nmodel: smollm2\n"
            f"engine: {{kind: {kind}, base_url: '{base_url}', api_key_env: {VAR}, timeout_s: 60, max_retries: {max_retries}}}\n"
            "method: {name: naive}\ndataset: quickstart\nn: 6\nseed: 0\n"
            "generation: {temperature: 0.0, max_tokens: 16}\nrunner: {cache: true, batch_size: 2}\n"
            "tracking: {experiment: secrets}\n")


def run_cli(tmp_path: Path, kind: str, base_url: str, key: str, max_retries: int = 2) -> subprocess.CompletedProcess:
    "`llmforge run` (not quiet: all it prints is captured) with everything it writes, temporary files included, under tmp_path."
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir(); tmp.mkdir()
    (work / "secrets.yaml").write_text(config(kind, base_url, max_retries))
    env = {**os.environ, VAR: key, "LLMFORGE_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter"),
           "IPYTHONDIR": str(tmp_path / "ipython"), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    if kind == "hf_inference": env.update(HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1")
    return subprocess.run([LLMFORGE, "run", "secrets.yaml", "--report-dir", str(tmp_path / "reports")], cwd=work,
                          capture_output=True, text=True, env=env, timeout=600)


def leaks(needle: str, root: Path, p: subprocess.CompletedProcess) -> list[str]:
    "Every file under `root` whose bytes contain `needle`, and 'stdout'/'stderr' if they do."
    hits = [str(f.relative_to(root)) for f in sorted(root.rglob("*"))
            if f.is_file() and not f.is_symlink() and needle.encode() in f.read_bytes()]
    return hits + [name for name, text in (("stdout", p.stdout), ("stderr", p.stderr)) if needle in text]


def written(root: Path) -> dict:
    "What the run wrote where the search looked: the MLflow run (params, tags, artifacts, traces), reports, working state."
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("secrets").experiment_id])
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    local = [f for f in root.rglob("*") if f.is_file()]
    con = sqlite3.connect(root / "mlflow.db")
    try: spans = con.execute("select count(*) from spans").fetchone()[0]
    except sqlite3.Error: spans = None
    finally: con.close()
    report = json.loads(next((root / "reports").glob("secrets-*.json")).read_text())
    return dict(run=run, artifacts=arts, files=local, spans=spans, report=report,
                artifact_files={f.name for f in local if "artifacts" in f.parts or "mlruns" in f.parts})


def canary(kind: str) -> str:
    "A key no one has: random, so a hit anywhere can only be a leak."
    return PREFIX[kind] + secrets.token_hex(16)


@pytest.fixture(scope="module")
def keys():
    "The key each engine kind's server accepts (a canary too)."
    return {kind: canary(kind) for kind in PREFIX}


@pytest.fixture(scope="module")
def servers(llama_servers, keys):
    "One llama.cpp server per engine kind, each requiring that kind's key."
    return {kind: llama_servers(api_key=key) for kind, key in keys.items()}


@pytest.mark.parametrize("kind", ["openai", "hf_inference"])
def test_accepted_key_reaches_no_record(kind, keys, servers, tmp_path):
    key = keys[kind]
    p = run_cli(tmp_path, kind, servers[kind], key + "\n")          # as read from a key file
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    w = written(tmp_path)
    assert w["run"].info.status == "FINISHED" and w["run"].data.params["engine.api_key_env"] == VAR
    assert not [r["error"] for r in w["report"]["records"] if r["error"]]          # the server took the key: no failures
    assert sum(bool(r["predicted"]) for r in w["report"]["records"]) >= 3
    assert {"records.json", "manifest.json", "report"} <= w["artifacts"] and w["spans"]
    assert {"manifest.json", "records.jsonl"} <= w["artifact_files"]          # the artifact store is under the searched folder
    assert (tmp_path / "home" / "responses.sqlite").exists() and any((tmp_path / "home" / "runs").iterdir())
    assert leaks(key.removeprefix(PREFIX[kind]), tmp_path, p) == []


@pytest.mark.parametrize("kind", ["openai", "hf_inference"])
def test_rejected_key_error_printed_without_it(kind, keys, servers, fault_proxies, tmp_path):
    wrong = canary(kind)
    # the server wants another key than the one the run sends; the proxy quotes the sent header back in its errors
    proxy = fault_proxies(servers[kind].removesuffix("/v1"), "--echo-auth", "--seed", 1, "--rate=http_5xx=0.5",
                          *(f"--rate={k}=0" for k in ("timeout", "http_429", "malformed", "truncated", "reset")))
    p = run_cli(tmp_path, kind, proxy.url, wrong, max_retries=0)
    st = proxy.stats()
    assert st["by_kind"]["http_5xx"] > 0 and st["passed"] > 0, st          # both 5xx bodies and 401 bodies quoted the key
    assert leaks(wrong.removeprefix(PREFIX[kind]), tmp_path, p) == []
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]            # the run finished, with every example failed
    w = written(tmp_path)
    errors = [r["error"] for r in w["report"]["records"]]
    assert all(errors), errors
    what = "API key" if kind == "openai" else "token"
    rejected = f"rejected the {what} from ${VAR}"
    assert any(rejected in e for e in errors), errors                          # on the key, naming its variable,
    assert any("HTTP 5" in e and "Bearer ***" in e for e in errors), errors    # or on a 5xx, its echo redacted
    html = next((tmp_path / "reports").glob("secrets-*.html")).read_text()
    assert rejected in html and "Bearer ***" in html                          # the report prints both errors


def test_key_pasted_as_variable_name_is_refused_before_anything_is_logged(tmp_path):
    "`api_key_env: <the key itself>` would be logged with the settings: the run is refused, and the message does not repeat it."
    key = canary("openai")
    work = tmp_path / "work"
    work.mkdir()
    (work / "secrets.yaml").write_text(config("openai", "http://127.0.0.1:9/v1", 0).replace(f"api_key_env: {VAR}", f"api_key_env: {key}"))
    p = subprocess.run([LLMFORGE, "run", "secrets.yaml", "--report-dir", str(tmp_path / "reports")], cwd=work,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "LLMFORGE_HOME": str(tmp_path / "home"), "TMPDIR": str(work),
                            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    assert p.returncode == 2 and "engine.api_key_env: must name the environment variable" in p.stderr, p.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "reports").exists()
    assert leaks(key.removeprefix(PREFIX["openai"]), tmp_path, p) == ["work/secrets.yaml"]   # only where it was written
