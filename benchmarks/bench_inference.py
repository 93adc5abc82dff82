"""Inference speed: Hugging Face pipeline vs framescope (PyTorch fp32, ONNX fp32, ONNX int8).

    python benchmarks/bench_inference.py --model runs/minilm-semeval/model \\
        --threads 2 --repeats 3 --out benchmarks/results/inference.json

One process, one model folder, one set of articles (default: the 50 unlabeled German
articles of ``../shared/data/semeval2023/de/test-articles-subtask-3``, else the sample
corpus), every backend on 2 intra-op threads (``torch.set_num_threads`` and ONNX Runtime's
``intra_op_num_threads``). Missing ``model.onnx`` / ``model.int8.onnx`` are exported first
(not timed).

What is timed, per backend, for the whole article set:

* **framescope torch fp32 / onnx fp32 / onnx int8**: ``tagger.token_scores(texts)`` (tokenize
  every article whole, plan its windows, score the windows of all articles in length-sorted
  batches, average overlapping windows) plus ``tagger.decode`` of every article with the
  model's calibrated thresholds, i.e. texts in, character spans out.
* **pipeline**: ``transformers.pipeline("token-classification", model=tagger.model,
  tokenizer=tagger.tokenizer, aggregation_strategy=None)`` (the same PyTorch module object)
  fed *the same windows* framescope scores, as text: for every article, framescope's
  ``tagger.encode(text)`` gives the token offsets and the window plan, and window
  ``[first, last)`` becomes ``text[offsets[first][0]:offsets[last - 1][1]]``. The pipeline
  re-tokenizes each window text (adding [CLS]/[SEP]), so it gets the same window contents
  (its token counts are reported beside framescope's; a few tokens can differ at window
  edges). The window texts are cut before the clock starts; the pipeline does not merge
  overlapping windows or decode spans (it returns per-token argmax labels), so it does less
  work than framescope. Batch sizes 1, 8, 16 and 32 are timed and the best is the baseline.

Repetitions are interleaved (every backend once, then again) and the median is reported,
so load that changes during the run hits all backends alike.

Checks (same run):

* framescope torch fp32 spans == ONNX fp32 spans, exactly (start, end, technique);
* torch fp32 batched (all articles in one ``token_scores`` call) == each article scored alone;
* ONNX int8 spans against torch fp32 spans: ``span_prf`` F1 (SemEval partial-overlap credit);
* with ``--dev-config`` (default ``minilm-semeval``, skipped when its data is absent): span F1
  and paragraph micro-F1 *against gold* on that config's dev split, torch fp32 vs ONNX int8, i.e.
  what int8 costs in quality (the test articles carry no labels);
* the ceiling: fp32 GEMM GFLOP/s of this CPU at MiniLM's shapes against the GFLOP/s the best
  pipeline reaches (MiniLM-L6 forward FLOPs per token times its tokens/s); a PyTorch fp32 speed-up
  over the pipeline cannot exceed their ratio unless it skips work.

``tokens/s`` counts model input tokens (window tokens + the 2 special tokens per window) as
planned by framescope, identical for every backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path


def load_articles(limit: int | None) -> tuple[list[str], str]:
    from framescope.labels.io import read_documents
    from framescope.labels.sample import load_sample

    shared = Path(os.environ.get("FRAMESCOPE_SHARED_DATA", "../shared/data"))
    path = shared / "semeval2023" / "de" / "test-articles-subtask-3"
    if path.is_dir():
        docs = read_documents(path, "semeval2023", check=False)
        source = str(path)
    else:
        docs = load_sample()
        source = "framescope sample corpus"
    docs = sorted(docs, key=lambda d: d.id)
    if limit:
        docs = docs[:limit]
    return [d.text for d in docs], source


def window_texts(tagger, texts: list[str]) -> tuple[list[str], int]:
    """framescope's windows as text slices, and the model input tokens framescope scores."""
    out, tokens = [], 0
    for text in texts:
        enc = tagger.encode(text)
        for a, b in enc.windows:
            if b > a:
                out.append(text[int(enc.offsets[a][0]) : int(enc.offsets[b - 1][1])])
                tokens += b - a + tagger._n_special
    return out, tokens


def spans_of(tagger, scores, threshold: float | None = None) -> list[list[tuple[int, int, str]]]:
    thresholds = {t: threshold for t in tagger.techniques} if threshold is not None else None
    return [[s.as_tuple() for s in tagger.decode(ts, thresholds)] for ts in scores]


