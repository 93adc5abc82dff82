"""Scoring time and memory against input size: many tiny articles, and single huge ones.

    python benchmarks/bench_sizes.py --model runs/quickstart/model --tiny 10000 --mb 1 4 16

Every case runs in a fresh child process (``resource.getrusage``'s peak RSS is a
high-water mark per process) and scores through :func:`framescope.inference.batch.run_score`,
the engine of ``framescope score``: inputs read from a JSONL file, the journal, all export
formats. The model is loaded before the clock starts; its RSS is reported as ``base_rss_mb``
so that ``peak_rss_mb - base_rss_mb`` is what scoring added.

* ``tiny``: N articles of about 70 characters each (``--batch-size 8``, the default).
* ``<k> MB``: one article of k million characters (paragraphs of sample-corpus sentences),
  with ``--max-chars`` raised above it; added memory and time grow linearly in k
  (docs/failures.md, "Time and memory against input size").

Prints one JSON line per case and a table; ``--out FILE`` also writes the JSON list.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    """Current resident set size (MB), from /proc."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _commit() -> str | None:
    """The git commit of the benchmarked code (None outside a checkout)."""
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    return proc.stdout.strip() or None


def _big_text(n_chars: int) -> str:
    from framescope.labels.sample import load_sample

    lines = [line for d in load_sample() for line in d.text.split("\n") if line.strip()]
    parts, size, k = [], 0, 0
    while size < n_chars:
        line = lines[k % len(lines)]
        parts.append(line)
        size += len(line) + 1
        k += 1
    return "\n".join(parts)[:n_chars]


def run_case(model: str, case: str, tiny: int) -> dict:
    """One case, in this process: write the input, load the model, score, measure."""
    from framescope.inference.batch import run_score
    from framescope.model.tagger import SpanTagger

    tmp = Path(tempfile.mkdtemp(prefix="bench-sizes-"))
    feed = tmp / "feed.jsonl"
    with open(feed, "w", encoding="utf-8") as fh:
        if case == "tiny":
            n_chars = 0
            for i in range(tiny):
                text = f"Die feigen Verräter haben uns verkauft, Nummer {i}. Sie lügen, immer!"
                fh.write(json.dumps({"id": f"t{i}", "lang": "de", "text": text}, ensure_ascii=False) + "\n")
                n_chars += len(text)
            n_articles = tiny
        else:
            n_chars = int(float(case) * 1_000_000)
            fh.write(
                json.dumps({"id": f"big-{case}", "lang": "en", "text": _big_text(n_chars)}, ensure_ascii=False) + "\n"
            )
            n_articles = 1
    scorer = SpanTagger.from_pretrained(model)
    scorer.score(["Warm-up."])
    base = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    limit = max(0 if case == "tiny" else n_chars, 1_000_000) + 1  # the one huge article must pass --max-chars
    summary = run_score([str(feed)], scorer=scorer, out=tmp / "out", show_progress=False, max_chars=limit)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert summary.exit_code == 0 and summary.articles == n_articles, summary.errors[:3]
    return {
        "case": case if case == "tiny" else f"{case} MB",
        "articles": n_articles,
        "chars": n_chars,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "articles_per_s": round(n_articles / wall, 2),
        "articles_per_cpu_s": round(n_articles / cpu, 2),
        "chars_per_s": round(n_chars / wall),
        "base_rss_mb": round(base, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "added_rss_mb": round(_peak_rss_mb() - base, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="runs/quickstart/model")
    ap.add_argument("--tiny", type=int, default=10_000, help="number of tiny articles (0: skip)")
    ap.add_argument("--mb", type=float, nargs="*", default=[1, 4, 16], help="sizes of the single huge articles")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--case", help=argparse.SUPPRESS)  # the child's one case
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.model, args.case, args.tiny)))
        return
    cases = (["tiny"] if args.tiny else []) + [f"{m:g}" for m in args.mb]
    rows = []
    for case in cases:
        cmd = [sys.executable, __file__, "--model", args.model, "--tiny", str(args.tiny), "--case", case]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"case {case} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(
        f"\n{'case':>8} {'articles':>8} {'s':>8} {'CPU s':>8} {'art/s':>8} {'art/CPU s':>9} {'chars/s':>9} {'peak MB':>8} {'added MB':>8}"
    )
    for r in rows:
        print(
            f"{r['case']:>8} {r['articles']:>8} {r['seconds']:>8} {r['cpu_seconds']:>8} {r['articles_per_s']:>8} "
            f"{r['articles_per_cpu_s']:>9} {r['chars_per_s']:>9} {r['peak_rss_mb']:>8} {r['added_rss_mb']:>8}"
        )
    if args.out:
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": _commit(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        }
        args.out.write_text(json.dumps({"meta": meta, "cases": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
