"""Batch scoring: stream articles from the inputs, journal every scored batch, write the exports.

This is the engine behind ``framescope score`` (and the quickstart's example run); the
command line (:mod:`framescope.cli.score`) only parses arguments and prints the
summary. :func:`run_score` streams articles from its inputs
(:mod:`framescope.inference.inputs`), scores them in batches, appends every finished
batch to a journal in the output folder (:mod:`framescope.inference.journal`) and, at
the end, writes the exports (:mod:`framescope.inference.exports`) from the journal in
input order. Rerunning the same call resumes: articles already in the journal are not
scored again.

The exports of a run form one *generation*, staged in full and then switched into place
at once (:mod:`framescope.inference.outdir`), so a reader never sees a mix of two runs,
and ``--out`` is checked before anything is written: framescope writes only into a
new or empty folder or one it wrote before. Failure behaviour and exit codes:
docs/failures.md.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rich.console import Console

from framescope.errors import EXIT_OK, EXIT_PARTIAL, OutputError, UsageError
from framescope.labels.records import is_iso639_1, lang_warning

err_console = Console(stderr=True)

DEFAULT_MODEL = Path("runs/quickstart/model")
#: The largest article ``score`` scores, in characters (``--max-chars``): a bigger one is an
#: error row. Scoring memory grows with the article (docs/failures.md, "Article size").
DEFAULT_MAX_CHARS = 1_000_000


@dataclass
class ScoreSummary:
    out_dir: Path
    articles: int = 0  # articles exported (scored now or earlier)
    scored: int = 0  # scored by this run
    reused: int = 0  # taken from the journal
    errors: list[dict] = field(default_factory=list)  # rows of errors.*: level "error" or "warning"
    spans_per_technique: Counter = field(default_factory=Counter)
    articles_per_technique: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)
    report: Path | None = None
    model: str = ""
    model_version: str = ""

    @property
    def failed(self) -> list[dict]:
        """Articles (or inputs) that could not be scored; warnings leave the article exported."""
        return [e for e in self.errors if e.get("level", "error") == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [e for e in self.errors if e.get("level") == "warning"]

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else EXIT_OK


def _load_scorer(model: str | None, backend: str = "torch", profile: str = "balanced"):
    from framescope.model.scorer import Scorer

    if model is None:
        if not (DEFAULT_MODEL / "framescope.json").exists():
            raise UsageError(
                f"no --model given and {DEFAULT_MODEL} does not exist: run `framescope quickstart` to train "
                "the quickstart model, or pass --model FOLDER (or an MLflow URI such as models:/framescope@candidate)"
            )
        model = str(DEFAULT_MODEL)
    is_uri = model.startswith(("models:/", "runs:/"))
    if not is_uri and not Path(model).exists():
        raise UsageError(f"--model {model}: no such folder")
    # a folder or URI that does not load is a ModelError, a missing profile a UsageError: one line, exit 2
    return Scorer.from_pretrained(model, backend=backend, profile=profile)


def run_score(
    inputs: Sequence[str],
    *,
    model: str | None = None,
    scorer=None,
    out: Path,
    lang: str | None = None,
    formats: str | Sequence[str] | None = None,
    batch_size: int = 8,
    threads: int | None = None,
    backend: str = "torch",
    overwrite: bool = False,
    html: bool = False,
    fields=None,
    show_progress: bool = True,
    stdin=None,
    profile: str = "balanced",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ScoreSummary:
    """Score ``inputs`` into the folder ``out``.

    Raises :class:`~framescope.errors.UsageError` or :class:`~framescope.errors.ModelError`
    (exit 2) before anything is written, :class:`~framescope.errors.OutputError` (exit 3)
    when ``out`` cannot be written. Articles that fail are listed in ``summary.errors``.
    The steps: check the options and ``out``, load the model, open the journal, score what
    the journal does not hold yet, then publish one complete export set.
    """
    from framescope.inference import outdir
    from framescope.inference.inputs import Fields
    from framescope.inference.metadata import extra_columns

    fmts = _check_options(formats, html, batch_size, lang)
    if max_chars < 1:
        raise UsageError(f"--max-chars must be at least 1, not {max_chars}")
    out = Path(out)
    outdir.check_out_dir(out, inputs)
    t0 = time.time()
    if scorer is None:
        scorer = _load_scorer(model, backend, profile)
    if threads:
        scorer.tagger.set_threads(threads)
    meta = _run_meta(scorer)
    journal = _open_journal(out, meta, overwrite)
    summary = ScoreSummary(out, model=scorer.name, model_version=scorer.version)
    run = _Run(
        out, scorer, journal, summary, meta["model"]["fingerprint"], extra_columns((fields or Fields()).meta), t0
    )
    run.max_chars = max_chars
    try:
        try:  # under the journal's lock: no other run is staging
            outdir.clean_leftovers(out)
            outdir.adopt_legacy(out)
        except OSError as err:
            raise _output_error(out, err) from None
        run.score_all(inputs, lang, fields, stdin, batch_size, show_progress)
        try:
            _write_generation(summary, out, journal, run.order, fmts, meta, html, run.metadata, run.extra_meta)
        except OSError as err:
            raise _output_error(out, err) from None
    finally:
        journal.close()
    summary.seconds = time.time() - t0
    return summary


def _check_options(formats, html: bool, batch_size: int, lang: str | None) -> list[str]:
    """The export formats to write; a bad option is a :class:`UsageError` before anything runs."""
    from framescope.inference import exports as ex

    try:
        fmts = ex.parse_formats(formats)
    except ValueError as err:
        raise UsageError(f"--export: {err}") from None
    if html and "jsonl" not in fmts:
        fmts.append("jsonl")  # the HTML report is built from results.jsonl
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if lang is not None and not is_iso639_1(lang):
        raise UsageError(f"--default-lang {lang!r}: not an ISO 639-1 language code (such as de, en)")
    return fmts


def _run_meta(scorer) -> dict:
    """What the journal and the manifest record about the run: schema, model, profile, columns."""
    from framescope.inference import exports as ex
    from framescope.inference.journal import model_fingerprint

    techniques = list(scorer.tagger.techniques)
    return {
        "schema_version": ex.SCHEMA_VERSION,
        "model": {"name": scorer.name, "version": scorer.version, "fingerprint": model_fingerprint(scorer)},
        "profile": scorer.profile,
        "techniques": techniques,
        "categories": ex.categories_of(scorer.taxonomy, techniques),
    }


def _open_journal(out: Path, meta: dict, overwrite: bool):
    from framescope.inference.journal import Journal, JournalError

    journal = Journal(out)
    try:
        journal.open(meta, overwrite=overwrite)
    except JournalError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise _output_error(out, err) from None
    return journal


class _Run:
    """The scoring loop of one run: reads the inputs, skips what the journal already holds,
    scores the rest in batches and appends each finished batch to the journal.

    It collects the export order (journal keys in input order) and this run's metadata per
    article id, which the export applies, so a resumed run exports it even for articles
    scored earlier (and corrected titles or dates need no rescoring).
    """

    def __init__(
        self, out: Path, scorer, journal, summary: ScoreSummary, fingerprint: str, extra_meta: list[str], t0: float
    ):
        self.out, self.scorer, self.journal, self.summary = out, scorer, journal, summary
        self.fingerprint, self.extra_meta, self.t0 = fingerprint, extra_meta, t0
        self.order: list[str] = []
        self.metadata: dict[str, dict] = {}
        self.batch: list = []
        self.done = 0
        self.max_chars = DEFAULT_MAX_CHARS

    def score_all(self, inputs, lang, fields, stdin, batch_size: int, show_progress: bool) -> None:
        from framescope.inference.inputs import Article, count_inputs, iter_inputs

        progress = _progress(show_progress)
        total = count_inputs(inputs) if show_progress else None
        with progress:
            self.progress, self.task = progress, progress.add_task("scoring", total=total, rate="")
            for item in iter_inputs(inputs, lang=lang, fields=fields, stdin=stdin):
                if not isinstance(item, Article):
                    self.summary.errors.append(item.to_dict())
                    self._advance(1)
                    continue
                if len(item.text) > self.max_chars:  # before scoring: memory grows with the article
                    self.summary.errors.append(_too_long(item, self.max_chars))
                    self._advance(1)
                    continue
                key = self._admit(item)
                if key in self.journal:
                    self.summary.reused += 1
                    self._advance(1)
                    continue
                self.batch.append((key, item))
                if len(self.batch) >= batch_size:
                    self._flush()
            self._flush()
            progress.update(self.task, total=self.done, completed=self.done)

    def _admit(self, item) -> str:
        """Validate one article's language, record its order, metadata and warnings; its journal key."""
        from framescope.inference.journal import article_key

        warning = lang_warning(item.lang) if item.lang is not None else None
        if warning is not None:
            self.summary.errors.append({"id": item.id, "source": item.source, "level": "warning", "reason": warning})
            item.lang = None
        key = article_key(item.id, item.text_sha256, item.lang, self.fingerprint)
        self.order.append(key)
        item.metadata = {**dict.fromkeys(self.extra_meta), **item.metadata}
        self.metadata[item.id] = item.metadata
        self.summary.errors.extend(
            {"id": item.id, "source": item.source, "reason": w, "level": "warning"} for w in item.warnings
        )
        return key

    def _flush(self) -> None:
        if not self.batch:
            return
        entries, errors = _score_batch(self.scorer, self.batch)
        try:
            self.journal.append(entries)
        except OSError as err:
            raise _output_error(self.out, err) from None
        self.summary.errors.extend(errors)
        self.summary.scored += len(entries)
        n = len(self.batch)
        self.batch.clear()
        self._advance(n)

    def _advance(self, n: int) -> None:
        self.done += n
        elapsed = max(time.time() - self.t0, 1e-6)
        self.progress.update(self.task, completed=self.done, rate=f"{self.done / elapsed:.1f} articles/s")


