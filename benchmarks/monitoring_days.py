"""Three "days" of monitoring into one dataset, checked in DuckDB, then the trends dashboard.

The acceptance run of the monitoring features (docs/monitoring.md gives its figures):

1. trains the ``quickstart`` config (the scikit-learn baseline on the bundled sample
   corpus, seconds) unless ``--model`` names a model;
2. writes three JSONL feeds from the German and English SemEval-2023 *test* articles in
   ``../shared/data`` (``semeval2023/{de,en}/test-articles-subtask-3``; read there, never
   copied into the repository) with made-up outlets, titles and publication dates over
   six weeks; day 3 repeats the first ``--repeat`` articles of day 1 unchanged;
3. runs ``framescope score dayN.jsonl --out WORK/dayN --dataset WORK/dataset --html`` for
   each day, as a user would;
4. checks the dataset in DuckDB: one row per distinct article, no duplicate
   ``(id, text_sha256)``, metadata columns filled, every span joined to its article;
5. writes one HTML report over the dataset's articles and the dashboard over the dataset
   (``framescope dashboard WORK/dataset --report ...``), and with ``--screenshots``
   renders it and the report's German example page in headless Chromium into
   ``docs/dashboard.png`` and ``docs/report.png``.

    python benchmarks/monitoring_days.py [--shared ../shared/data] [--work runs/monitoring-days] [--screenshots]

Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTLETS = {
    "de": ["Tagesblick", "Morgenpost Nord", "Der Kurier"],
    "en": ["The Daily Ledger", "Harbor Times", "Evening Sentinel"],
}
FIRST_MONDAY = date(2026, 9, 28)
WEEKS = 6


def feeds(shared: Path, repeat: int, seed: int = 13) -> list[list[dict]]:
    """Three days of records: the test articles split in three, day 3 also repeating some of day 1."""
    rng = random.Random(seed)
    records = []
    for lang in ("de", "en"):
        folder = shared / "semeval2023" / lang / "test-articles-subtask-3"
        for path in sorted(folder.glob("article*.txt")):
            text = path.read_text(encoding="utf-8")
            first_line = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
            day = FIRST_MONDAY + timedelta(days=rng.randrange(WEEKS * 7))
            records.append(
                {
                    "id": f"{lang}/{path.stem}",
                    "text": text,
                    "lang": lang,
                    "source": rng.choice(OUTLETS[lang]),
                    "url": f"https://news.example/{lang}/{path.stem}",
                    "title": first_line[:120],
                    "published_at": f"{day.isoformat()}T{rng.randrange(6, 22):02d}:00:00+02:00",
                }
            )
    rng.shuffle(records)
    third = len(records) // 3
    days = [records[:third], records[third : 2 * third], records[2 * third :]]
    days[2] = days[2] + days[0][:repeat]
    return days


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if proc.returncode not in (0, 1):
        sys.exit(f"failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def chromium_screenshot(url: str, png: Path, size: str) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("--screenshots needs chromium (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={size}",
                "--hide-scrollbars",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    print(f"screenshot: {png} ({png.stat().st_size / 1024:.0f} KiB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("FRAMESCOPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "monitoring-days")
    ap.add_argument("--model", help="model folder or URI (default: train the quickstart config into WORK/model)")
    ap.add_argument("--repeat", type=int, default=5, help="articles of day 1 sent again on day 3")
    ap.add_argument("--screenshots", action="store_true", help="write docs/dashboard.png and docs/report.png")
    args = ap.parse_args()

    import duckdb

    from framescope.inference import views
    from framescope.inference.dataset import read_sql

    if not (args.shared / "semeval2023" / "de" / "test-articles-subtask-3").is_dir():
        sys.exit(f"{args.shared}: no semeval2023/de/test-articles-subtask-3 (pass --shared)")
    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    fs = [sys.executable, "-m", "framescope"]
    model = args.model
    if model is None:
        model = str(work / "model")
        t0 = time.time()
        run(
            [*fs, "train", "quickstart", "-o", model],
            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"},
        )
        print(f"trained the quickstart config in {time.time() - t0:.1f}s")

    days = feeds(args.shared, args.repeat)
    dataset = work / "dataset"
    texts: dict[str, str] = {}
    for n, records in enumerate(days, 1):
        feed = work / f"day{n}.jsonl"
        feed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        texts.update((r["id"], r["text"]) for r in records)
        t0 = time.time()
        proc = run(
            [*fs, "score", "-q", str(feed), "--model", model, "--out", str(work / f"day{n}"), "--dataset", str(dataset)]
        )
        said = " ".join(proc.stdout.split())
        print(
            f"day {n}: {len(records)} articles scored in {time.time() - t0:.1f}s; " + said[said.index("dataset:") :]
            if "dataset:" in said
            else said[-300:]
        )

    distinct = len({(r["id"], r["text"]) for d in days for r in d})
    con = duckdb.connect()
    arts, spans = read_sql(dataset, "articles"), read_sql(dataset, "spans")
    rows, keys, ids = con.execute(
        f"SELECT count(*), count(DISTINCT (id, text_sha256)), count(DISTINCT id) FROM {arts}"
    ).fetchone()
    filled = con.execute(
        f"SELECT count(source), count(url), count(title), count(published_at), count(DISTINCT source), "
        f"count(DISTINCT date_trunc('week', published_at)) FROM {arts}"
    ).fetchone()
    n_spans, orphans = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE a.id IS NULL) FROM {spans} s "
        f"LEFT JOIN {arts} a ON s.article_id = a.id AND s.text_sha256 = a.text_sha256"
    ).fetchone()
    runs_spans = sum(
        con.execute(f"SELECT count(*) FROM read_parquet('{work / f'day{n}' / 'spans.parquet'}')").fetchone()[0]
        for n in (1, 2)
    )
    print(
        f"dataset: {rows} article rows ({keys} distinct (id, text_sha256), {ids} distinct ids), expected {distinct}; "
        f"{n_spans} spans, {orphans} without their article"
    )
    print(
        f"metadata filled: source {filled[0]}, url {filled[1]}, title {filled[2]}, published_at {filled[3]}; "
        f"{filled[4]} outlets, {filled[5]} weeks"
    )
    shared, _ = views.connect(dataset)  # the shipped views: UTC weeks, latest versions, normalised outlets
    weekly = shared.execute(
        "SELECT outlet, week, articles, round(share, 3) AS share_loaded_language FROM outlet_week_technique "
        "WHERE technique = 'Loaded_Language' ORDER BY outlet, week LIMIT 8"
    ).fetchall()
    for row in weekly:
        print("  ", row)
    ok = rows == keys == distinct and orphans == 0 and all(v == rows for v in filled[:4])
    ok = ok and n_spans >= runs_spans  # day 3 adds spans only for its new articles

    # one report over all the dataset's articles, and the dashboard linking to it
    t0 = time.time()
    run([*fs, "report", "--dataset", str(dataset), "--out", str(work / "report")])
    report = work / "report" / "index.html"
    print(
        f"report over the dataset: {len(list((work / 'report' / 'articles').glob('*.html')))} pages "
        f"in {time.time() - t0:.1f}s"
    )
    t0 = time.time()
    proc = run([*fs, "dashboard", str(dataset), "--out", str(work / "dashboard"), "--report", "../report"])
    page = work / "dashboard" / "index.html"
    html = page.read_text(encoding="utf-8")
    print(
        f"dashboard: {page} in {time.time() - t0:.1f}s, {html.count('<svg')} charts, "
        f"{html.count('/articles/')} example links, {len(html) / 1024:.0f} KiB"
    )
    links = re.findall(r'<a href="([^"]+/articles/[0-9a-f]{20}\.html)"', html)
    dead = [h for h in links if not (page.parent / h).resolve().is_file()]
    print(f"example links: {len(links)}, dead: {len(dead)}")
    ok = ok and html.count("<svg") >= 4 and "<script" not in html.lower() and links and not dead

    if args.screenshots:
        chromium_screenshot(page.as_uri(), ROOT / "docs" / "dashboard.png", "1280,2000")
        example = work / "example"
        run(
            [
                *fs,
                "score",
                "-q",
                str(ROOT / "inference" / "examples" / "de_article.txt"),
                "--model",
                model,
                "--out",
                str(example),
                "--html",
            ]
        )
        article = next((example / "articles").glob("*.html"))
        chromium_screenshot(article.as_uri(), ROOT / "docs" / "report.png", "1280,1600")
    print("report:", report)
    print("OK" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
