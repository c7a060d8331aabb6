"""The HTTP engines against real servers on loopback: a llama.cpp OpenAI-compatible server running SmolLM2, a server that
fails twice with 503 before answering (retries), one that sends malformed and truncated bodies, one that rejects the API
key, and a closed port. (tests/test_faults.py runs whole experiments through a fault-injecting proxy.)"""
import json, os, socket, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.slow   # a real llama.cpp server: skipped by the fast tier (pytest tests --fast)

os.environ["HF_HUB_OFFLINE"] = "1"
from llmforge.core.types import GenerationRequest
from llmforge.core.types import EngineError
from llmforge.engines.http import HFInferenceEngine, OpenAIEngine
from llmforge.engines.llama_cpp import LlamaCppEngine

CHAT = [{"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name three primary colors."}]
GREEDY = dict(max_tokens=12, temperature=0.0, top_p=1.0, top_k=40, repeat_penalty=1.0, seed=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(llama_servers):
    "A real `python -m llama_cpp.server` with SmolLM2 on a free loopback port (conftest's `llama_servers`; stopped by its PID)."
    return llama_servers()


def test_openai_chat(server):
    eng = OpenAIEngine("smollm2", base_url=server, mode="chat", max_retries=0, timeout_s=60)
    [r] = eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])
    assert r.text.strip()
    assert r.prompt_tokens > 10 and 0 < r.completion_tokens <= 12
    assert r.finish_reason in ("stop", "length") and r.latency_s > 0
    assert eng.identity() == dict(kind="openai", base_url=server, model="smollm2", mode="chat",
                                  fixed_sampling=eng.identity()["fixed_sampling"])


def test_openai_completion(server):
    eng = OpenAIEngine("smollm2", base_url=server, mode="completion", max_retries=0, timeout_s=60)
    [r] = eng.generate([GenerationRequest(prompt="1, 2, 3, 4, 5,", **{**GREEDY, "max_tokens": 4})])
    assert r.text.strip()
    assert r.prompt_tokens > 5 and r.completion_tokens == 4 and r.finish_reason == "length"


def test_openai_matches_in_process(server):
    """Same request, all settings explicit, greedy: the server and the in-process engine give the same text. Without the
    llama.cpp-specific settings the server falls back to its own repeat_penalty (1.1) and the answer changes."""
    req = GenerationRequest(messages=[{"role": "user", "content": "Name three primary colors."}], **{**GREEDY, "max_tokens": 24})
    [http] = OpenAIEngine("smollm2", base_url=server, max_retries=0, timeout_s=60).generate([req])
    local = LlamaCppEngine("smollm2-135m-instruct", n_ctx=1024, n_threads=1)
    try: [inproc] = local.generate([req])
    finally: local.close()
    assert http.text == inproc.text
    assert (http.prompt_tokens, http.completion_tokens) == (inproc.prompt_tokens, inproc.completion_tokens)
    [implicit] = OpenAIEngine("smollm2", base_url=server, max_retries=0, extra_sampling=False).generate([req])
    assert implicit.text != inproc.text


def test_hf_inference_offline_mode_is_explained(monkeypatch):
    "huggingface_hub's offline switch blocks every InferenceClient request, even to loopback: the error says so."
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    eng = HFInferenceEngine(model="smollm2", base_url=f"http://127.0.0.1:{free_port()}/v1", mode="chat", timeout_s=5)
    with pytest.raises(EngineError, match="unset HF_HUB_OFFLINE"):
        eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])


def test_hf_inference_chat(server, monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)   # only for this loopback server
    monkeypatch.setenv("LLMFORGE_TEST_HF_TOKEN", "hf_test_token_never_in_identity")
    eng = HFInferenceEngine(model="smollm2", base_url=server, mode="chat", api_key_env="LLMFORGE_TEST_HF_TOKEN",
                            timeout_s=60, max_retries=0)
    [r] = eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])
    assert r.text.strip() and r.prompt_tokens > 10 and 0 < r.completion_tokens <= 12
    assert r.finish_reason in ("stop", "length")
    assert "hf_test_token" not in json.dumps(eng.identity())


def test_unreachable_port_fails_fast():
    port = free_port()   # bound then released: nothing listens there
    eng = OpenAIEngine("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, timeout_s=5)
    t0 = time.monotonic()
    with pytest.raises(EngineError, match=rf"cannot reach http://127\.0\.0\.1:{port}/v1"):
        eng.generate([GenerationRequest(prompt="hi", max_tokens=2)])
    assert time.monotonic() - t0 < 10


def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict | bytes, headers: dict | None = None):
    "Send `payload` (JSON, or raw bytes as they are); `headers` override the defaults (a larger Content-Length cuts the body short)."
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}.items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


class _Scripted(BaseHTTPRequestHandler):
    "Answers each POST with the next (status, body) of the server's script; the last entry repeats."
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        srv = self.server
        srv.requests.append(dict(path=self.path, body=body, auth=self.headers.get("Authorization")))
        _reply(self, *srv.script[min(len(srv.requests) - 1, len(srv.script) - 1)])

    def log_message(self, *a): pass


