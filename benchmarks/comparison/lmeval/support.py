"""What the benchmarks that run lm-evaluation-harness share: lm-eval's own virtualenv, the llama.cpp server both tools are
measured against, and the exact string a chat request becomes (so lm-eval's completion requests carry LlmForge's prompts).

lm-eval is never a dependency of LlmForge and never imported here: it runs under the venv's Python.
"""
from __future__ import annotations
import json, os, subprocess, sys, time, urllib.request
from pathlib import Path

DEFAULT_LM_EVAL = "lm-eval[api]==0.4.13"
DEFAULT_VENV = "/tmp/llmforge-lmeval-venv"


def ensure_venv(venv: str | Path, spec: str = DEFAULT_LM_EVAL, install: bool = True, log: Path | None = None,
                say=lambda msg: None) -> dict:
    """lm-eval's virtualenv: checked, created and filled with `spec` when missing (unless `install` is False, which exits
    with the commands to run). Returns its path, the lm-eval version and whether (and how long) it was installed now."""
    venv = Path(venv).expanduser().resolve()
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import lm_eval, aiohttp, tenacity, requests; from importlib.metadata import version; print(version('lm-eval'))"]
    info = {"venv": str(venv), "installed_now": False, "install_s": None}
    r = subprocess.run(check, capture_output=True, text=True) if py.exists() else None
    if r is None or r.returncode != 0:
        if not install:
            why = f"no {py}" if r is None else (r.stderr.strip().splitlines() or ["lm_eval not importable"])[-1]
            sys.exit(f"lm-eval's virtualenv {venv} is missing or lacks lm_eval ({why}).\n"
                     f"Create it with:  python -m venv {venv} && {py} -m pip install \"{spec}\"\n"
                     f"or run without --no-install to have the benchmark do it (once), or pass --venv PATH.")
        say(f"creating {venv} and installing {spec} (once) ...")
        t = time.perf_counter()
        log = log or venv.parent / f"{venv.name}-pip-install.log"
        with open(log, "w") as f:
            if not py.exists(): subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=f, stderr=f)
            rc = subprocess.run([str(py), "-m", "pip", "install", spec], stdout=f, stderr=f).returncode
        info.update(installed_now=True, install_s=round(time.perf_counter() - t, 1))
        if rc != 0: sys.exit(f"pip install {spec} failed; see {log}:\n" + log.read_text()[-3000:])
        r = subprocess.run(check, capture_output=True, text=True)
        if r.returncode != 0: sys.exit(f"lm_eval still not importable in {venv}:\n{r.stderr[-2000:]}")
    info["lm_eval_version"] = r.stdout.strip()
    return info


def chat_renderer(gguf: str | Path, mode: str = "chat"):
    """(render, n_tokens, eos, add_bos) for a GGUF: `render(messages)` is the exact string llama-cpp-python's chat handler
    tokenizes (the GGUF's template through its own `Jinja2ChatFormatter`); `n_tokens(text)` counts the tokens
    `/v1/completions` makes of a string prompt (special tokens parsed; BOS only if the GGUF asks for it)."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    llm = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    template = llm.metadata.get("tokenizer.chat_template")
    eos = llm._model.token_get_text(llm.token_eos()) if llm.token_eos() != -1 else ""
    bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() != -1 else ""
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "true") == "true"
    if mode == "chat" and not template:
        sys.exit(f"{gguf} has no chat template: cannot render LlmForge's chat messages for a completion request")
    fmt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos) if template else None
    n_tokens = lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))
    return (lambda messages: fmt(messages=messages).prompt), n_tokens, eos, add_bos


def http_json(url: str, payload: dict | None = None, timeout: float = 300) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r: return json.loads(r.read())


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1 serving one GGUF, loaded as LlmForge's engine loads it (`llama_server_command`),
    started and stopped by this process (by its PID)."""
    def __init__(self, gguf: str | Path, alias: str, port: int, n_ctx: int, threads: int, threads_batch: int, log: Path):
        self.gguf, self.alias, self.port, self.n_ctx = str(gguf), alias, port, n_ctx
        self.threads, self.threads_batch, self.log, self.proc = threads, threads_batch, Path(log), None
        self.base = f"http://127.0.0.1:{port}/v1"

    def command(self) -> list[str]:
        from llmforge.engines.llama_cpp import llama_server_command
        return llama_server_command(
            "--model", self.gguf, "--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads_batch),
            "--seed", "0", "--logits_all", "False", "--use_mlock", "False", "--verbose", "False")

    def start(self, timeout_s: float = 180) -> float:
        "Start it and wait until it serves; the seconds that took."
        t = time.perf_counter()
        self.proc = subprocess.Popen(self.command(), stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        while time.perf_counter() - t < timeout_s:
            if self.proc.poll() is not None:
                sys.exit(f"llama.cpp server exited with code {self.proc.returncode}; log {self.log}:\n{self.log.read_text()[-3000:]}")
            try:
                if http_json(f"{self.base}/models", timeout=2).get("data"): return time.perf_counter() - t
            except OSError: pass
            time.sleep(0.1)
        self.stop(); sys.exit(f"llama.cpp server not ready after {timeout_s} s; log {self.log}")

    def cold(self):
        "One tiny unrelated request, so the next run does not start with a prompt prefix left by the previous one."
        http_json(f"{self.base}/completions", {"prompt": "Hello", "max_tokens": 1, "temperature": 0.0})

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        self.proc = None


def lmeval_env(work: Path) -> dict:
    "The environment lm-eval runs in: offline, a fresh HF_HOME in `work`, nothing of LlmForge's PYTHONPATH."
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(work / "hf-home"),
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)
    return env
