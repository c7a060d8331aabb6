"""GGUF exports against the model they come from: what each type costs in perplexity, greedy agreement and size.

For each registered model (SmolLM2-135M-Instruct, Gemma 3 270M base), the dequantized transformers model the workbench
trains from is written as GGUF through the export path users run (`llmforge.export.gguf`: llama.cpp's
`convert_hf_to_gguf.py` for f16 and q8_0, `llama_model_quantize` for the k-quants, from the f16 file), and each file is
checked as `llmforge export` checks it (`llmforge.export.checks.check_gguf`, on the same token ids): greedy replies to
`--prompts` quickstart questions (`--max-tokens`), perplexity on `--texts` Self-Instruct instructions with their answers
(from data/training, shipped with the repository), llama.cpp's tokenizer against the model's. The chat model gets its
chat template; the base model plain `Question: ...\\nAnswer:` prompts.

Recorded per model and type: file size, bits per weight and the tensors that fell back to another type (from the
quantizer's log), the perplexity of the model and of the GGUF and their ratio against the stated tolerance, the share
of identical greedy replies and of matching prefix, tokenizer agreement, and the seconds to write the file. One round:
the figures are properties of the files, not timings (the seconds are given for orientation only).

    python benchmarks/export/gguf_checks.py
    python benchmarks/export/gguf_checks.py --models smollm2-135m-instruct --types f16,q8_0,q4_k_m
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Bench
import json, shutil, tempfile, time


def prompts_texts(tok, n_prompts: int, n_texts: int) -> tuple[list[str], list[str]]:
    from llmforge.core.paths import project_data_dir
    d = project_data_dir()
    qs = [json.loads(l)["question"] for l in (d / "quickstart.jsonl").read_text().splitlines() if l.strip()][:n_prompts]
    rows = [json.loads(l) for l in (d / "training" / "self_instruct_seed_tasks.jsonl").read_text().splitlines() if l.strip()][:n_texts]
    if tok.chat_template:
        prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True) for q in qs]
        texts = [tok.apply_chat_template([{"role": "user", "content": (r["instruction"] + "\n" + r["input"]).strip()},
                                          {"role": "assistant", "content": r["output"]}], tokenize=False) for r in rows]
    else:
        prompts = [f"Question: {q}\nAnswer:" for q in qs]
        texts = [f"{(r['instruction'] + ' ' + r['input']).strip()}\n{r['output']}" for r in rows]
    return prompts, texts


def main():
    bench = Bench(__doc__, rounds=1)
    p = bench.parser
    p.add_argument("--models", default="smollm2-135m-instruct,gemma3-270m")
    p.add_argument("--types", default="f16,q8_0,q6_k,q5_k_m,q4_k_m")
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--texts", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    a = bench.parse()
    import torch
    from llmforge.export.checks import check_gguf, TOLERANCE
    from llmforge.export.gguf import convert_hf, quantize, OUTTYPES
    from llmforge.models.hf import load_causal_lm, hf_model_dir
    torch.set_num_threads(a.threads)
    rows = []
    for model in a.models.split(","):
        m, tok = load_causal_lm(model)
        prompts, texts = prompts_texts(tok, a.prompts, a.texts)
        work = Path(tempfile.mkdtemp(prefix="gguf-checks-"))
        try:
            t0 = time.perf_counter()
            f16 = convert_hf(hf_model_dir(model), work / "f16.gguf", "f16")
            secs = {"f16": time.perf_counter() - t0}
            files, info = {"f16": f16}, {"f16": {"size_mb": round(f16.stat().st_size / 2**20, 1), "bpw": 16.0, "fallback": None}}
            for t in a.types.split(","):
                if t == "f16": continue
                t0 = time.perf_counter()
                if t in OUTTYPES: files[t] = convert_hf(hf_model_dir(model), work / f"{t}.gguf", t); info[t] = {"size_mb": round(files[t].stat().st_size / 2**20, 1)}
                else: q = quantize(f16, work / f"{t}.gguf", t, a.threads); files[t] = q.pop("path"); info[t] = q
                secs[t] = time.perf_counter() - t0
            ref = None
            for t in a.types.split(","):
                res, ref = check_gguf(t, files[t], m, tok, prompts, texts, a.max_tokens, reference=ref, threads=a.threads)
                row = {"model": model, "type": t, **info[t], "ppl_model": res["ppl_hf"], "ppl_gguf": res["ppl_gguf"],
                       "ppl_ratio": res["ppl_ratio"], "tolerance": TOLERANCE.get(t), "identical": res["agreement"]["identical"],
                       "prefix": round(res["agreement"]["prefix"], 3), "tokenizer": res["tokenizer_agreement"], "passed": res["passed"],
                       "write_s": round(secs[t], 1)}
                rows.append(row); bench.log(f"{model} {t}: {row}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    bench.fact(prompts=a.prompts, texts=a.texts, max_tokens=a.max_tokens, threads=a.threads)
    bench.table("each GGUF type against the model it was written from", rows)
    bench.save()


if __name__ == "__main__":
    main()
