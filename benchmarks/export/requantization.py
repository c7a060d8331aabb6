"""Requantizing a model that was itself dequantized from a GGUF: why q5_k_m can lose more than q4_k_m.

The registered base models reach the workbench as GGUF files (SmolLM2-135M-Instruct as Q4_1, Gemma 3 270M as Q4_K_M),
and training starts from their dequantized weights, which lie on the grid of the type they came from. Exporting writes
them to GGUF again. For SmolLM2 (rows of 576 values, not a multiple of the k-quants' 256) llama.cpp replaces most
k-quant tensors by a legacy type: q4_k_m's fall back to Q5_0, q5_k_m's to Q5_1. `gguf_checks.py` measured the second as
the worse file; this benchmark says why.

For each legacy type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), every matrix of the dequantized model (the linear weights and the
token embeddings, which SmolLM2 ties to its output layer) is quantized and dequantized with gguf-py's reference implementation (the format, no kernel involved) and the model's
perplexity is measured with transformers on `--texts` Self-Instruct instructions with their answers; the same type is
then written by llama.cpp's quantizer (`--pure`: every tensor in that type) from the model's f16 GGUF and measured by
llama.cpp on the same token ids. Recorded: the relative RMS error of the requantized weights, the perplexity ratio
against the model in both implementations, and the share of weights that were already exactly on the type's grid.

    python benchmarks/export/requantization.py
    python benchmarks/export/requantization.py --types Q5_0,Q5_1 --texts 8
"""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench
import copy, math, shutil, tempfile


def main():
    bench = Bench(__doc__, rounds=1)
    p = bench.parser
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--types", default="Q4_0,Q4_1,Q5_0,Q5_1,Q8_0")
    p.add_argument("--texts", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    a = bench.parse()
    import torch
    from gguf import GGMLQuantizationType as G
    from gguf.quants import quantize, dequantize
    from gguf_checks import prompts_texts
    from llmforge.export.checks import hf_nll, gguf_nll
    from llmforge.export.gguf import convert_hf, quantize as write_quantized
    from llmforge.models.hf import load_causal_lm, hf_model_dir
    torch.set_num_threads(a.threads)
    m, tok = load_causal_lm(a.model)
    _, texts = prompts_texts(tok, 0, a.texts)
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    nll, n = hf_nll(m, ids); base = math.exp(nll / n)
    work = Path(tempfile.mkdtemp(prefix="requant-"))
    rows = []
    try:
        f16 = convert_hf(hf_model_dir(a.model), work / "f16.gguf", "f16")
        for t in a.types.split(","):
            mm = copy.deepcopy(m); se = sw = exact = total = 0.0
            with torch.no_grad():
                for name, w in mm.named_parameters():
                    if w.ndim != 2: continue
                    x = w.detach().float().numpy()
                    y = dequantize(quantize(x, G[t]), G[t]).reshape(x.shape)
                    se += float(((y - x) ** 2).sum()); sw += float((x ** 2).sum())
                    exact += float((y == x).sum()); total += x.size
                    w.copy_(torch.from_numpy(y))
            nll, n = hf_nll(mm, ids); ref = math.exp(nll / n); del mm
            out = write_quantized(f16, work / f"{t}.gguf", t.lower(), a.threads, pure=True)["path"]
            nll, n = gguf_nll(out, ids, None, a.threads)
            row = {"model": a.model, "type": t, "weights_on_grid": round(exact / total, 4), "weight_rel_rmse": round(math.sqrt(se / sw), 4),
                   "ppl_model": round(base, 4), "ppl_ratio_reference": round(ref / base, 4), "ppl_ratio_llama_cpp": round(math.exp(nll / n) / base, 4),
                   "size_mb": round(out.stat().st_size / 2**20, 1)}
            rows.append(row); bench.log(f"{t}: {row}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bench.fact(model=a.model, texts=a.texts, threads=a.threads)
    bench.table("each legacy type, every matrix requantized: the format (gguf-py, transformers) and llama.cpp", rows)
    bench.save()


if __name__ == "__main__":
    main()
