"""Sizing figures for docs/scaling.md: articles/s per core, Spark local[k] scaling, worker RSS.

    python benchmarks/scaling.py scorer --model runs/quickstart/model --n 1000
    python benchmarks/scaling.py pyfunc --model-uri models:/framescope@candidate
    python benchmarks/scaling.py spark --model-uri models:/framescope@candidate --n 3000 --master 'local[1]'

The corpus is the bundled sample (99 articles, ~300-2,000 characters) repeated with
unique ids. Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time


def corpus(n: int) -> list[dict]:
    from framescope.labels.sample import load_sample

    docs = load_sample()
    return [
        {"id": f"{docs[i % len(docs)].id}/{i}", "lang": docs[i % len(docs)].lang, "text": docs[i % len(docs)].text}
        for i in range(n)
    ]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_scorer(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    from framescope.model.tagger import SpanTagger

    before = rss_mb()
    scorer = SpanTagger.from_pretrained(args.model)
    loaded = rss_mb()
    rows = corpus(args.n)
    scorer.score([r["text"] for r in rows[:8]])  # warm-up
    t = time.perf_counter()
    for i in range(0, len(rows), args.batch):
        b = rows[i : i + args.batch]
        scorer.score([r["text"] for r in b], [r["id"] for r in b], [r["lang"] for r in b])
    dt = time.perf_counter() - t
    chars = sum(len(r["text"]) for r in rows)
    return {
        "what": "scorer",
        "model": str(args.model),
        "threads": args.threads,
        "articles": len(rows),
        "seconds": round(dt, 2),
        "articles_per_s": round(len(rows) / dt, 1),
        "chars_per_s": round(chars / dt),
        "rss_before_mb": round(before),
        "rss_model_loaded_mb": round(loaded),
        "peak_rss_mb": round(peak_mb()),
    }


def bench_pyfunc(args) -> dict:
    """RSS of one Spark Python worker's share: MLflow + framescope + the model, after scoring a batch."""
    import mlflow.pyfunc
    import pandas as pd

    before = rss_mb()
    model = mlflow.pyfunc.load_model(args.model_uri)
    loaded = rss_mb()
    model.predict(pd.DataFrame(corpus(args.n)))
    return {
        "what": "pyfunc",
        "model": args.model_uri,
        "articles": args.n,
        "rss_interpreter_mb": round(before),
        "rss_model_loaded_mb": round(loaded),
        "peak_rss_after_batch_mb": round(peak_mb()),
    }


def bench_spark(args) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from framescope.inference.spark import score_spark, spark_session

    tmp = tempfile.mkdtemp(prefix="fs-bench-")
    src = os.path.join(tmp, "in.parquet")
    pq.write_table(pa.Table.from_pylist(corpus(args.n)), src)
    spark = spark_session(args.master, conf={"spark.python.worker.reuse": "true"})
    t = time.perf_counter()
    s = score_spark(
        spark,
        src,
        args.model_uri,
        os.path.join(tmp, "out"),
        partition_by="lang",
        num_partitions=args.partitions,
        detect_lang=False,
    )
    dt = time.perf_counter() - t
    spark.stop()
    return {
        "what": "spark",
        "master": args.master,
        "partitions": args.partitions,
        "articles": s.articles,
        "seconds": round(dt, 1),
        "articles_per_s": round(s.articles / dt, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["scorer", "pyfunc", "spark"])
    p.add_argument("--model", default="runs/quickstart/model")
    p.add_argument("--model-uri", default="models:/framescope@candidate")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--master", default="local[1]")
    p.add_argument("--partitions", type=int, default=None)
    args = p.parse_args()
    fn = {"scorer": bench_scorer, "pyfunc": bench_pyfunc, "spark": bench_spark}[args.what]
    print(json.dumps(fn(args)))


if __name__ == "__main__":
    main()