def _too_long(item, max_chars: int) -> dict:
    """The error row of an article over the size limit (it is not scored, the run goes on)."""
    return {
        "id": item.id,
        "source": item.source,
        "level": "error",
        "reason": f"{len(item.text):,} characters; the limit is {max_chars:,} (--max-chars)",
    }


def _write_generation(
    summary: ScoreSummary,
    out: Path,
    journal,
    order: list[str],
    fmts: list[str],
    meta: dict,
    html: bool,
    metadata: dict[str, dict],
    extra_meta: Sequence[str],
) -> None:
    """Write every export into a staging folder, from the journal in input order, then publish it."""
    from framescope.inference import exports as ex
    from framescope.inference import outdir

    number, stage = outdir.new_generation(out)
    techniques, categories = meta["techniques"], meta["categories"]
    texts: dict[str, str] = {}
    with ex.ExportWriter(stage, fmts, techniques, categories, extra_meta) as writer:
        for rec, text in journal.iter_entries(order):
            rec = ex.with_metadata(rec, metadata.get(rec["id"]))
            writer.add(rec, text)
            if html:  # the report highlights spans in the text, which results.jsonl leaves out
                texts[rec["id"]] = text
            summary.articles += 1
            for s in rec["spans"]:
                summary.spans_per_technique[s["technique"]] += 1
            for t, ts in rec["techniques"].items():
                if ts["spans"]:
                    summary.articles_per_technique[t] += 1
    names = [p.name for p in writer.written]
    names += [p.name for p in ex.write_errors(stage, summary.errors, fmts)]
    if html and _html_report(stage / ex.RESULTS_FILE, stage, texts) is not None:
        names += list(outdir.REPORT_NAMES)
    ex.write_manifest(
        stage,
        {
            "generation": number,
            "model": meta["model"],
            "profile": meta["profile"],
            "techniques": techniques,
            "categories": categories,
            "articles": summary.articles,
            "failed": len(summary.failed),
            "formats": fmts,
            "files": sorted(names),
        },
    )
    names.append(ex.MANIFEST_FILE)
    outdir.publish(out, stage, number, names)
    summary.files = [out / n for n in names if n not in outdir.REPORT_NAMES]
    if html and "index.html" in names:
        summary.report = out / "index.html"


