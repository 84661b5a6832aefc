#!/usr/bin/env python3
"""Run a harness GLUE record's configuration again with the PyTorch stack, side by side.

    python3 scripts/compare/hf_glue.py out/glue_sst2_lora_seed1.json [--threads N]

Reads one record written by `go run ./runner -suite glue ...` (model folder, data files,
method and its settings, every hyperparameter, the schedule it resolved) and trains the
same configuration with transformers 4.44.2 (BertForSequenceClassification), PEFT 0.12.0
for LoRA, plain torch.optim.AdamW for full fine-tuning, and for VectorFit the PyTorch
reading of SPEC §1 used by the trajectory fixture (scripts/fixtures/gen_minilm_trajectory.py:
SVDLinear and AVF). Then it prints the record's numbers and its own: best dev score,
seconds per optimizer step, peak resident memory.

The two runs share the configuration, not the random draws: the head's and LoRA's
initial values, the shuffled order and dropout masks differ, so scores agree within
seed noise, not bit for bit (suites/glue/trajectory_test.go is the bit-level check).
Supported: BERT-family checkpoints; the GLUE TSV tasks sst2, cola, rte, mrpc, stsb,
qnli; methods lora, fullft, vectorfit (avf=l1 ranking, the harness's defaults).

Needs the reference stack of scripts/fixtures/requirements.txt.
"""

import argparse
import csv
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from peft import LoraConfig, get_peft_model
from transformers import AutoTokenizer, BertForSequenceClassification

DEFAULT_THREADS = torch.get_num_threads()  # before the fixture helpers pin one thread
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
sys.dont_write_bytecode = True
from gen_minilm_trajectory import AVF, SVDLinear, decay_names  # noqa: E402

# GLUE TSV layouts: (header?, first text column, second text column or None, label
# column, label map or None for regression). Headerless CoLA: columns by position.
TASKS = {
    "sst2": ("SST-2", "sentence", None, "label", {"0": 0, "1": 1}),
    "cola": ("CoLA", 3, None, 1, {"0": 0, "1": 1}),
    "rte": ("RTE", "sentence1", "sentence2", "label", {"entailment": 0, "not_entailment": 1}),
    "qnli": ("QNLI", "question", "sentence", "label", {"entailment": 0, "not_entailment": 1}),
    "mrpc": ("MRPC", "#1 String", "#2 String", "Quality", {"0": 0, "1": 1}),
    "stsb": ("STS-B", "sentence1", "sentence2", "score", None),
}
BLOCK_LINEARS = ["attention.self.query", "attention.self.key", "attention.self.value",
                 "attention.output.dense", "intermediate.dense", "output.dense"]
LAYER_TYPES = ["query", "key", "value", "attn_out", "ffn_up", "ffn_down"]


def read_tsv(path: Path, task: str, limit: int):
    _, a, b, label, labels = TASKS[task]
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if isinstance(a, str):
        header, rows = rows[0], rows[1:]
        col = {name: i for i, name in enumerate(header)}
        a, label = col[a], col[label]
        b = col[b] if b else None
    if limit:
        rows = rows[:limit]
    texts = [(r[a], r[b] if b is not None else None) for r in rows]
    ys = [labels[r[label]] if labels else float(r[label]) for r in rows]
    return texts, ys


def score(task, preds, golds):
    """GLUE's metrics (scipy's pearsonr, sklearn's matthews_corrcoef and f1_score),
    written out in numpy."""
    p, g = np.asarray(preds, dtype=np.float64), np.asarray(golds, dtype=np.float64)
    if task == "stsb":
        return {"pearson": float(np.corrcoef(p, g)[0, 1])}
    tp, tn = float(np.sum((p == 1) & (g == 1))), float(np.sum((p == 0) & (g == 0)))
    fp, fn = float(np.sum((p == 1) & (g == 0))), float(np.sum((p == 0) & (g == 1)))
    if task == "cola":
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return {"matthews": (tp * tn - fp * fn) / den if den else 0.0}
    out = {"accuracy": float(np.mean(p == g))}
    if task == "mrpc":
        out["f1"] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return out


def targets(settings):
    types = settings.get("targets") or LAYER_TYPES
    return [m for t, m in zip(LAYER_TYPES, BLOCK_LINEARS) if t in types]


