"""`make bench-compare`: the harness (scripts/bench/gobench) against PyTorch + PEFT
(scripts/bench/bench_torch.py) on the same shapes, methods and thread counts,
interleaved in rounds (the order of the two stacks alternates each round, so a load
that drifts over the run hits both alike). Prints, per (model, method, phase, threads),
the Go/PyTorch ratio of the median and of the minimum sample time, each stack's median
and CPU seconds per step, and the issue-16 targets beside the ratios (printed, never
tested). Each measurement is its own process; only the timed samples count.

    python scripts/bench/compare.py --gobench /tmp/gobench [--rounds 3] [--threads 1,2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {"tiny": (32, 64), "minilm": (8, 128), "bert-base": (8, 128)}
TARGETS = {"train": 0.9, "eval": 0.8}


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
    ap.add_argument("--models", default="tiny,minilm,bert-base")
    ap.add_argument("--methods", default="vectorfit,lora,fullft")
    ap.add_argument("--phases", default="train,eval,svd")
    ap.add_argument("--svd-models", default="tiny,minilm", help="bert-base's SVDs take ~30 s a side and thread count")
    ap.add_argument("--json", help="also write every measurement here")
    a = ap.parse_args()
    cases = []
    for model in a.models.split(","):
        batch, seq = SHAPES[model]
        for phase in a.phases.split(","):
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
    print("targets (issue 16, printed, not tested): training step ≤ 0.9×, evaluation ≤ 0.8×, end-to-end SST-2 epoch ≤ 0.6× (not measured here yet)")


if __name__ == "__main__":
    main()