@pytest.fixture
def scripted():
    "Start a stdlib HTTP server on loopback that plays a script of responses; yields a function taking the script."
    servers = []
    def start(script):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
        srv.script, srv.requests = script, []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield start
    for s in servers:
        s.shutdown(); s.server_close()


COMPLETION_JSON = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "blue"}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}


def test_retries_on_503(scripted):
    busy = (503, {"error": {"message": "overloaded", "type": "server_error"}})
    srv, base = scripted([busy, busy, (200, COMPLETION_JSON)])
    eng = OpenAIEngine("m", base_url=base, max_retries=3, timeout_s=10)
    [r] = eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])
    assert (r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason) == ("blue", 9, 1, "stop")
    assert len(srv.requests) == 3
    sent = srv.requests[-1]["body"]   # every sampling setting goes out explicitly
    assert {k: sent[k] for k in ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty", "seed")} == \
        {k: GREEDY[k] for k in ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty", "seed")}


@pytest.mark.parametrize("kind", ["openai", "hf_inference"])
def test_malformed_and_truncated_answers_are_retried(kind, scripted, monkeypatch):
    """A 200 whose body is cut short, is not JSON, or is JSON but not a completion is retried like a 503 (not recorded as
    an answer, not a crash), and each retry is counted by kind in `stats()`."""
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    good = json.dumps(COMPLETION_JSON).encode()
    srv, base = scripted([(200, good[:40]),                                                    # JSON cut in half
                          (200, b"<html><h1>502 Bad Gateway</h1></html>", {"Content-Type": "text/html"}),
                          (200, good, {"Content-Length": str(len(good) + 64)}),               # body shorter than announced
                          (200, {"id": "c1", "object": "chat.completion", "model": "m"}),     # no choices
                          (200, COMPLETION_JSON)])
    cls = OpenAIEngine if kind == "openai" else HFInferenceEngine
    eng = cls(model="m", base_url=base, max_retries=4, timeout_s=10)
    eng.retry.sleep = lambda s: None                      # the backoff itself is the notebook's business
    [r] = eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])
    assert (r.text, r.completion_tokens) == ("blue", 1) and len(srv.requests) == 5
    st = eng.stats()
    assert (st["attempts"], st["retries"], st["gave_up"]) == (5, 4, 0)
    assert st["retries_by_kind"] == {"malformed": 3, "truncated": 1}
    srv, base = scripted([(200, good[:40])])              # malformed every time: an error that says so, after the retries
    eng = cls(model="m", base_url=base, max_retries=1, timeout_s=10)
    eng.retry.sleep = lambda s: None
    with pytest.raises(EngineError, match=r"sent a malformed response for model 'm' \(JSONDecodeError: .*1 retries\)"):
        eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])
    assert len(srv.requests) == 2 and eng.stats()["gave_up"] == 1


def test_rejected_key_names_the_variable(scripted, monkeypatch):
    secret = "sk-secret-value-never-shown-42"
    monkeypatch.setenv("LLMFORGE_TEST_API_KEY", secret)
    srv, base = scripted([(401, {"error": {"message": f"Incorrect API key provided: {secret}",
                                            "type": "invalid_request_error", "code": "invalid_api_key"}})])
    eng = OpenAIEngine("m", base_url=base, api_key_env="LLMFORGE_TEST_API_KEY", max_retries=2, timeout_s=10)
    with pytest.raises(EngineError) as ei:
        eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])
    msg = str(ei.value)
    assert "$LLMFORGE_TEST_API_KEY" in msg and "rejected the API key" in msg
    assert secret not in msg and secret not in repr(ei.value)
    assert len(srv.requests) == 1                     # 401 is not retried
    assert srv.requests[0]["auth"] == f"Bearer {secret}"


def test_hf_inference_retries_and_rejected_token(scripted, monkeypatch):
    "The HF engine retries 5xx like the openai SDK does, and a 401 names the variable, not the token."
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    busy = (503, {"error": "overloaded"})
    srv, base = scripted([busy, (200, COMPLETION_JSON)])
    [r] = HFInferenceEngine(model="m", base_url=base, max_retries=2, timeout_s=10).generate(
        [GenerationRequest(messages=CHAT, **GREEDY)])
    assert (r.text, r.completion_tokens) == ("blue", 1) and len(srv.requests) == 2
    sent = srv.requests[-1]["body"]
    assert (sent["top_k"], sent["repeat_penalty"], sent["max_tokens"]) == (GREEDY["top_k"], GREEDY["repeat_penalty"], 12)
    secret = "hf_secret_token_never_shown"
    monkeypatch.setenv("LLMFORGE_TEST_HF_TOKEN", secret)
    srv, base = scripted([(401, {"error": f"Invalid token {secret}"})])
    with pytest.raises(EngineError) as ei:
        HFInferenceEngine(model="m", base_url=base, api_key_env="LLMFORGE_TEST_HF_TOKEN", max_retries=2).generate(
            [GenerationRequest(messages=CHAT, **GREEDY)])
    assert "$LLMFORGE_TEST_HF_TOKEN" in str(ei.value) and secret not in str(ei.value)
    assert len(srv.requests) == 1


