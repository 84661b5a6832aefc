"""`make bench-compare`: the harness (scripts/bench/gobench) against PyTorch + PEFT
(scripts/bench/bench_torch.py) on the same shapes, methods and thread counts,
interleaved in rounds (the order of the two stacks alternates each round, so a load
that drifts over the run hits both alike). Prints, per (model, method, phase, threads),
the Go/PyTorch ratio of the median and of the minimum sample time, each stack's median
and CPU seconds per step, and the issue-16 targets beside the ratios (printed, never
tested). Each measurement is its own process; only the timed samples count.

    python scripts/bench/compare.py --gobench /tmp/gobench [--rounds 3] [--threads 1,2]

--phases e2e (with --runner, the harness's runner binary) times instead the whole
command on real SST-2: `runner -suite glue -task sst2` against bench_e2e.py (the HF
Trainer as run_glue.py runs it), wall time of each process including model load and
the dev evaluation, interleaved, with the dev accuracy of each side and the tokens each
side pushes through the model (see e2e below).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {"tiny": (32, 64), "minilm": (8, 128), "bert-base": (8, 128), "deberta-v3-base": (8, 128)}
# (hidden, intermediate, layers) of each model, for the FLOP floor.
DIMS = {"tiny": (64, 128, 2), "minilm": (384, 1536, 6), "bert-base": (768, 3072, 12), "deberta-v3-base": (768, 3072, 12)}
LORA_R = 8
TARGETS = {"train": 0.9, "eval": 0.8, "e2e": 0.6}
MINILM = os.path.expanduser("~/.cache/vectorfit-harness/models/all-MiniLM-L6-v2")
GLUE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data", "glue"))
# SPEC §4, SST-2: lr 8e-4 for the LoRA family, VectorFit 10× (the runner's defaults).
E2E_LR = {"lora": 8e-4, "vectorfit": 8e-3}


def measure(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gobench", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="tiny,minilm,bert-base,deberta-v3-base")
    ap.add_argument("--methods", default="vectorfit,lora,fullft")
    ap.add_argument("--phases", default="train,eval,svd,e2e")
    ap.add_argument("--svd-models", default="tiny,minilm", help="bert-base's (and deberta-v3-base's) SVDs take ~30 s a side and thread count")
    ap.add_argument("--json", help="also write every measurement here")
    ap.add_argument("--runner", help="e2e: the harness's runner binary")
    ap.add_argument("--e2e-model", default=MINILM)
    ap.add_argument("--e2e-data", default=GLUE, help="a GLUE folder with SST-2/train.tsv and dev.tsv")
    ap.add_argument("--e2e-max-train", type=int, default=1024, help="first N SST-2 training rows (0: all 67349)")
    ap.add_argument("--e2e-warmup-ratio", type=float, default=0.06)
    ap.add_argument("--e2e-methods", default="vectorfit,lora")
    a = ap.parse_args()
    phases = [p for p in a.phases.split(",") if p != "e2e"]
    if phases:
        per_step(a, phases)
    if "e2e" in a.phases.split(","):
        e2e(a)


def per_step(a, phases):
    cases = []
    for model in a.models.split(","):
        batch, seq = SHAPES[model]
        for phase in phases:
            for method in a.methods.split(","):
                if phase == "svd" and (method != "vectorfit" or model not in a.svd_models.split(",")):
                    continue  # only VectorFit has a setup worth timing
                for th in [int(t) for t in a.threads.split(",")]:
                    cases.append((model, method, phase, th, batch, seq))
    runs = {c: {"go": [], "pytorch": []} for c in cases}
    for r in range(a.rounds):
        for c in cases:
            model, method, phase, th, batch, seq = c
            common = dict(model=model, method=method, phase=phase, threads=th, samples=a.samples, batch=batch, seq=seq)
            go = [a.gobench] + [f"-{k}={v}" for k, v in common.items()]
            py = [sys.executable, os.path.join(HERE, "bench_torch.py")] + [f"--{k}={v}" for k, v in common.items()]
            order = [("go", go), ("pytorch", py)] if r % 2 == 0 else [("pytorch", py), ("go", go)]
            for stack, cmd in order:
                runs[c][stack].append(measure(cmd))
            print(f"round {r + 1}/{a.rounds}: {model} {method} {phase} threads={th} done", file=sys.stderr, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump([{"case": list(c), **v} for c, v in runs.items()], f, indent=1)
    load = os.getloadavg()
    print(f"\nGo/PyTorch, {a.rounds} interleaved rounds × {a.samples} samples; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"{'model':10} {'method':10} {'phase':6} {'thr':>3} {'ratio med':>9} {'ratio min':>9} {'go med s':>9} {'py med s':>9} {'go cpu s':>9} {'py cpu s':>9}  target")
    for c in cases:
        model, method, phase, th, _, _ = c
        go = [s for m in runs[c]["go"] for s in m["samples_s"]]
        py = [s for m in runs[c]["pytorch"] for s in m["samples_s"]]
        gcpu = statistics.median(m["cpu_s_per_sample"] for m in runs[c]["go"])
        pcpu = statistics.median(m["cpu_s_per_sample"] for m in runs[c]["pytorch"])
        med, mn = statistics.median(go) / statistics.median(py), min(go) / min(py)
        tgt = TARGETS.get(phase)
        verdict = "" if tgt is None else f"≤ {tgt}× {'PASS' if med <= tgt else 'MISS'}"
        print(f"{model:10} {method:10} {phase:6} {th:>3} {med:9.2f} {mn:9.2f} {statistics.median(go):9.4f} {statistics.median(py):9.4f} {gcpu:9.4f} {pcpu:9.4f}  {verdict}")
    print("targets (issue 16, printed, not tested): training step ≤ 0.9×, evaluation ≤ 0.8×, end-to-end SST-2 epoch ≤ 0.6× (--phases e2e)")
    floors(cases, runs)


def step_macs(model, method, batch, seq):
    """Multiply-adds of one training step's matrix products (forward and backward), the
    whole sequence through every layer, BERT-style attention (DeBERTa's relative terms
    not counted): the work the method cannot avoid. Elementwise work is not counted."""
    h, f, layers = DIMS[model]
    n = batch * seq
    linears = [(h, h)] * 4 + [(f, h), (h, f)]  # (out, in)
    attn = 2 * n * seq * h  # Q·Kᵀ and P·V
    per_layer = 3 * attn  # forward, and the gradients of both operands
    for out, inn in linears:
        dense = n * out * inn
        if method == "fullft":
            per_layer += 3 * dense  # forward, ∂x, ∂W
        elif method == "vectorfit":
            r = min(out, inn)  # the cheaper of rebuilding W and the factored path
            per_layer += min(2 * out * inn * r + 3 * dense, 2 * n * r * (inn + out))
        elif method == "lora":
            per_layer += 2 * dense + 3 * n * LORA_R * (inn + out)
        else:
            return None
    return layers * per_layer


def gemm_rate(threads):
    """Measured multiply-adds per second of one large float32 matmul in this libtorch."""
    code = ("import torch,time; torch.set_num_threads(%d); a=torch.randn(1024,768); b=torch.randn(768,3072); a@b\n"
            "t=[]\nfor _ in range(7):\n s=time.perf_counter(); a@b; t.append(time.perf_counter()-s)\n"
            "print(1024*768*3072/min(t))" % threads)
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def floors(cases, runs):
    """Each training step as a multiple of its FLOP floor: step_macs at the measured
    rate of one large matmul (the kernels both stacks call)."""
    rates = {}
    rows = []
    for c in cases:
        model, method, phase, th, batch, seq = c
        macs = step_macs(model, method, batch, seq)
        if phase != "train" or macs is None:
            continue
        if th not in rates:
            rates[th] = gemm_rate(th)
        floor = macs / rates[th]
        go = statistics.median(s for m in runs[c]["go"] for s in m["samples_s"])
        py = statistics.median(s for m in runs[c]["pytorch"] for s in m["samples_s"])
        rows.append((model, method, th, macs, floor, go, py))
    if not rows:
        return
    print("\nTraining step against its FLOP floor (matrix-product multiply-adds at one large matmul's rate:",
          ", ".join(f"{th} thread(s) {r / 1e9:.1f} G/s" for th, r in rates.items()) + ")")
    print(f"{'model':16} {'method':10} {'thr':>3} {'GMAC':>7} {'floor s':>8} {'go/floor':>8} {'py/floor':>8}")
    for model, method, th, macs, floor, go, py in rows:
        print(f"{model:16} {method:10} {th:>3} {macs / 1e9:7.1f} {floor:8.3f} {go / floor:8.2f} {py / floor:8.2f}")
    lora = {(m, th): go for m, me, th, _, _, go, _ in rows if me == "lora"}
    for model, method, th, _, _, go, _ in rows:
        if method == "vectorfit" and (model, th) in lora:
            print(f"VectorFit's step on {model} ({th} thread(s)) is {go / lora[model, th]:.2f}× LoRA's (Go)")


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return wall, out.stdout


def go_accuracy(out):
    recs = [f for f in os.listdir(out) if f.endswith(".json")]
    if len(recs) != 1:
        raise SystemExit(f"{out}: want one run record, found {recs}")
    with open(os.path.join(out, recs[0])) as f:
        return json.load(f)["scores"]["accuracy"]


def e2e(a):
    """One epoch of real SST-2 (the first --e2e-max-train rows) with one dev evaluation at
    the end, SPEC §4's SST-2 protocol (max length 128, batch 32, weight decay 0.01, classifier
    dropout 0) but warm-up as a ratio of the run's steps (SPEC's 1000 steps exceed a short
    run), wall time of the whole command each side, Go and PyTorch alternating."""
    if not a.runner:
        raise SystemExit("--phases e2e needs --runner (the harness's runner binary)")
    common = ["--model", a.e2e_model, "--data", a.e2e_data, "--max-train", str(a.e2e_max_train),
              "--max-len", "128", "--batch", "32", "--epochs", "1"]
    py = [sys.executable, os.path.join(HERE, "bench_e2e.py")]
    tokens = json.loads(subprocess.run(py + common + ["--count-tokens"], capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()[-1])
    cases = [(m, int(t)) for m in a.e2e_methods.split(",") for t in a.threads.split(",")]
    runs = {c: {"go": [], "pytorch": [], "pytorch_dynamic": []} for c in cases}
    for r in range(a.rounds):
        for c in cases:
            method, th = c
            with tempfile.TemporaryDirectory() as out:
                go = [a.runner, "-suite", "glue", "-task", "sst2", "-method", method, "-model", a.e2e_model,
                      "-data", a.e2e_data, "-epochs", "1", "-max-len", "128", "-batch", "32",
                      "-max-train", str(a.e2e_max_train), "-warmup-ratio", str(a.e2e_warmup_ratio),
                      "-threads", str(th), "-out", out, "-quiet", "-force"]
                pyc = py + common + ["--method", method, "--threads", str(th), "--lr", str(E2E_LR[method]),
                                     "--warmup-ratio", str(a.e2e_warmup_ratio)]
                order = [("go", go), ("pytorch", pyc), ("pytorch_dynamic", pyc + ["--dynamic-padding"])]
                if r % 2 == 1:
                    order.reverse()
                for stack, cmd in order:
                    wall, stdout = timed(cmd)
                    acc = go_accuracy(out) if stack == "go" else json.loads(stdout.strip().splitlines()[-1])["accuracy"]
                    runs[c][stack].append({"wall_s": wall, "accuracy": acc})
                    print(f"round {r + 1}/{a.rounds}: e2e {method} threads={th} {stack} {wall:.1f} s accuracy {acc:.4f}",
                          file=sys.stderr, flush=True)
    if a.json:  # beside the per-step file: NAME.json -> NAME-e2e.json
        with open(os.path.splitext(a.json)[0] + "-e2e.json", "w") as f:
            json.dump({"tokens": tokens, "runs": [{"case": list(c), **v} for c, v in runs.items()]}, f, indent=1)
    load = os.getloadavg()
    print(f"\nEnd to end: SST-2, first {tokens['train_examples']} training rows, 1 epoch, dev {tokens['dev_examples']} rows; "
          f"{a.rounds} interleaved rounds; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"tokens through the model: training Go {tokens['train_dynamic']} (padded per batch, mean over 20 orders) vs "
          f"PyTorch {tokens['train_max_len']} (padded to 128), real {tokens['train_real']}; dev Go {tokens['dev_dynamic']} (sorted by length) vs "
          f"PyTorch {tokens['dev_max_len']}, real {tokens['dev_real']}")
    print("PyTorch as run_glue.py runs by default (padded to 128), then with --pad_to_max_length False (dynamic):")
    print(f"{'method':10} {'thr':>3} {'py side':8} {'ratio med':>9} {'ratio min':>9} {'go med s':>9} {'py med s':>9} {'go acc':>13} {'py acc':>13}  target")
    for c in cases:
        method, th = c
        go = [m["wall_s"] for m in runs[c]["go"]]
        ga = "/".join(f"{m['accuracy']:.3f}" for m in runs[c]["go"])
        for side, label in (("pytorch", "pad 128"), ("pytorch_dynamic", "dynamic")):
            py = [m["wall_s"] for m in runs[c][side]]
            pa = "/".join(f"{m['accuracy']:.3f}" for m in runs[c][side])
            med = statistics.median(go) / statistics.median(py)
            print(f"{method:10} {th:>3} {label:8} {med:9.2f} {min(go) / min(py):9.2f} {statistics.median(go):9.1f} "
                  f"{statistics.median(py):9.1f} {ga:>13} {pa:>13}  ≤ 0.6× {'PASS' if med <= 0.6 else 'MISS'}")


if __name__ == "__main__":
    main()
