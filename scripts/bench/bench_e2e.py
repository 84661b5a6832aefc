"""The PyTorch side of `make bench-compare`'s end-to-end phase: fine-tune a checkpoint on
real SST-2 (../shared/data/glue/SST-2) for the given epochs with the Hugging Face Trainer
and evaluate on the dev file at the end, as transformers' examples/pytorch/text-
classification/run_glue.py does with its defaults (pad_to_max_length=True: every
sequence padded to --max-len; eval batch 8, the TrainingArguments default; AdamW,
linear schedule with warm-up, max_grad_norm 1, no decay on biases and LayerNorm). The
methods are bench_torch.py's (PEFT LoRA r 8 α 16 dropout 0.05 on the six linears, the
PyTorch VectorFit), the classifier trained in both. Prints one JSON line: the dev
accuracy and the tokens each phase pushed through the model.

    python bench_e2e.py --model DIR --data DIR/glue --method lora --threads 1 --max-train 1024

--dynamic-padding runs it as run_glue.py --pad_to_max_length False (DataCollatorWithPadding:
each batch padded to its longest sequence, as the harness pads).

--count-tokens prints, instead, the tokens of both padding schemes for these examples
(no training): padded to --max-len, and padded per batch to its longest sequence as the
harness does (training batches in a random order: the mean over 20 orders; dev sorted by
length, longest first, in batches of 2 × --batch as the harness evaluates, and in file
order as it did before).
"""
import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def read_sst2(path, limit=0):
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(r)
        si, li = header.index("sentence"), header.index("label")
        for row in r:
            rows.append((row[si], int(row[li])))
            if limit and len(rows) == limit:
                break
    return rows


def lengths(tok, rows, max_len):
    enc = tok([s for s, _ in rows], truncation=True, max_length=max_len, padding=False)
    return [len(ids) for ids in enc["input_ids"]]


def padded_per_batch(lens, size):
    return sum(len(lens[i:i + size]) * max(lens[i:i + size]) for i in range(0, len(lens), size))


def count_tokens(a, tok, train_rows, dev_rows):
    tl, dl = lengths(tok, train_rows, a.max_len), lengths(tok, dev_rows, a.max_len)
    rng = random.Random(1)
    shuffled = []
    for _ in range(20):
        order = tl[:]
        rng.shuffle(order)
        shuffled.append(padded_per_batch(order, a.batch))
    return dict(train_examples=len(tl), dev_examples=len(dl),
                train_real=sum(tl), dev_real=sum(dl),
                train_max_len=len(tl) * a.max_len * a.epochs, dev_max_len=len(dl) * a.max_len,
                train_dynamic=round(sum(shuffled) / len(shuffled)) * a.epochs,
                dev_dynamic=padded_per_batch(sorted(dl, reverse=True), 2 * a.batch),
                dev_file_order=padded_per_batch(dl, 2 * a.batch))


class Encoded(torch.utils.data.Dataset):
    def __init__(self, tok, rows, max_len, pad):
        self.enc = tok([s for s, _ in rows], truncation=True, max_length=max_len, padding="max_length" if pad else False)
        self.labels = [l for _, l in rows]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {k: torch.tensor(v[i]) for k, v in self.enc.items()}
        item["labels"] = torch.tensor(self.labels[i])
        return item


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/vectorfit-harness/models/all-MiniLM-L6-v2"))
    ap.add_argument("--data", default="../shared/data/glue")
    ap.add_argument("--method", default="vectorfit")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-train", type=int, default=0, help="first N training rows (0: all)")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, required=False, default=8e-4)
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count-tokens", action="store_true")
    ap.add_argument("--dynamic-padding", action="store_true",
                    help="run_glue.py --pad_to_max_length False: DataCollatorWithPadding pads each batch to its longest")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from transformers import AutoTokenizer
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(a.model)
    train_rows = read_sst2(os.path.join(a.data, "SST-2", "train.tsv"), a.max_train)
    dev_rows = read_sst2(os.path.join(a.data, "SST-2", "dev.tsv"))
    if a.count_tokens:
        print(json.dumps(count_tokens(a, tok, train_rows, dev_rows)))
        return

    from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)
    from bench_torch import apply
    set_seed(a.seed)
    # SPEC §4's classifier dropout for SST-2 is 0, as the harness runs it.
    model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=2, classifier_dropout=0.0)
    model, _ = apply(model, a.method)
    pad = not a.dynamic_padding
    train_ds, dev_ds = Encoded(tok, train_rows, a.max_len, pad), Encoded(tok, dev_rows, a.max_len, pad)
    collator = DataCollatorWithPadding(tok) if a.dynamic_padding else None

    def accuracy(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=a.batch, num_train_epochs=a.epochs,
            learning_rate=a.lr, weight_decay=a.weight_decay, warmup_ratio=a.warmup_ratio,
            warmup_steps=a.warmup, seed=a.seed, use_cpu=True, save_strategy="no", eval_strategy="no",
            logging_strategy="no", report_to=[], disable_tqdm=True, label_names=["labels"])
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds,
                          compute_metrics=accuracy, data_collator=collator)
        t1 = time.perf_counter()
        trainer.train()
        t2 = time.perf_counter()
        metrics = trainer.evaluate()
        t3 = time.perf_counter()
    print(json.dumps(dict(stack="pytorch", method=a.method, threads=a.threads, accuracy=metrics["eval_accuracy"],
                          train_examples=len(train_rows), dev_examples=len(dev_rows),
                          setup_s=t1 - t0, train_s=t2 - t1, eval_s=t3 - t2)))


if __name__ == "__main__":
    main()
