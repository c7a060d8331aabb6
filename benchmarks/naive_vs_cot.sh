#!/usr/bin/env bash
# Naive vs zero-shot CoT vs 3-shot CoT on 50 GSM8K and 50 TriviaQA items with SmolLM2, then a cached re-run and an
# interrupted-then-resumed run. Prints one summary line per run (accuracy with 95% CI, wall time, cache and resume counts).
#   LLMFORGE_DATA_DIR=../shared/data bash benchmarks/naive_vs_cot.sh [workdir]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WD="${1:-$(mktemp -d)}"; mkdir -p "$WD"; cd "$WD"
export LLMFORGE_HOME="$WD/.llmforge" MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1
summary() {  # the newest report JSON of an experiment -> one line
  python - "$1" <<'PY'
import json, sys, glob, os
f = max(glob.glob(f"reports/{sys.argv[1]}-*.json"), key=os.path.getmtime)
s = json.load(open(f))["summary"]
print(f"{sys.argv[1]:16s} acc {100*s['accuracy']:5.1f}% [{100*s['accuracy_ci_low']:.1f}, {100*s['accuracy_ci_high']:.1f}]"
      f"  loop {s['wall_time_s']:7.1f} s  start-up {s['startup_s']:.2f} s  latency p50 {s.get('latency_p50', float('nan')):.2f} s"
      f"  tokens {int(s['completion_tokens'])} gen  cached {int(s['n_cached'])}/{int(s['n'])}  resumed {int(s['n_resumed'])}"
      f"  failed {int(s['n_failed'])}")
PY
}
for exp in ${EXPERIMENTS:-gsm8k_naive gsm8k_cot gsm8k_cot3 triviaqa_naive triviaqa_cot triviaqa_cot3}; do
  llmforge run "$ROOT/params/$exp.yaml" --quiet > /dev/null; summary "$exp"
done
echo "--- re-run of gsm8k_cot (response cache)"
llmforge run "$ROOT/params/gsm8k_cot.yaml" --quiet > /dev/null; summary gsm8k_cot
echo "--- triviaqa_cot with a fresh cache, interrupted after 20 s, then resumed"
export LLMFORGE_HOME="$WD/.llmforge-resume"
timeout -s INT 20 llmforge run "$ROOT/params/triviaqa_cot.yaml" --quiet > /dev/null || true
python -c "import glob; print('records on disk after the interruption:', sum(1 for f in glob.glob('$LLMFORGE_HOME/runs/*/records.jsonl') for _ in open(f)))"
llmforge run "$ROOT/params/triviaqa_cot.yaml" --quiet > /dev/null; summary triviaqa_cot
