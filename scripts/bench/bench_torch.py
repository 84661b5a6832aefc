"""The PyTorch + PEFT side of `make bench-compare`: times one (model, method, phase)
as scripts/bench/gobench does for the harness, and prints one JSON line with the same
fields. Run by scripts/bench/compare.py with the reference stack's python (torch 2.1.0,
transformers 4.44.2, peft 0.12.0).

Methods as the harness runs them by default: LoRA is PEFT's LoraConfig(r=8,
lora_alpha=16, lora_dropout=0.05) on the six linears of every encoder layer; VectorFit
(no PEFT tuner exists) is W = U·diag(s)·Vᵀ with frozen U, V and trained s and bias,
choosing per call between rebuilding W and the factored product by multiply-adds, as
methods/vectorfit does; fullft trains everything. The classifier is trained in every
method, the pooler only in fullft (as the harness). Evaluation is what the HF Trainer
does: eval mode, no-grad, the adapters unmerged.
"""
import argparse
import json
import os
import resource
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification

MINILM = os.path.expanduser("~/.cache/vectorfit-harness/models/all-MiniLM-L6-v2")
LINEARS = r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)(_proj)?|attention\.output\.dense|intermediate\.dense|output\.dense)$"


def tiny_config():
    return BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=128, hidden_act="gelu", max_position_embeddings=512, num_labels=2)


def new_model(name):
    torch.manual_seed(1)
    if name == "tiny":
        return BertForSequenceClassification(tiny_config())
    if name == "bert-base":
        return BertForSequenceClassification(BertConfig(num_labels=2))
    if name == "deberta-v3-base":  # microsoft/deberta-v3-base's config.json
        from transformers import DebertaV2Config, DebertaV2ForSequenceClassification
        return DebertaV2ForSequenceClassification(DebertaV2Config(
            vocab_size=128100, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=0,
            layer_norm_eps=1e-7, relative_attention=True, max_relative_positions=-1, position_buckets=256,
            norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
            position_biased_input=False, pooler_hidden_size=768, pooler_dropout=0,
            pooler_hidden_act="gelu", pad_token_id=0, num_labels=2))
    if name == "minilm":
        return BertForSequenceClassification.from_pretrained(MINILM, num_labels=2)
    raise SystemExit(f"model {name!r}, want tiny, minilm, bert-base or deberta-v3-base")


class VectorFitLinear(torch.nn.Module):
    def __init__(self, linear):
        super().__init__()
        u, s, vh = torch.linalg.svd(linear.weight.detach().double(), full_matrices=False)
        dt = linear.weight.dtype
        self.register_buffer("U", u.to(dt))
        self.register_buffer("V", vh.T.contiguous().to(dt))
        self.s = torch.nn.Parameter(s.to(dt))
        self.bias = linear.bias
        self.bias.requires_grad_(True)

    def forward(self, x):
        out, r = self.U.shape
        inn = self.V.shape[0]
        n = x.numel() // inn
        if n * r * (inn + out) < out * inn * r + n * out * inn:
            return ((x @ self.V) * self.s) @ self.U.T + self.bias
        return F.linear(x, (self.U * self.s) @ self.V.T, self.bias)


def targets(model):
    import re
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and re.match(LINEARS, n)]


def apply(model, method):
    """Returns the model to train and its trainable parameters."""
    if method == "fullft":
        return model, list(model.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    if method == "lora":
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=LINEARS))
    elif method in ("pissa", "dora"):
        # The harness's defaults: PiSSA r=8, alpha=r, no dropout (the PiSSA paper's
        # recipe); DoRA as LoRA with use_dora.
        from peft import LoraConfig, get_peft_model
        cfg = (LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=LINEARS, init_lora_weights="pissa")
               if method == "pissa" else
               LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=LINEARS, use_dora=True))
        model = get_peft_model(model, cfg)
    elif method == "vectorfit":
        for name, lin in targets(model):
            parent, child = name.rsplit(".", 1)
            setattr(model.get_submodule(parent), child, VectorFitLinear(lin))
    else:
        raise SystemExit(f"method {method!r}, want vectorfit, lora, pissa, dora or fullft")
    for n, p in model.named_parameters():
        if "classifier" in n:
            p.requires_grad_(True)
    return model, [p for p in model.parameters() if p.requires_grad]


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--method", default="vectorfit")
    ap.add_argument("--phase", default="train")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--eval-batches", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = dict(stack="pytorch", model=a.model, method=a.method, phase=a.phase, threads=a.threads)
    model = new_model(a.model)
    c0, t0 = cpu_seconds(), time.perf_counter()
    model, params = apply(model, a.method)
    if a.phase == "svd":
        res.update(samples_s=[time.perf_counter() - t0], cpu_s_per_sample=cpu_seconds() - c0)
        print(json.dumps(res))
        return
    torch.manual_seed(1)
    ids = torch.randint(1000, (a.batch, a.seq))
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    labels = torch.zeros(a.batch, dtype=torch.long)
    if a.phase == "train":
        model.train()
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

        def sample():
            loss = F.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels)
            loss.backward()
            opt.step()
            opt.zero_grad()
        per = 1
    elif a.phase == "eval":
        model.eval()

        def sample():
            with torch.no_grad():
                for _ in range(a.eval_batches):
                    model(input_ids=ids, attention_mask=mask)
        per = a.eval_batches
    else:
        raise SystemExit(f"phase {a.phase!r}, want train, eval or svd")
    sample()  # warm-up
    times = []
    c0 = cpu_seconds()
    for _ in range(a.samples):
        t = time.perf_counter()
        sample()
        times.append((time.perf_counter() - t) / per)
    res.update(samples_s=times, cpu_s_per_sample=(cpu_seconds() - c0) / a.samples / per)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
