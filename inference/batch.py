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
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from rich.console import Console

from framescope.errors import OutputError, UsageError
from framescope.inference.summary import ScoreSummary
from framescope.labels.records import is_iso639_1, lang_warning
from framescope.model.result import ArticleResult
from framescope.model.scorer import check_profile, trained_languages

if TYPE_CHECKING:
    from framescope.model.tagger import SpanTagger

err_console = Console(stderr=True)

DEFAULT_MODEL = Path("runs/quickstart/model")
#: The largest article ``score`` scores, in characters (``--max-chars``): a bigger one is an
#: error row. Scoring memory grows with the article (docs/failures.md, "Article size").
DEFAULT_MAX_CHARS = 1_000_000


def load_model(model: str | None, backend: str = "torch", profile: str = "balanced") -> SpanTagger:
    """The tagger a run scores with: ``model`` (a folder or an MLflow URI; None: the quickstart
    model), checked to have ``profile``.

    A folder or URI that does not load is a ModelError, a missing folder or profile a
    UsageError: one line, exit 2, before anything is written.
    """
    from framescope.model.registry import is_mlflow_uri
    from framescope.model.tagger import SpanTagger

    if model is None:
        if not (DEFAULT_MODEL / "framescope.json").exists():
            raise UsageError(
                f"no --model given and {DEFAULT_MODEL} does not exist: run `framescope quickstart` to train "
                "the quickstart model, or pass --model FOLDER (or an MLflow URI such as models:/framescope@candidate)"
            )
        model = str(DEFAULT_MODEL)
    if not is_mlflow_uri(model) and not Path(model).exists():
        raise UsageError(f"--model {model}: no such folder")
    tagger = SpanTagger.from_pretrained(model, backend=backend)
    check_profile(tagger, profile)
    return tagger


