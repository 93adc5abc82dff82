"""Peak memory and time of the HTML report (``score --html``, ``framescope report``) against run size.

    python benchmarks/bench_report.py --n 2000 20000

Builds, for each N, a synthetic output folder of ``framescope score``: ``results.jsonl``
(records without the article text, as ``score`` writes them), the journal holding the
texts (``.framescope-journal``) and ``labelstudio.json``. The articles are the bundled
sample corpus (``framescope.labels.sample``, the quickstart's data: about 280 characters,
a few annotated spans each) repeated under new ids, with the gold spans as predicted
spans, article probabilities and paragraphs. Each case then runs
:func:`framescope.inference.report.write_report` on the folder in a fresh child process
(``resource.getrusage``'s peak RSS is a high-water mark per process) and reports the peak
RSS, what the report added to the RSS before it started, and the time.

The report should need memory for its ranking index only (a few hundred bytes per
article), not for the articles: ``added_mb`` at N = 20,000 close to N = 2,000.
Prints one JSON line per case; ``--out FILE`` also writes the JSON list.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _record(doc, k: int, techniques: list[str], rng: random.Random) -> tuple[dict, str]:
    """One ``results.jsonl`` record (export schema, text left out) for copy ``k`` of a sample document."""
    text = doc.text
    spans = [
        {
            "technique": s.technique,
            "category": "",
            "start": s.start,
            "end": s.end,
            "text": text[s.start : s.end],
            "confidence": round(rng.uniform(0.3, 1.0), 4),
        }
        for s in doc.spans
    ]
    best = {t: max((s["confidence"] for s in spans if s["technique"] == t), default=0.0) for t in techniques}
    record = {
        "schema_version": "1.1",
        "id": f"{doc.id}-{k}",
        "lang": doc.lang,
        "model": "bench",
        "model_version": "1",
        "scored_at": "2026-12-01T00:00:00Z",
        "n_chars": len(text),
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "overall": max(best.values(), default=0.0),
        "techniques": {
            t: {
                "score": best[t],
                "spans": sum(s["technique"] == t for s in spans),
                "coverage": 0.0,
                "probability": round(rng.random(), 4),
            }
            for t in techniques
        },
        "spans": spans,
        "profile": "balanced",
        "paragraphs": [
            {"index": 0, "start": 0, "end": len(text), "probabilities": {t: round(rng.random(), 4) for t in techniques}}
        ],
        "title": f"Article {k}",
        "source": f"outlet-{k % 7}",
        "published_at": f"2026-11-{1 + k % 28:02d}",
    }
    return record, text


def make_run(folder: Path, n: int, seed: int = 0) -> Path:
    """A synthetic ``framescope score`` output folder of ``n`` articles; returns the folder."""
    from framescope.labels.sample import load_sample
    from framescope.labels.taxonomy import load_taxonomy

    docs = load_sample()
    techniques = list(load_taxonomy().names)
    rng = random.Random(seed)
    journal = folder / ".framescope-journal"
    journal.mkdir(parents=True)
    (journal / "meta.json").write_text(json.dumps({"journal_version": 1, "model": {"fingerprint": "bench"}}))
    tasks = []
    with open(folder / "results.jsonl", "w", encoding="utf-8") as res, open(journal / "chunk-000001.jsonl", "w") as jf:
        for k in range(n):
            record, text = _record(docs[k % len(docs)], k, techniques, rng)
            res.write(json.dumps(record, ensure_ascii=False) + "\n")
            key = hashlib.sha256(f"{record['id']}\x00{record['text_sha256']}".encode()).hexdigest()
            jf.write(json.dumps({"key": key, "record": record, "text": text}, ensure_ascii=False) + "\n")
            tasks.append({"data": {"id": record["id"], "text": text, "lang": record["lang"]}, "predictions": []})
    (folder / "labelstudio.json").write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return folder


def run_case(run: str, out: str) -> dict:
    """In this process: write the report of ``run`` into ``out`` and measure it."""
    from framescope.inference.report import write_report

    base = _rss_mb()
    t0 = time.perf_counter()
    write_report(Path(run), Path(out))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pages = sum(1 for _ in (Path(out) / "articles").iterdir())
    return {"pages": pages, "base_rss_mb": round(base, 1), "peak_rss_mb": round(peak, 1), "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 20000], help="articles per run")
    parser.add_argument("--out", type=Path, help="also write the JSON list here")
    parser.add_argument("--case", nargs=2, metavar=("RUN", "OUT"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for n in args.n:
            run = make_run(Path(tmp) / f"run-{n}", n)
            child = subprocess.run(
                [sys.executable, __file__, "--case", str(run), str(Path(tmp) / f"report-{n}")],
                capture_output=True,
                text=True,
                check=True,
            )
            row = {"articles": n, **json.loads(child.stdout.strip().splitlines()[-1])}
            row["added_mb"] = round(row["peak_rss_mb"] - row["base_rss_mb"], 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
