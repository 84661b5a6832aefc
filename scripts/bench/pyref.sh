#!/usr/bin/env bash
# Prints the python of the reference stack for `make bench-compare`: torch 2.1.0 (CPU),
# transformers 4.44.2, peft 0.12.0. It reuses $PYREF (default /root/refenv) when that
# environment has these versions; otherwise it creates a venv in the harness cache,
# ~/.cache/vectorfit-harness/pyref, once: torch's CPU wheel from download.pytorch.org
# (about 190 MB; PyPI's Linux wheel of torch 2.1.0 pulls ~2.5 GB of CUDA libraries),
# transformers, peft and numpy<2 from PyPI, ~1-2 minutes and ~1 GB on disk.
set -euo pipefail
want='import torch, transformers, peft, sys
ok = torch.__version__.split("+")[0] == "2.1.0" and transformers.__version__ == "4.44.2" and peft.__version__ == "0.12.0"
sys.exit(0 if ok else 1)'
for py in "${PYREF:-/root/refenv}/bin/python" "$HOME/.cache/vectorfit-harness/pyref/bin/python"; do
	if [ -x "$py" ] && "$py" -c "$want" 2>/dev/null; then
		echo "$py"
		exit 0
	fi
done
venv="$HOME/.cache/vectorfit-harness/pyref"
echo "bench-compare: installing the Python reference stack into $venv (once)" >&2
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch==2.1.0 >&2
"$venv/bin/pip" install -q transformers==4.44.2 peft==0.12.0 tokenizers==0.19.1 safetensors "numpy<2" >&2
"$venv/bin/python" -c "$want" || { echo "bench-compare: $venv does not have the wanted versions" >&2; exit 1; }
echo "$venv/bin/python"
