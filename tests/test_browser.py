"""The workbench as users see it, in a real browser (headless Chromium driven by Playwright): the HTML reports render with
no console errors, the MLflow UI shows a run's metrics, dataset and graded traces, and JupyterLab runs the guided
notebook with its widgets.

Chromium is Debian's (`apt-get install chromium`; `.ci/run` installs it); without it these tests are skipped.
Screenshots go to `$LLMFORGE_SCREENSHOTS` (the ones in docs/screenshots were taken this way), else a temporary folder."""
import json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import pytest
from llmforge.tracking.services import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:                                   # the dev extra installs it
    sync_playwright = None
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)"),
              pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')")]
SHOTS = Path(os.environ.get("LLMFORGE_SCREENSHOTS") or tempfile.mkdtemp(prefix="llmforge-shots-"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close(); pw.stop()


class Page:
    "A page that records console errors and uncaught exceptions."
    def __init__(self, browser, width=1400, height=1000):
        self.ctx = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.ctx.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
    def close(self): self.ctx.close()


def llmforge(*args, cwd, env=None, timeout=900):
    p = subprocess.run([sys.executable, "-c", "import sys; from llmforge.pipeline.cli import main; sys.exit(main())", *args],
                       cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


STUDY = """study: tour_methods
base: {model: smollm2-135m-instruct, engine: {kind: llama_cpp, n_ctx: 2048}, dataset: quickstart, n: 8, seed: 0,
       generation: {temperature: 0.0}}
arms: {naive: {method: naive}, cot: {method: cot}}
compare: {baseline: naive}
tracking: {experiment: tour}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory, mlflow_server):
    "A real two-arm study (SmolLM2, 8 quickstart items) tracked on a real `mlflow server`: its arms' and its own reports."
    wd = tmp_path_factory.mktemp("tour")
    (wd / "study.yaml").write_text(STUDY)
    llmforge("run", "study.yaml", "--quiet", cwd=wd, env={"MLFLOW_TRACKING_URI": mlflow_server, "LLMFORGE_HOME": str(wd / "home")})
    return wd, mlflow_server


def test_reports_render_without_console_errors(browser, study):
    "Each HTML report (an arm's run report and the study's comparison report) loads with every chart and no console error."
    wd, _ = study
    reports = sorted((wd / "reports").glob("*.html"))
    run_report = next(p for p in reports if re.fullmatch(r"tour_methods-naive-[0-9a-f]{8}\.html", p.name))
    comparison = next(p for p in reports if re.fullmatch(r"tour_methods-[0-9a-f]{8}\.html", p.name))
    for path, shot, must in ((run_report, "report-run.png", ("compute", "CPU s", "peak memory")),
                             (comparison, "report-study.png", ("CPU time (s)", "peak memory (MB)"))):
        pg = Page(browser)
        pg.page.goto(path.as_uri()); pg.page.wait_for_load_state("load")
        text = pg.page.inner_text("body")
        assert all(m in text for m in must), (path.name, [m for m in must if m not in text])
        broken = pg.page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60))")
        n_images = pg.page.evaluate("document.images.length")
        assert n_images >= 1 and not broken, (path.name, broken)
        assert not pg.errors, (path.name, pg.errors)
        pg.page.screenshot(path=str(SHOTS / shot), full_page=True)
        pg.close()


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    "`jupyter lab` on loopback with a token, its root a folder holding a copy of the guided notebook; stopped by PID."
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "nbs" / "tutorial.ipynb", root / "tutorial.ipynb")
    port, token = free_port(), "llmforge-test-token"
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                             "--allow-root"], cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "JUPYTER_PLATFORM_DIRS": "1"},
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try: urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2); break
        except Exception:
            assert proc.poll() is None, (root / "lab.log").read_text()[-2000:]
            time.sleep(1)
    else: pytest.fail("jupyter lab did not answer within 120 s")
    yield base, token, root
    os.killpg(proc.pid, 15)
    try: proc.wait(30)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, 9); proc.wait()
    log.close()


RUN_ALL = """async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.context.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  return cells.map(c => c.model.executionCount);
}"""

SAVE = "async () => { await window.jupyterapp.commands.execute('docmanager:save'); }"


def output_with(page, text: str = None, button: str = None, without_button: str = None):
    "The first output area that shows `text` and a button named `button` (and no button `without_button`): one widget's view."
    loc = page.locator(".jp-OutputArea-output")
    if text: loc = loc.filter(has_text=text)
    if button: loc = loc.filter(has=page.get_by_role("button", name=button))
    if without_button: loc = loc.filter(has_not=page.get_by_role("button", name=without_button))
    loc.first.wait_for(timeout=60_000)
    return loc.first


def test_jupyterlab_runs_the_guided_notebook_and_its_widgets_work(browser, jupyter_lab):
    """JupyterLab opens the guided notebook and runs every cell (real models, tiny settings); the saved notebook has no
    error and holds the widgets' views; the launcher, runs browser and comparison explorer render and answer clicks."""
    base, token, root = jupyter_lab
    pg = Page(browser, 1500, 1100)
    page = pg.page
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/tutorial.ipynb?token={token}")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.content", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    counts = page.evaluate(RUN_ALL)
    page.wait_for_function("""() => { const p = window.jupyterapp.shell.currentWidget;
        const k = p.context.sessionContext.session && p.context.sessionContext.session.kernel;
        return k && k.status === 'idle' && p.content.widgets.filter(c => c.model.type === 'code').every(c => c.model.executionCount !== null); }""",
        timeout=1_800_000, polling=2000)
    page.evaluate(SAVE)
    nb = json.loads((root / "tutorial.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "\n".join("\n".join(o.get("traceback", []))[-1500:] for o in errors)
    assert all(c.get("execution_count") for c in code), counts
    views = [o for c in code for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) >= 5, len(views)                    # trace browsers, explorer, launcher, runs browser

    try: page.get_by_role("button", name="No", exact=True).first.click(timeout=3_000)   # JupyterLab's "news?" toast
    except Exception: pass
    launcher = output_with(page, "New experiment", button="Check")
    launcher.get_by_role("button", name="Check").click()
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')].some(e => e.innerText.includes('✔ quickstart-naive: naive with smollm2-135m-instruct on 3 of 40'))")
    launcher.screenshot(path=str(SHOTS / "lab-launcher.png"))

    runs = output_with(page, button="Compare")
    method = runs.locator("select").nth(1)                 # experiment, method, model, status
    picker = runs.locator("select[multiple]")
    n_naive = picker.locator("option").count()
    method.select_option("(any)")                         # the kernel re-filters and sends the picker its new options
    deadline = time.time() + 60
    while picker.locator("option").count() <= n_naive and time.time() < deadline: time.sleep(0.5)
    labels = picker.locator("option").all_inner_texts()
    pair = [l for l in labels if l.replace("\xa0", " ").startswith(("quickstart · ", "quickstart-cot · "))]
    assert len(pair) == 2, labels
    picker.select_option(label=pair)
    runs.get_by_role("button", name="Compare").click()
    runs.get_by_text("Paired tests").first.wait_for()
    runs.get_by_text("comparing 2 runs").first.wait_for()
    runs.screenshot(path=str(SHOTS / "lab-runs-browser.png"))

    explorer = output_with(page, "Paired tests", without_button="Compare")
    explorer.get_by_text("Charts").first.click()
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.naturalWidth > 0).length >= 3")
    explorer.get_by_text("Paired tests").first.click()
    explorer.screenshot(path=str(SHOTS / "lab-comparison-explorer.png"))
    assert not [e for e in pg.errors if "widget" in e.lower()], pg.errors
    pg.close()


QUIET_UI = """localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"""


def mlflow_page(browser, url: str, wait_text: str):
    "An MLflow UI page with its assistant panel closed and its first-visit hints dismissed, once `wait_text` shows."
    pg = Page(browser, 1800, 1000)
    pg.ctx.add_init_script(QUIET_UI)
    pg.page.goto(url)
    pg.page.get_by_text(wait_text).first.wait_for(timeout=90_000)
    try: pg.page.get_by_role("button", name="Got it").first.click(timeout=8_000)      # a first-visit hint, where there is one
    except Exception: pass
    return pg


def test_mlflow_ui_shows_metrics_dataset_and_graded_traces(browser, study):
    """On a real `mlflow server`: an arm's run page lists its dataset slice (name and digest) and its cost metrics; the
    experiment's Traces view has a column per assessment (correct, expected answers, scores) with each trace's values."""
    from mlflow import MlflowClient
    wd, url = study
    c = MlflowClient(url)
    eid = c.get_experiment_by_name("tour").experiment_id
    arm = c.search_runs([eid], "tags.`llmforge.arm` = 'naive'")[0]
    ds = arm.inputs.dataset_inputs[0].dataset
    assert (ds.name, len(ds.digest)) == ("quickstart", 16) and arm.data.metrics["cpu_time_s"] > 0

    pg = mlflow_page(browser, f"{url}/#/experiments/{eid}/runs/{arm.info.run_id}", f"quickstart ({ds.digest})")
    pg.page.get_by_text("cpu_time_s").first.wait_for(timeout=60_000)
    body = pg.page.inner_text("body")
    assert f"quickstart ({ds.digest})" in body and "cpu_time_s" in body and "peak_rss_mb" in body, body[:3000]
    pg.page.screenshot(path=str(SHOTS / "mlflow-run.png"), full_page=True)
    pg.close()

    traces = c.search_traces(locations=[eid], max_results=500)
    n_traces = len(traces)
    assert n_traces == sum(int(r.data.tags["llmforge.traces"].split()[0]) for r in c.search_runs([eid], "tags.`llmforge.arm` != ''"))
    pg = mlflow_page(browser, f"{url}/#/experiments/{eid}/traces", "expected_answers")
    pg.page.wait_for_function(f"document.body.innerText.includes('{n_traces} of {n_traces}')", timeout=60_000)
    header = pg.page.inner_text("thead") if pg.page.locator("thead").count() else pg.page.inner_text("body")
    for col in ("correct", "expected_answers", "answer_match", "f1"):
        assert col in header, (col, header[:1500])
    cells = pg.page.inner_text("body")
    assert re.search(r"\b(True|False)\b", cells), cells[:2000]            # each trace's `correct`
    pg.page.screenshot(path=str(SHOTS / "mlflow-traces-assessments.png"))
    question = json.loads(traces[0].data.request)["question"]
    pg.page.get_by_text(question[:40]).first.click()                      # one trace: its spans and its assessments
    pg.page.wait_for_function("document.body.innerText.includes('Inputs / Outputs')", timeout=60_000)
    pg.page.get_by_role("button", name=re.compile("Assess")).first.click()
    pg.page.wait_for_function("document.body.innerText.includes('Expectations (1)')", timeout=60_000)
    panel = pg.page.inner_text("body")
    assert re.search(r"Feedback \((\d+)\)", panel) and "expected_answers" in panel and "correct" in panel, panel[-1500:]
    pg.page.screenshot(path=str(SHOTS / "mlflow-trace-assessments.png"))
    pg.close()

    pg = mlflow_page(browser, f"{url}/#/experiments/{eid}/runs", "tour_methods")
    pg.page.screenshot(path=str(SHOTS / "mlflow-runs.png"))
    pg.close()
