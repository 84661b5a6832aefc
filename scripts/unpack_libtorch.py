"""Unpack libtorch from the torch wheel downloaded by scripts/setup.sh.

usage: unpack_libtorch.py DOWNLOAD_DIR OUT_DIR

Takes torch/lib, torch/include and torch/share from the torch-*.whl in DOWNLOAD_DIR into
OUT_DIR/torch, and from the nvidia_*.whl beside it only libcudart.so.12 and libcupti.so.12
into OUT_DIR/torch/lib: the wheel's libtorch_cpu.so needs both to load (its profiler was
linked against them), and its $ORIGIN rpath finds them there. No GPU or driver is used.
"""
import glob
import os
import sys
import zipfile

CUDA_RUNTIME_LIBS = ("libcudart.so.12", "libcupti.so.12")


def main(download_dir, out_dir):
    wheels = glob.glob(os.path.join(download_dir, "torch-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"unpack_libtorch: expected one torch wheel in {download_dir}, found {wheels}")
    with zipfile.ZipFile(wheels[0]) as z:
        for m in z.infolist():
            if m.filename.startswith(("torch/lib/", "torch/include/", "torch/share/")):
                z.extract(m, out_dir)
    lib = os.path.join(out_dir, "torch", "lib")
    for whl in glob.glob(os.path.join(download_dir, "nvidia_*.whl")):
        with zipfile.ZipFile(whl) as z:
            for m in z.infolist():
                name = os.path.basename(m.filename)
                if name in CUDA_RUNTIME_LIBS:
                    with open(os.path.join(lib, name), "wb") as f:
                        f.write(z.read(m))
    missing = [n for n in CUDA_RUNTIME_LIBS if not os.path.exists(os.path.join(lib, n))]
    if missing:
        sys.exit(f"unpack_libtorch: the nvidia runtime wheels did not provide {missing}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
