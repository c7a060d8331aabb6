"""A corpus of bad input, tried as users write it: experiment and study files, dataset lines, knowledge-base files, tool
arguments and command-line flags. Each is refused with one line that names the field (or file and line) and what is
allowed, exit status 2 and no traceback; none creates an MLflow run, and none touches the working state a previous good
run left behind (response cache, record store, MLflow store)."""
import hashlib, json, os, shutil, subprocess
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

from llmforge.pipeline.cli import main
from llmforge.tools.builtin import tools

LLMFORGE = shutil.which("llmforge") or "llmforge"
GOOD = "name: good\nmodel: mock\nengine: mock\ndataset: quickstart\nn: 3\ntracking: {experiment: bad-input}\n"
ROW = {"id": "1", "question": "What is the capital of France?", "answers": ["Paris"]}

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    "A folder where one good run has left its MLflow store, response cache and record store."
    wd = tmp_path_factory.mktemp("bad-input")
    (wd / "good.yaml").write_text(GOOD)
    env = {**os.environ, "LLMFORGE_HOME": str(wd / "home")}
    p = subprocess.run([LLMFORGE, "run", "good.yaml", "--quiet"], cwd=wd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return wd

def state(wd: Path) -> dict:
    "Every file of the working state with its hash, and the number of MLflow runs."
    files = {str(p.relative_to(wd)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((wd / "home").rglob("*")) if p.is_file()}
    client = MlflowClient(f"sqlite:///{wd / 'mlflow.db'}")
    runs = sum(len(client.search_runs([e.experiment_id])) for e in client.search_experiments())
    return dict(files=files, runs=runs)

def yaml_case(text):       return {"bad.yaml": text}
def data_case(lines: bytes, extra: str = ""):
    return {"bad.jsonl": lines, "bad.yaml": f"name: d\nmodel: mock\nengine: mock\ndataset: bad.jsonl\n{extra}"}
def jl(*rows) -> bytes:     return b"".join(json.dumps(r).encode() + b"\n" for r in rows)

RUN = ["run", "bad.yaml"]
CASES = {
    # experiment files
    "yaml-syntax":        (yaml_case("name: [x\n"), RUN, "invalid YAML in bad.yaml"),
    "top-level-list":     (yaml_case("- name: x\n"), RUN, "expected a mapping at the top level"),
    "empty-file":         (yaml_case(""), RUN, "name: required field is missing"),
    "unknown-field":      (yaml_case("name: x\nsamples: 5\n"), RUN, "samples: unknown field"),
    "method-bare-name":   (yaml_case("name: x\nmethod: telepathy\n"), RUN, "method.name: 'telepathy' is not one of: cot, naive, rag, react"),
    "method-typo":        (yaml_case("name: x\nmethod: {name: cott}\n"), RUN, "method.name: 'cott' is not one of:"),
    "method-list":        (yaml_case("name: x\nmethod: [cot]\n"), RUN, "method: expected a method name (cot, naive, rag, react)"),
    "method-option":      (yaml_case("name: x\nmethod: {name: cot, options: {shot: 3}}\n"), RUN, "unknown option 'shot'; allowed options:"),
    "engine-kind":        (yaml_case("name: x\nengine: vllm\n"), RUN, "engine.kind: 'vllm' is not one of:"),
    "engine-no-url":      (yaml_case("name: x\nengine: openai\nmodel: m\n"), RUN, "engine.base_url: required when engine.kind is 'openai'"),
    "model-missing-file": (yaml_case("name: x\nmodel: /nonexistent/model.gguf\n"), RUN, "model: file not found: /nonexistent/model.gguf"),
    "model-not-gguf":     ({"fake.gguf": b"PK\x03\x04zip", **yaml_case("name: x\nmodel: fake.gguf\n")}, RUN, "model: fake.gguf is not a GGUF file"),
    "model-folder":       ({"dir.gguf/x": b"", **yaml_case("name: x\nmodel: dir.gguf\n")}, RUN, "model: dir.gguf is a folder"),
    "model-unknown":      (yaml_case("name: x\nmodel: gpt5\n"), RUN, "model: 'gpt5' is not one of:"),
    "dataset-unknown":    (yaml_case("name: x\ndataset: trivia\n"), RUN, "dataset: 'trivia' is not one of:"),
    "dataset-missing":    (yaml_case("name: x\ndataset: /nonexistent/d.jsonl\n"), RUN, "dataset: file not found: /nonexistent/d.jsonl"),
    "n-zero":             (yaml_case("name: x\nn: 0\n"), RUN, "n: 0: Input should be greater than or equal to 1"),
    "n-negative":         (yaml_case("name: x\nn: -3\n"), RUN, "n: -3"),
    "n-text":             (yaml_case("name: x\nn: ten\n"), RUN, "n: 'ten': Input should be a valid integer"),
    "seed-text":          (yaml_case("name: x\nseed: x\n"), RUN, "seed: 'x'"),
    "name-traversal":     (yaml_case("name: ../../etc/x\n"), RUN, "name: '../../etc/x' cannot name the report files"),
    "name-slash":         (yaml_case("name: a/b\n"), RUN, "name: 'a/b' cannot name the report files"),
    "name-hidden":        (yaml_case("name: .x\n"), RUN, "name: '.x' cannot name the report files"),
    "temperature":        (yaml_case("name: x\ngeneration: {temperature: -1}\n"), RUN, "generation.temperature"),
    "top-p":              (yaml_case("name: x\ngeneration: {top_p: 2}\n"), RUN, "generation.top_p"),
    "generation-string":  (yaml_case("name: x\ngeneration: greedy\n"), RUN, "generation: expected a mapping of fields, got 'greedy'"),
    "scorer":             (yaml_case("name: x\nscorers: [bleu]\n"), RUN, "scorers: 'bleu' is not one of:"),
    "batch-size":         (yaml_case("name: x\nrunner: {batch_size: 0}\n"), RUN, "runner.batch_size"),
    "log-traces":         (yaml_case("name: x\ntracking: {log_traces: maybe}\n"), RUN, "tracking.log_traces: 'maybe'"),
    # knowledge bases and retrieval options
    "kb-unknown":         (yaml_case("name: x\nmethod: {name: rag, options: {kb: nope}}\n"), RUN, "option 'kb'"),
    "kb-missing-file":    (yaml_case("name: x\nmethod: {name: rag, options: {kb: /nonexistent/kb.jsonl}}\n"), RUN, "option 'kb'"),
    "retriever":          (yaml_case("name: x\nmethod: {name: rag, options: {kb: hotpotqa, retriever: colbert}}\n"), RUN,
                           "allowed values: 'none', 'bm25', 'hybrid', 'reranked', 'vector'"),
    "kb-bad-line":        ({"kb.jsonl": b'{"id": "1", "title": "A", "text": "a"}\n{"id": "2", "title": "B"}\n',
                            **yaml_case("name: x\nmethod: {name: rag, options: {kb: kb.jsonl}}\n")}, RUN, "kb.jsonl:2: missing field 'text'"),
    "kb-bad-json":        ({"kb.jsonl": b'{"id": "1", "text": "a"}\n{"id": \n',
                            **yaml_case("name: x\nmethod: {name: rag, options: {kb: kb.jsonl}}\n")}, RUN, "kb.jsonl:2: invalid JSON"),
    "rag-k":              (yaml_case("name: x\nmethod: {name: rag, options: {kb: hotpotqa, k: 0}}\n"), RUN, "option 'k'"),
    # study files
    "study-one-arm":      (yaml_case("study: s\nbase: {model: mock, engine: mock}\narms: {a: {}}\n"), RUN, "at least two arms"),
    "study-arm-name":     (yaml_case("study: s\nbase: {model: mock, engine: mock}\narms: {'a b': {}, c: {}}\n"), RUN, "arm name 'a b'"),
    "study-arm-method":   (yaml_case("study: s\nbase: {model: mock, engine: mock}\narms: {a: {}, b: {method: tot}}\n"), RUN,
                           "(arm 'b'): method.name: 'tot' is not one of"),
    "study-baseline":     (yaml_case("study: s\nbase: {model: mock, engine: mock}\narms: {a: {}, b: {}}\ncompare: {baseline: c}\n"), RUN,
                           "compare.baseline: 'c' is not one of the arms: a, b"),
    "study-empty-sweep":  (yaml_case("study: s\nbase: {model: mock, engine: mock}\nsweep: {method.options.k: []}\n"), RUN,
                           "sweep.method.options.k: needs at least one value"),
    "study-name":         (yaml_case("study: ../s\narms: {a: {}, b: {}}\n"), RUN, "study: "),
    "study-arm-data":     ({"bad.jsonl": b"{oops\n", **yaml_case("study: s\nbase: {model: mock, engine: mock}\n"
                                                                 "arms: {a: {}, b: {dataset: bad.jsonl}}\n")}, RUN, "bad.jsonl:1: invalid JSON"),
    # dataset lines
    "data-bad-json":      (data_case(jl(ROW) + b'{"id": "2", "question": \n'), RUN, "bad.jsonl:2: invalid JSON"),
    "data-list-line":     (data_case(jl(ROW) + b'["q", "a"]\n'), RUN, "bad.jsonl:2: expected a JSON object, got list"),
    "data-no-question":   (data_case(jl(ROW, {"id": "2", "answers": ["a"]})), RUN, "bad.jsonl:2: missing field 'question'"),
    "data-question-type": (data_case(jl(ROW, {"id": "2", "question": {"t": 1}, "answers": ["a"]})), RUN,
                           "bad.jsonl:2: field 'question' must be a string, got dict"),
    "data-empty-answers": (data_case(jl(ROW, {"id": "2", "question": "q", "answers": []})), RUN, "bad.jsonl:2: field 'answers' has no non-empty answer"),
    "data-blank-answer":  (data_case(jl(ROW, {"id": "2", "question": "q", "answers": [""]})), RUN, "bad.jsonl:2: field 'answers' has no non-empty answer"),
    "data-utf8":          (data_case(jl(ROW) + b'{"id": "2", "question": "caf\xe9", "answers": ["a"]}\n'), RUN, "bad.jsonl:2: not valid UTF-8 (byte 0xe9"),
    "data-huge-line":     (data_case(jl(ROW) + b'{"id": "2", "question": "' + b"x" * (17 * 2**20) + b'", "answers": ["a"]}\n'), RUN,
                           "bad.jsonl:2: line is 17.0 MiB, over the 16 MiB limit per example"),
    "data-duplicate-id":  (data_case(jl(ROW, ROW)), RUN, "bad.jsonl:2: duplicate id '1'"),
    "data-mc-no-choices": (data_case(jl({"id": "1", "question": "q", "task": "mc", "answer_key": "A", "answers": ["x"]}), "n: 1\n"), RUN, "multiple-choice row without `choices`"),
    "data-empty-file":    (data_case(b"\n\n"), RUN, "is empty"),
    # command-line flags
    "cli-no-config":      ({}, ["run"], "error: llmforge run: the following arguments are required: config"),
    "cli-unknown-flag":   (yaml_case(GOOD), ["run", "bad.yaml", "--bogus"], "unrecognized arguments: --bogus"),
    "cli-missing-file":   ({}, ["run", "nope.yaml"], "experiment file not found: nope.yaml"),
    "cli-set-syntax":     (yaml_case(GOOD), ["run", "bad.yaml", "--set", "n5"], "--set expects key=value"),
    "cli-set-yaml":       (yaml_case(GOOD), ["run", "bad.yaml", "--set", "n=[1"], "--set n: '[1' is not a valid YAML value"),
    "cli-set-value":      (yaml_case(GOOD), ["run", "bad.yaml", "--set", "n=0"], "n: 0"),
    "cli-set-field":      (yaml_case(GOOD), ["run", "bad.yaml", "--set", "runner.cach=false"], "runner.cach: unknown field"),
    "cli-second-file":    (yaml_case(GOOD), ["run", "bad.yaml", "nope.yaml"], "experiment file not found: nope.yaml"),
    "cli-validate":       (yaml_case("name: x\nn: 0\n"), ["validate", "bad.yaml"], "n: 0"),
    "cli-list":           ({}, ["list", "widgets"], "unknown listing 'widgets'"),
    "cli-command":        ({}, ["fly"], "invalid choice: 'fly'"),
    "cli-compare-id":     ({}, ["compare", "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"], "0123456789abcdef0123456789abcdef"),
    "cli-fetch-unknown":  ({}, ["data", "fetch", "nope", "--out", "out"], "unknown dataset 'nope'"),
}

@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_cleanly(case, workdir, tmp_path, monkeypatch, capsys):
    files, argv, expected = CASES[case]
    for name, content in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    before = state(workdir)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMFORGE_HOME", str(workdir / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'mlflow.db'}")
    try: rc = main(argv)
    except SystemExit as e: rc = e.code
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert rc == 2, (rc, out.out, out.err)
    assert len(lines) == 1 and lines[0].startswith("error: "), out.err          # one line, no traceback
    assert expected in lines[0], lines[0]
    assert len(lines[0]) < 600, "the line names the problem; it does not dump the input"
    assert state(workdir) == before                                              # no run created, nothing touched

def test_the_corpus_is_broad():
    kinds = {c.split("-")[0] for c in CASES}
    assert len(CASES) >= 40 and {"data", "study", "kb", "cli"} <= kinds

def test_console_script_exit_status_and_no_traceback(tmp_path):
    "The same through the installed `llmforge` command: exit 2, one line on stderr, nothing created."
    (tmp_path / "bad.yaml").write_text("name: ../../x\nmethod: telepathy\n")
    p = subprocess.run([LLMFORGE, "run", "bad.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "LLMFORGE_HOME": str(tmp_path / "home")})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: invalid experiment bad.yaml:\n") and "name:" in p.stderr and "method.name:" in p.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "reports").exists()

@pytest.mark.parametrize("tool,args,expected", [
    ("calculator", "__import__('os').system('true')", "Not allowed"),
    ("calculator", "1" * 5000, "too long"),
    ("calculator", "2 ** 99999999", ""),
    ("calculator", "", ""),
    ("calculator", {"expression": ["1", "2"]}, "expression"),
    ("calculator", {"expr": "1+1"}, "expression"),
    ("calculator", "(1 + 2", ""),
    ("lookup", "Paris", "search"),
    ("search", "", ""),
])
def test_bad_tool_arguments_come_back_as_observations(tool, args, expected):
    "A model's bad tool call is an observation it can read (ok=False, a reason), never an exception that ends the run."
    obs = tools.get(tool)()(args, {})
    assert not obs.ok and obs.error and obs.text.strip(), obs
    assert expected.lower() in obs.text.lower(), obs.text
    assert len(obs.text) <= 2000