def build(record, model):
    """The method's trainable parameters as AdamW groups, and its after-step hook."""
    h, method, settings = record["hyperparameters"], record["method"], record["method_settings"]
    lr, head_lr, wd = h["lr"], h["head_lr"], h["weight_decay"]
    layers = model.config.num_hidden_layers
    names = [f"bert.encoder.layer.{i}.{m}" for i in range(layers) for m in targets(settings)]
    hook = None
    if method == "lora":
        cfg = LoraConfig(r=int(settings["r"]), lora_alpha=float(settings["alpha"]),
                         lora_dropout=float(settings["dropout"]), target_modules=names, task_type="SEQ_CLS")
        model = get_peft_model(model, cfg)
    elif method == "vectorfit":
        model.requires_grad_(False)
        vectors = []
        for name in names:
            parent, child = name.rsplit(".", 1)
            svd = SVDLinear(getattr(model.get_submodule(parent), child))
            setattr(model.get_submodule(parent), child, svd)
            svd.singular_values.requires_grad_(True)
            vectors.append((name + ".singular_values", svd.singular_values))
            if settings.get("bias", True):
                svd.bias.requires_grad_(True)
                vectors.append((name + ".bias", svd.bias))
        for p in model.classifier.parameters():
            p.requires_grad_(True)
        if settings.get("avf", "l1") != "none" and int(settings.get("k", 0)) > 0:
            hook = AVF(vectors, int(settings["k"]), int(settings["interval"])).after_step
    elif method != "fullft":
        sys.exit(f"method {method!r}: this script runs lora, fullft and vectorfit")
    decay = decay_names(model)
    groups = []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = "classifier" in n
        no_decay = n not in decay or (method == "vectorfit" and not head)  # s and b never decay
        groups.append({"params": [p], "lr": head_lr if head else lr, "weight_decay": 0.0 if no_decay else wd})
    return model, groups, hook


def batches(tok, texts, ys, max_len, batch, order):
    for lo in range(0, len(order), batch):
        idx = order[lo : lo + batch]
        a = [texts[i][0] for i in idx]
        b = [texts[i][1] for i in idx] if texts[0][1] is not None else None
        enc = tok(a, b, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
        yield enc, torch.tensor([ys[i] for i in idx])


def evaluate(task, model, tok, texts, ys, max_len):
    model.eval()
    preds = []
    with torch.no_grad():
        for enc, _ in batches(tok, texts, ys, max_len, 64, list(range(len(texts)))):
            logits = model(**enc).logits
            preds += logits[:, 0].tolist() if task == "stsb" else logits.argmax(-1).tolist()
    model.train()
    return score(task, preds, ys)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("record", type=Path)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    record = json.loads(args.record.read_text())
    if record["suite"] != "glue":
        sys.exit(f"{args.record}: suite {record['suite']!r}, this script reruns glue records")
    torch.set_num_threads(args.threads or DEFAULT_THREADS)
    task, h, seed = record["task"], record["hyperparameters"], record["seed"]
    if h["grad_accum"] > 1:
        sys.exit(f"{args.record}: grad_accum {h['grad_accum']}: this script runs one batch per step")
    if task not in TASKS:
        sys.exit(f"{args.record}: task {task!r}, this script runs {', '.join(TASKS)}")
    files = {d["role"]: Path(d["path"]) for d in record["data"]}
    dev_role = next(r for r in files if r != "train")
    train_x, train_y = read_tsv(files["train"], task, h["max_train"])
    dev_x, dev_y = read_tsv(files[dev_role], task, 0)

    torch.manual_seed(seed)
    labels = 1 if task == "stsb" else 2
    model = BertForSequenceClassification.from_pretrained(
        record["model"]["source"], num_labels=labels, classifier_dropout=h["cls_dropout"],
        attn_implementation="eager", torch_dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(record["model"]["source"])
    model, groups, hook = build(record, model)
    opt = torch.optim.AdamW(groups, betas=tuple(h["adam_betas"]), eps=h["adam_eps"])
    total, warmup = record["schedule"]["total_steps"], record["schedule"]["warmup_steps"]
    sched = transformers.get_linear_schedule_with_warmup(opt, warmup, total)
    params = [p for g in groups for p in g["params"]]
    loss_fn = (lambda out, y: F.mse_loss(out[:, 0], y.float())) if task == "stsb" else F.cross_entropy

    gen = torch.Generator().manual_seed(seed)
    step, best, train_time, history = 0, None, 0.0, []
    every = h["eval_every"] or math.ceil(len(train_x) / h["batch"])
    model.train()
    while step < total:  # epochs, until the schedule's steps (-max-steps may end one early)
        order = torch.randperm(len(train_x), generator=gen).tolist()
        for enc, y in batches(tok, train_x, train_y, h["max_len"], h["batch"], order):
            t0 = time.perf_counter()
            loss = loss_fn(model(**enc).logits, y)
            loss.backward()
            if h["max_grad_norm"]:
                torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], h["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if hook:
                hook(step)
            train_time += time.perf_counter() - t0
            if step % every == 0 or step == total:
                s = evaluate(task, model, tok, dev_x, dev_y, h["max_len"])
                history.append((step, s))
                main_score = s[record["main_score"]] if record["main_score"] in s else next(iter(s.values()))
                best = main_score if best is None else max(best, main_score)
                print(f"step {step}/{total}: {s}", flush=True)
            if step == total:
                break

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    go = record["timing"]
    print(f"\n{task} {record['method']} seed {seed}: {len(train_x)} training examples, {total} steps")
    print(f"{'':24} {'harness (Go)':>14} {'PyTorch':>14}")
    print(f"{'best ' + record['main_score']:24} {record['scores'][record['main_score']]:14.4f} {best:14.4f}")
    print(f"{'seconds per step':24} {go['step_seconds']:14.3f} {train_time / step:14.3f}")
    print(f"{'peak RSS (MiB)':24} {record['peak_rss_bytes'] / 2**20:14.0f} {rss / 2**20:14.0f}")


if __name__ == "__main__":
    main()
