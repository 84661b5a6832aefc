#!/usr/bin/env bash
# cuda-build-test.sh — `make test-cuda-build`: prove the CUDA build on a machine with no GPU.
#
#   1. CUDA=1 setup in a module and build cache of its own (under $CACHE_DIR/cuda-build),
#      so the CPU build of `make test` is left as it is: the torch 2.1.0 wheel's libtorch
#      plus the nvidia-*-cu12 wheels it pins (about 2.5 GB, once), gotch compiled against
#      torch_cuda (about 3 minutes on 2 cores, once).
#   2. builds the runner twice, CPU and CUDA, and checks:
#      - ldd: the CUDA binary resolves libtorch_cuda, c10_cuda, cuBLAS, cuDNN, NCCL from
#        the cache, with no environment variables (no "not found");
#      - -device cuda stops with exit status 2 and one line naming the reason (no driver
#        here), not a C++ trace;
#      - -device auto runs on the CPU and the record says "cpu";
#      - the same CPU run with both binaries gives bit-identical records (times, memory,
#        host and command aside).
# Cost: the first run downloads ~2.5 GB and compiles gotch (~5 min); later runs ~1 min.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${VECTORFIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectorfit-harness}
WORK=$CACHE_DIR/cuda-build
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail() { echo "cuda-build-test: FAIL: $*" >&2; exit 1; }
say() { echo "cuda-build-test: $*"; }
cd "$ROOT"

say "CPU build"
bash scripts/setup.sh >/dev/null
go build -o "$OUT/runner-cpu" ./runner

say "CUDA build (own module and build cache in $WORK)"
mkdir -p "$WORK/mod" "$WORK/cache"
export_cuda() { env GOMODCACHE="$WORK/mod" GOCACHE="$WORK/cache" GOFLAGS="${GOFLAGS:-} -modcacherw" CUDA=1 "$@"; }
export_cuda bash scripts/setup.sh
export_cuda go build -o "$OUT/runner-cuda" ./runner

say "ldd"
ldd "$OUT/runner-cuda" >"$OUT/ldd.txt"
if grep -q "not found" "$OUT/ldd.txt"; then
	grep "not found" "$OUT/ldd.txt" >&2
	fail "the CUDA binary has unresolved libraries"
fi
for lib in libtorch_cuda.so libc10_cuda.so libcublas.so.12 libcudnn.so.8 libnccl.so.2 libcudart.so.12; do
	grep -q "$lib => $CACHE_DIR/" "$OUT/ldd.txt" || fail "ldd does not resolve $lib from $CACHE_DIR:
$(cat "$OUT/ldd.txt")"
done
! ldd "$OUT/runner-cpu" | grep -q libtorch_cuda || fail "the CPU binary links libtorch_cuda"
say "ldd: $(grep -c '=>' "$OUT/ldd.txt") libraries, all resolved from the cache or the system"

tiny=(-suite glue -task rte -method vectorfit,lora -model tiny -data synthetic -synthetic-train 64 -synthetic-dev 32
	-max-steps 6 -warmup 0 -threads 1 -quiet -force)

say "-device cuda without a GPU"
set +e
"$OUT/runner-cuda" "${tiny[@]}" -device cuda -out "$OUT/cuda" >"$OUT/stdout" 2>"$OUT/stderr"
status=$?
set -e
[ "$status" = 2 ] || fail "-device cuda exited $status, want 2; stderr:
$(cat "$OUT/stderr")"
[ "$(wc -l <"$OUT/stderr")" = 1 ] || fail "-device cuda printed more than one line:
$(cat "$OUT/stderr")"
grep -qE "no NVIDIA driver|sees no CUDA device" "$OUT/stderr" || fail "unexpected reason: $(cat "$OUT/stderr")"
say "-device cuda: $(cat "$OUT/stderr")"

say "-device auto and bit-identical CPU runs"
"$OUT/runner-cuda" "${tiny[@]}" -device auto -out "$OUT/auto" >/dev/null 2>&1 || fail "-device auto failed"
"$OUT/runner-cpu" "${tiny[@]}" -device cpu -out "$OUT/cpu" >/dev/null 2>&1 || fail "the CPU binary's run failed"
python3 - "$OUT/auto" "$OUT/cpu" <<'PY' || fail "the CUDA build's CPU records differ from the CPU build's"
import glob, json, os, sys
auto, cpu = sys.argv[1:]
def load(d):
    out = {}
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        r = json.load(open(f))
        assert r["device"].lower() == "cpu", (f, r["device"])
        for k in ("timing", "peak_rss_bytes", "environment", "command", "code", "started_at", "finished_at"):
            r.pop(k, None)
        out[os.path.basename(f)] = r
    return out
a, c = load(auto), load(cpu)
if not a or a.keys() != c.keys():
    sys.exit(f"records {sorted(a)} vs {sorted(c)}")
for k in a:
    if a[k] != c[k]:
        diff = [f for f in set(a[k]) | set(c[k]) if a[k].get(f) != c[k].get(f)]
        sys.exit(f"{k} differs in {diff}")
print(f"cuda-build-test: {len(a)} records bit-identical (device cpu)")
PY
say "PASS"