def test_hf_inference_completion_mode(scripted, monkeypatch):
    "Completion mode speaks TGI's API (`text_generation`): settings go in `parameters`, token counts come from `details`."
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    tgi = {"generated_text": " Paris, the", "details": {"finish_reason": "length", "generated_tokens": 3, "seed": 0,
           "prefill": [{"id": 1, "text": "<s>", "logprob": None}, {"id": 2, "text": "The", "logprob": -1.0}], "tokens": []}}
    srv, base = scripted([(200, [tgi])])
    eng = HFInferenceEngine(model="m", base_url=base.removesuffix("/v1"), mode="completion", max_retries=0)
    [r] = eng.generate([GenerationRequest(prompt="The capital of France is", max_tokens=3)])
    assert (r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason) == (" Paris, the", 2, 3, "length")
    params = srv.requests[0]["body"]["parameters"]
    assert (params["max_new_tokens"], params["do_sample"], params["top_k"], params["repetition_penalty"]) == (3, False, 40, 1.0)


def _tool_call_reply(calls, content=None):
    return {"id": "c2", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": content,
                "tool_calls": [{"id": f"call_{i}", "type": "function",
                                "function": {"name": n, "arguments": json.dumps(a)}} for i, (n, a) in enumerate(calls)]}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 15, "total_tokens": 135}}


def test_react_native_tool_calling(scripted):
    """ReAct with `tool_calling: native` over the OpenAI engine: the tools go out as function specs, the server's tool calls
    run against the offline Wikipedia corpus, and the observation goes back as a `tool` message with the call's id."""
    from llmforge.methods.react import ReActMethod
    from llmforge.core.types import Context, Example
    srv, base = scripted([(200, _tool_call_reply([("search", {"entity": "Shirley Temple"})], "I should look her up.")),
                          (200, _tool_call_reply([("finish", {"answer": "Chief of Protocol"})]))])
    ex = Example("t1", "What government position was held by the woman who portrayed Corliss Archer in Kiss and Tell?",
                 ["Chief of Protocol"], task="qa")
    eng = OpenAIEngine("m", base_url=base, max_retries=0, timeout_s=10)
    pred = ReActMethod(tool_calling="native").solve(ex, Context(eng, generation=dict(max_tokens=64)))
    assert pred.answer == "Chief of Protocol"
    first, second = (r["body"] for r in srv.requests)
    assert [t["function"]["name"] for t in first["tools"]] == ["search", "lookup", "finish"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["entity"]
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert second["messages"][2]["tool_calls"][0]["function"]["name"] == "search"
    tool_msg = second["messages"][3]
    assert tool_msg["tool_call_id"] == "call_0" and "Shirley Temple" in tool_msg["content"]
    step = pred.trace[0]
    assert (step["action"], step["args"], step["success"], step["thought"]) == ("search", {"entity": "Shirley Temple"}, True,
                                                                                 "I should look her up.")
    assert pred.trace[-1]["termination"] == "finish" and pred.prompt_tokens == 240


class _RateLimited(BaseHTTPRequestHandler):
    "Answers 429 (with Retry-After: 0) while more than `capacity` requests are in flight, else a completion after 50 ms."
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        srv = self.server
        with srv.lock:
            srv.in_flight += 1
            over = srv.in_flight > srv.capacity
        try:
            if over:
                srv.rejected += 1
                _reply(self, 429, {"error": {"message": "rate limited", "type": "rate_limit_error"}}, {"Retry-After": "0"})
            else:
                time.sleep(0.05)
                srv.served += 1
                _reply(self, 200, COMPLETION_JSON)
        finally:
            with srv.lock: srv.in_flight -= 1

    def log_message(self, *a): pass


@pytest.mark.parametrize("kind", ["openai", "hf_inference"])
def test_concurrency_adapts_to_429(kind, monkeypatch):
    "Eight threads against a server that takes two requests at a time: every request is answered; 429s lower the limit."
    from concurrent.futures import ThreadPoolExecutor
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    srv.lock, srv.in_flight, srv.capacity, srv.rejected, srv.served = threading.Lock(), 0, 2, 0, 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    try:
        if kind == "openai": eng = OpenAIEngine("m", base_url=base, max_retries=8, timeout_s=10, max_concurrency=8)
        else:
            import huggingface_hub.constants
            monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
            eng = HFInferenceEngine(model="m", base_url=base, max_retries=8, timeout_s=10, max_concurrency=8)
        with ThreadPoolExecutor(8) as ex:
            out = list(ex.map(lambda i: eng.generate([GenerationRequest(messages=CHAT, **GREEDY)])[0], range(24)))
        assert [r.text for r in out] == ["blue"] * 24 and srv.served == 24
        st = eng.stats()
        assert srv.rejected >= 1 and st["rate_limited"] >= 1, (srv.rejected, st)
        assert st["concurrency_limit"] < 8 and st["peak_in_flight"] <= 8, st
    finally:
        srv.shutdown(); srv.server_close()
