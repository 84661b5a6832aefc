#!/usr/bin/env bash
# gpu-smoke.sh — the first GPU run of a new version, in one command (after `CUDA=1 make setup`):
#
#   bash scripts/gpu-smoke.sh
#
# Builds the runner and trains, on -device cuda, with -dtype float32 and bfloat16:
#   - the tiny built-in model on every suite: glue (synthetic), squad (the SQuAD subset of
#     $DATA/squad), vision (MNIST of $DATA/mnist), nlg (synthetic), diffusion (synthetic);
#     a suite whose data are missing is skipped with a note;
#   - a short real-checkpoint run: all-MiniLM-L6-v2 (from the harness cache, or $MODEL) on
#     SST-2 of $DATA/glue, VectorFit and LoRA, 50 optimizer steps (skipped with a note when
#     either is missing);
# then prints one table row per run: steps, mean step time, peak GPU memory (and the
# device's memory in use before the model was built), peak RSS, status.
#
# Settings (environment): DEVICE (cuda), DTYPES ("float32 bfloat16"; add float16 to try
# the loss scaler), DATA (../shared/data), MODEL, OUT (a new temporary folder, kept).
# Exit status: 0 when every run finished, 1 otherwise; with no usable GPU it stops at the
# first run with the runner's one-line reason (no CUDA build, no driver, no device).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${VECTORFIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectorfit-harness}
DEVICE=${DEVICE:-cuda}
DTYPES=${DTYPES:-float32 bfloat16}
DATA=${DATA:-$ROOT/../shared/data}
MODEL=${MODEL:-$CACHE_DIR/models/all-MiniLM-L6-v2}
OUT=${OUT:-$(mktemp -d -t gpu-smoke.XXXXXX)}
say() { echo "gpu-smoke: $*" >&2; }
cd "$ROOT"
mkdir -p "$OUT"

say "building the runner"
go build -o "$OUT/runner" ./runner

common=(-device "$DEVICE" -seeds 1 -warmup 0 -force -quiet)
failed=()

# run NAME DTYPE ARGS...: one runner command into $OUT/NAME-DTYPE, its log beside it.
run() {
	local name=$1 dtype=$2
	shift 2
	local dir=$OUT/$name-$dtype
	say "$name, -dtype $dtype"
	local status=0
	"$OUT/runner" "$@" "${common[@]}" -dtype "$dtype" -out "$dir" >"$dir.log" 2>&1 || status=$?
	if [ "$status" = 2 ] && [ ${#failed[@]} = 0 ] && [ ! -d "$dir" ]; then
		# The first run could not start: no GPU here (or bad settings). Say why, in one line.
		echo "gpu-smoke: FAIL: -device $DEVICE cannot run here: $(tail -n 1 "$dir.log")" >&2
		exit 1
	fi
	if [ "$status" != 0 ]; then
		local why
		why=$(grep -m 1 -E '^(runner: |panic: |[0-9/]+ [0-9:]+ .*(Error|error))' "$dir.log" || tail -n 1 "$dir.log")
		failed+=("$name -dtype $dtype: exit $status, log $dir.log: $why")
	fi
}

tiny=(-model tiny -method vectorfit -max-steps 20 -eval-every 20)
for dt in $DTYPES; do
	run glue "$dt" -suite glue -task rte -data synthetic -synthetic-train 640 -synthetic-dev 64 -batch 32 "${tiny[@]}"
	if [ -f "$DATA/squad/dev-v1.1.subset.json" ]; then
		run squad "$dt" -suite squad -version 1.1 -train-data "$DATA/squad/dev-v1.1.subset.json" \
			-dev-data "$DATA/squad/dev-v1.1.subset.json" -allow-dev-overlap -max-train 128 -max-dev 32 \
			-max-len 128 -doc-stride 32 -batch 16 "${tiny[@]}"
	else
		say "squad skipped: no $DATA/squad/dev-v1.1.subset.json"
	fi
	if [ -d "$DATA/mnist" ]; then
		run vision "$dt" -suite vision -task mnist -data "$DATA/mnist" -train-split test -dev-fraction 0.2 \
			-max-train 512 -max-dev 64 -batch 32 "${tiny[@]}"
	else
		say "vision skipped: no $DATA/mnist"
	fi
	run nlg "$dt" -suite nlg -task xsum -data synthetic -synthetic-train 320 -synthetic-dev 8 -max-len 64 \
		-target-len 16 -beams 1 -batch 16 "${tiny[@]}"
	run diffusion "$dt" -suite diffusion -data synthetic -class-images 4 -sample-steps 2 -images-per-prompt 1 \
		-max-prompts 1 "${tiny[@]}"
	if [ -f "$MODEL/model.safetensors" ] && [ -d "$DATA/glue/SST-2" ]; then
		run minilm-sst2 "$dt" -suite glue -task sst2 -method vectorfit,lora -model "$MODEL" -data "$DATA/glue" \
			-max-train 1600 -max-steps 50 -eval-every 50 -batch 32 -max-len 64
	else
		say "real checkpoint skipped: needs $MODEL/model.safetensors (make setup) and $DATA/glue/SST-2"
	fi
done

echo
echo "GPU smoke test: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), device $DEVICE, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if command -v nvidia-smi >/dev/null 2>&1; then
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /' || true
fi
go run ./scripts/gpusmoke "$OUT" || true
echo "records and logs: $OUT"
if [ ${#failed[@]} -gt 0 ]; then
	echo "gpu-smoke: ${#failed[@]} run(s) failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