def run_score(
    inputs: Sequence[str],
    *,
    model: str | None = None,
    scorer: SpanTagger | None = None,
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
    """Score ``inputs`` into the folder ``out`` with ``scorer`` (a loaded tagger) or the ``model``
    that :func:`load_model` loads, under the span-threshold ``profile``.

    Raises :class:`~framescope.errors.UsageError` or :class:`~framescope.errors.ModelError`
    (exit 2) before anything is written, :class:`~framescope.errors.OutputError` (exit 3)
    when ``out`` cannot be written. Articles that fail are listed in ``summary.errors``.
    The steps: check the options and ``out``, load the model, open the journal, score what
    the journal does not hold yet, then publish one complete export set.
    """
    from framescope.inference import outdir

    fmts = _check_options(formats, html, batch_size, lang)
    if max_chars < 1:
        raise UsageError(f"--max-chars must be at least 1, not {max_chars}")
    out = Path(out)
    outdir.check_out_dir(out, inputs)
    t0 = time.time()
    tagger = load_model(model, backend, profile) if scorer is None else scorer
    check_profile(tagger, profile)
    if threads:
        tagger.set_threads(threads)
    meta = _run_meta(tagger, profile)
    journal = _open_journal(out, meta, overwrite)
    summary = ScoreSummary(
        out, model=tagger.name, model_version=tagger.version, trained_langs=trained_languages(tagger)
    )
    run = _Run(out, tagger, profile, journal, summary, meta["model"]["fingerprint"], fields, max_chars, t0)
    try:
        _clean_out(out)  # under the journal's lock: no other run is staging
        run.score_all(inputs, lang, fields, stdin, batch_size, show_progress)
        try:
            _write_generation(run, fmts, meta, html)
        except OSError as err:
            raise _output_error(out, err) from None
    finally:
        journal.close()
    summary.seconds = time.time() - t0
    return summary


def _clean_out(out: Path) -> None:
    """Remove what an interrupted run left in ``out`` and adopt a folder of an older layout."""
    from framescope.inference import outdir

    try:
        outdir.clean_leftovers(out)
        outdir.adopt_legacy(out)
    except OSError as err:
        raise _output_error(out, err) from None


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


def _run_meta(tagger: SpanTagger, profile: str) -> dict:
    """What the journal and the manifest record about the run: schema, model, profile, columns."""
    from framescope.inference import exports as ex
    from framescope.inference.journal import model_fingerprint

    techniques = list(tagger.techniques)
    return {
        "schema_version": ex.SCHEMA_VERSION,
        "model": {"name": tagger.name, "version": tagger.version, "fingerprint": model_fingerprint(tagger, profile)},
        "profile": profile,
        "techniques": techniques,
        "categories": ex.categories_of(tagger.taxonomy, techniques),
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
        self, out: Path, tagger, profile: str, journal, summary, fingerprint: str, fields, max_chars: int, t0: float
    ):
        from framescope.inference.inputs import Fields
        from framescope.inference.metadata import extra_columns

        self.out, self.tagger, self.profile, self.journal, self.summary = out, tagger, profile, journal, summary
        self.fingerprint, self.max_chars, self.t0 = fingerprint, max_chars, t0
        self.extra_meta = extra_columns((fields or Fields()).meta)
        self.order: list[str] = []
        self.metadata: dict[str, dict] = {}
        self.batch: list = []
        self.done = 0

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
                elif len(item.text) > self.max_chars:  # before scoring: memory grows with the article
                    self.summary.errors.append(_too_long(item, self.max_chars))
                    self._advance(1)
                elif (key := self._admit(item)) in self.journal:
                    self.summary.reused += 1
                    self._advance(1)
                else:
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
        entries, errors = _score_batch(self.tagger, self.profile, self.batch)
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


def _write_generation(run: _Run, fmts: list[str], meta: dict, html: bool) -> None:
    """Write every export into a staging folder, from the journal in input order, then publish it.

    Each article's metadata is this run's (a resumed run exports it for articles scored
    earlier too): the journal's records carry none, and it is applied here, once.
    """
    from framescope.inference import exports as ex
    from framescope.inference import outdir

    summary, out = run.summary, run.out
    number, stage = outdir.new_generation(out)
    with ex.ExportWriter(stage, fmts, meta["techniques"], meta["categories"], run.extra_meta) as writer:
        for rec, text in run.journal.iter_entries(run.order):
            result = ArticleResult.from_dict(rec, text=text)
            result.metadata = run.metadata.get(result.id) or {}
            writer.add(result)
            summary.count(result)
    names = [p.name for p in writer.written]
    names += [p.name for p in ex.write_errors(stage, summary.errors, fmts)]
    # the report reads the texts, which results.jsonl leaves out, from the journal: memory stays bounded
    if html and _html_report(stage / ex.RESULTS_FILE, stage) is not None:
        names += list(outdir.REPORT_NAMES)
    manifest = {k: meta[k] for k in ("model", "profile", "techniques", "categories")}
    manifest.update(articles=summary.articles, failed=len(summary.failed), formats=fmts, files=sorted(names))
    ex.write_manifest(stage, {"generation": number, **manifest})
    names.append(ex.MANIFEST_FILE)
    outdir.publish(out, stage, number, names)
    summary.files = [out / n for n in names if n not in outdir.REPORT_NAMES]
    if html and "index.html" in names:
        summary.report = out / "index.html"


def _output_error(out: Path, err: OSError) -> OutputError:
    """One line for a failed write: which file, and the system's reason (read-only, disk full...)."""
    where = f" ({err.filename})" if err.filename and Path(err.filename) != out else ""
    return OutputError(f"cannot write to --out {out}{where}: {err.strerror or err}")


def _score_batch(tagger: SpanTagger, profile: str, batch):
    """Score a batch into journal entries ``(key, record, text)``; when it fails, score its
    articles one by one to isolate the culprit. The records carry no metadata (the export
    applies this run's)."""

    def one_go(items):
        texts, ids, langs = [a.text for _, a in items], [a.id for _, a in items], [a.lang for _, a in items]
        results = tagger.score(texts, ids, langs, profile=profile)
        return [(key, r.to_dict(), a.text) for (key, a), r in zip(items, results)]

    try:
        return one_go(batch), []
    except Exception:
        if len(batch) == 1:
            return [], [_failed(batch[0][1])]
    entries, errors = [], []
    for item in batch:
        try:
            entries.extend(one_go([item]))
        except Exception:
            errors.append(_failed(item[1]))
    return entries, errors


def _failed(article) -> dict:
    """The error row of an article whose scoring raised the exception being handled."""
    exc = sys.exc_info()[1]
    return {"id": article.id, "source": article.source, "reason": f"scoring failed: {type(exc).__name__}: {exc}"}


def _progress(enabled: bool):
    """The progress bar on stderr: articles done, their rate and the time elapsed."""
    from rich import progress as rp

    columns = [rp.SpinnerColumn(), rp.TextColumn("[progress.description]{task.description}"), rp.BarColumn()]
    columns += [rp.MofNCompleteColumn(), rp.TextColumn("{task.fields[rate]}"), rp.TimeElapsedColumn()]
    return rp.Progress(*columns, console=err_console, disable=not enabled, transient=False)


def _html_report(results: Path, out_dir: Path) -> Path | None:
    from framescope.inference.report import write_report

    return write_report(results, out_dir)