def dev_quality(config_name: str, fp32_tagger, int8_tagger) -> dict | None:
    """Gold span F1 and paragraph micro-F1 on the config's dev split, fp32 vs int8."""
    from framescope.training.config import load_config
    from framescope.training.evaluation import score_predictions
    from framescope.training.train import prepare_data

    try:
        _, dev = prepare_data(load_config(config_name), fp32_tagger.taxonomy)
    except (FileNotFoundError, ValueError) as err:
        print(f"dev quality skipped: {err}")
        return None
    out = {}
    for name, tagger in (("torch_fp32", fp32_tagger), ("onnx_int8", int8_tagger)):
        preds = [[p.as_tuple() for p in tagger.decode(s)] for s in tagger.token_scores([d.text for d in dev])]
        rep = score_predictions(dev, preds, fp32_tagger.taxonomy)
        out[name] = {g: {k: round(rep[g][k], 4) for k in ("span_f1", "paragraph_micro_f1")} for g in rep}
    out["span_f1_points_lost_by_int8"] = round(
        100 * (out["torch_fp32"]["all"]["span_f1"] - out["onnx_int8"]["all"]["span_f1"]), 2
    )
    out["articles"] = len(dev)
    return out


def fp32_ceiling(tagger, pipeline_tokens_per_s: float) -> dict:
    """How far above the pipeline any fp32 forward pass can go on this CPU (GEMM-bound)."""
    import torch

    cfg = tagger.model.config
    h, f, layers, length = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, tagger.settings.max_length
    flops_per_token = layers * (2 * (4 * h * h + 2 * h * f) + 2 * 2 * length * h)
    rates = []
    for m, k, n in ((4096, h, h), (4096, h, f), (4096, f, h), (4096, h, 3 * h)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        t0 = time.perf_counter()
        for _ in range(20):
            a @ b
        rates.append(2 * m * k * n * 20 / (time.perf_counter() - t0) / 1e9)
    pipe_gflops = pipeline_tokens_per_s * flops_per_token / 1e9
    return {
        "model_mflop_per_token": round(flops_per_token / 1e6, 1),
        "gemm_gflops_at_model_shapes": [round(r, 1) for r in rates],
        "best_pipeline_gflops": round(pipe_gflops, 1),
        "max_possible_fp32_speedup": round(max(rates) / pipe_gflops, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="runs/minilm-semeval/model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="only the first N articles (development)")
    ap.add_argument("--pipeline-batch-sizes", default="1,8,16,32", help='comma-separated; "" skips the pipeline')
    ap.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="decode every technique at this threshold instead of the model's calibrated ones "
        "(for uncalibrated checkpoints whose probabilities never reach 0.5)",
    )
    ap.add_argument(
        "--dev-config",
        default="minilm-semeval",
        help='config whose dev split measures int8 quality against gold ("" skips)',
    )
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()

    from framescope.model.onnx_backend import FP32_FILE, INT8_FILE, export_onnx
    from framescope.training.metrics.spans import span_prf
    from framescope.model.tagger import SpanTagger

    folder = Path(args.model)
    if not (folder / FP32_FILE).is_file() or not (folder / INT8_FILE).is_file():
        print(f"exporting ONNX files into {folder} ...", flush=True)
        export_onnx(folder, quantize=True)

    texts, source = load_articles(args.limit)
    torch_tagger = SpanTagger.from_pretrained(folder)
    onnx_fp32 = SpanTagger.from_pretrained(folder, backend="onnx-fp32")
    onnx_int8 = SpanTagger.from_pretrained(folder, backend="onnx-int8")
    for tagger in (onnx_fp32, onnx_int8):
        tagger.set_threads(args.threads)
    windows, n_tokens = window_texts(torch_tagger, texts)
    n_chars = sum(map(len, texts))
    print(
        f"{len(texts)} articles from {source}: {n_chars:,} characters, {len(windows)} windows, "
        f"{n_tokens:,} model input tokens; threads={args.threads}",
        flush=True,
    )

    pipe = pipeline(
        "token-classification",
        model=torch_tagger.model,
        tokenizer=torch_tagger.tokenizer,
        aggregation_strategy=None,
        device=-1,
    )
    pipe_tokens = sum(len(torch_tagger.tokenizer(w)["input_ids"]) for w in windows)
    batch_sizes = [int(b) for b in args.pipeline_batch_sizes.split(",") if b]

    def run_framescope(tagger):
        return spans_of(tagger, tagger.token_scores(texts), args.threshold)

    runs = {f"pipeline bs={b}": (lambda b=b: pipe(windows, batch_size=b)) for b in batch_sizes}
    runs["framescope torch fp32"] = lambda: run_framescope(torch_tagger)
    runs["framescope onnx fp32"] = lambda: run_framescope(onnx_fp32)
    runs["framescope onnx int8"] = lambda: run_framescope(onnx_int8)

    # warm-up (one small call each: allocators, ORT kernels, pipeline setup)
    for name in runs:
        if name.startswith("pipeline"):
            pipe(windows[:2], batch_size=2)
    for tagger in (torch_tagger, onnx_fp32, onnx_int8):
        tagger.token_scores(texts[:1])

    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, object] = {}
    for rep in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - t0)
            print(f"  rep {rep + 1}/{args.repeats} {name:24s} {times[name][-1]:8.2f} s", flush=True)

    rows = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rows[name] = {
            "seconds_median": round(med, 3),
            "seconds_all": [round(t, 3) for t in ts],
            "articles_per_s": round(len(texts) / med, 3),
            "tokens_per_s": round(n_tokens / med, 1),
        }
    pipe_names = [n for n in rows if n.startswith("pipeline")]
    best_pipe = max(pipe_names, key=lambda n: rows[n]["articles_per_s"]) if pipe_names else None
    for name in rows:
        rows[name]["speedup_vs_best_pipeline"] = (
            round(rows[name]["articles_per_s"] / rows[best_pipe]["articles_per_s"], 3) if best_pipe else None
        )

    # -- checks ------------------------------------------------------------------------
    ref = outputs["framescope torch fp32"]
    fp32 = outputs["framescope onnx fp32"]
    int8 = outputs["framescope onnx int8"]
    alone = [spans_of(torch_tagger, torch_tagger.token_scores([t]), args.threshold)[0] for t in texts]
    n_ref = sum(map(len, ref))

    def differing(a, b):
        return sum(len(set(x) ^ set(y)) for x, y in zip(a, b))

    prf = span_prf(int8, ref)
    checks = {
        "torch_fp32_spans": n_ref,
        "onnx_fp32_identical_spans": fp32 == ref,
        "onnx_fp32_differing_spans": differing(fp32, ref),
        "batched_vs_alone_identical_spans": alone == ref,
        "batched_vs_alone_differing_spans": differing(alone, ref),
        "onnx_int8_spans": sum(map(len, int8)),
        "onnx_int8_vs_torch_fp32": {k: round(prf[k], 4) for k in ("precision", "recall", "f1")},
        "onnx_int8_identical_spans": int8 == ref,
    }

    if args.dev_config:
        checks["dev_quality"] = dev_quality(args.dev_config, torch_tagger, onnx_int8)
    if best_pipe:
        checks["fp32_ceiling"] = fp32_ceiling(torch_tagger, rows[best_pipe]["tokens_per_s"])

    import onnxruntime
    import transformers

    result = {
        "model": str(folder),
        "articles": len(texts),
        "source": source,
        "characters": n_chars,
        "windows": len(windows),
        "model_input_tokens": n_tokens,
        "pipeline_input_tokens": pipe_tokens,
        "threads": args.threads,
        "threshold_override": args.threshold,
        "repeats": args.repeats,
        "best_pipeline": best_pipe,
        "results": rows,
        "checks": checks,
        "targets": {
            "torch_fp32_vs_pipeline >= 1.5": rows["framescope torch fp32"]["speedup_vs_best_pipeline"],
            "onnx_int8_vs_pipeline >= 3": rows["framescope onnx int8"]["speedup_vs_best_pipeline"],
        },
        "environment": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
            "batch_size": torch_tagger.batch_size,
            "max_batch_tokens": torch_tagger.max_batch_tokens,
        },
    }

    print()
    print("| backend | median s | articles/s | tokens/s | vs best pipeline |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['seconds_median']:.2f} | {r['articles_per_s']:.2f} | {r['tokens_per_s']:,.0f} "
            f"| {'-' if r['speedup_vs_best_pipeline'] is None else format(r['speedup_vs_best_pipeline'], '.2f') + 'x'} |"
        )
    print()
    print(json.dumps(checks, indent=2))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