def _output_error(out: Path, err: OSError) -> OutputError:
    """One line for a failed write: which file, and the system's reason (read-only, disk full...)."""
    where = f" ({err.filename})" if err.filename and Path(err.filename) != out else ""
    return OutputError(f"cannot write to --out {out}{where}: {err.strerror or err}")


def _score_batch(scorer, batch):
    """Score a batch; when it fails, score its articles one by one to isolate the culprit."""
    from framescope.inference.exports import result_record

    def one_go(items):
        results = scorer.score_texts([a.text for _, a in items], [a.id for _, a in items], [a.lang for _, a in items])
        return [(key, result_record(r, a.text_sha256, a.metadata), a.text) for (key, a), r in zip(items, results)]

    try:
        return one_go(batch), []
    except Exception:
        if len(batch) == 1:
            key, a = batch[0]
            return [], [{"id": a.id, "source": a.source, "reason": f"scoring failed: {_why()}"}]
    entries, errors = [], []
    for item in batch:
        try:
            entries.extend(one_go([item]))
        except Exception:
            errors.append({"id": item[1].id, "source": item[1].source, "reason": f"scoring failed: {_why()}"})
    return entries, errors


def _why() -> str:
    exc = sys.exc_info()[1]
    return f"{type(exc).__name__}: {exc}"


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )


def _html_report(results: Path, out_dir: Path, texts: dict[str, str] | None = None) -> Path | None:
    from framescope.inference.report import write_report

    return write_report(results, out_dir, texts=texts)
