"""Reading a Label Studio JSON export, task by task, by the rules of :mod:`framescope.labels.formats.labelstudio`.

A task becomes one :class:`Document` (or one Problem saying why it cannot), read from the one
annotation :func:`_choose_annotation` picks; :class:`TaskCounts` counts what became of each
task, so no task is set aside without the user seeing how many and why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from framescope.labels.document import Document, Location, Problem, Span, describe_json_error
from framescope.labels.formats.labelstudio_config import ARTICLE_NAME


@dataclass
class TaskCounts:
    """How the reader treated the tasks of one export: the rules of :mod:`labelstudio`'s docstring, counted.

    ``data validate``, ``data stats`` and ``train`` print these lines, so no task is set
    aside without the user seeing how many and why.
    """

    path: str
    tasks: int = 0
    annotated: int = 0  # read from a submitted annotation: the articles
    several: int = 0  # annotated tasks with more than one submitted annotation
    unused_annotations: int = 0  # the submitted annotations of those tasks that were not read
    skipped: int = 0  # every annotation cancelled ("Skip" in Label Studio)
    unlabeled: int = 0  # neither annotation nor prediction
    prediction_only: int = 0  # predictions but no submitted annotation
    from_predictions: int = 0  # prediction-only tasks read as gold (use_predictions=True)
    refused: int = 0  # tasks that could not be read at all (a problem says why)

    @property
    def unlabeled_total(self) -> int:
        """Tasks read as unlabeled documents (``meta["labeled"] = False``): not articles, never trained on."""
        return self.skipped + self.unlabeled + self.prediction_only - self.from_predictions

    def lines(self) -> list[str]:
        """One line per rule that applied, each with its count and what became of the tasks."""
        out = [
            f"{self.path}: {self.tasks} task(s), {self.annotated + self.from_predictions} read as annotated article(s)"
        ]
        if self.several:
            out.append(
                f"{self.several} task(s) with several submitted annotations: the most recent of each read,"
                f" {self.unused_annotations} other annotation(s) not used"
            )
        if self.skipped:
            out.append(
                f"{self.skipped} skipped task(s) (every annotation cancelled): unlabeled, not counted as articles"
            )
        if self.unlabeled:
            out.append(f"{self.unlabeled} unlabeled task(s) (no annotation): not counted as articles")
        unused = self.prediction_only - self.from_predictions
        if unused:
            out.append(
                f"{unused} prediction-only task(s) (predictions, no submitted annotation): not gold, unlabeled;"
                " review and submit them in Label Studio to use them"
            )
        if self.from_predictions:
            out.append(
                f"{self.from_predictions} prediction-only task(s) read from their predictions as gold (use_predictions)"
            )
        if self.refused:
            out.append(f"{self.refused} task(s) refused (see the errors)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_counted(
    path: Path,
    problems: list[Problem],
    *,
    text_key: str | None = None,
    use_predictions: bool = False,
) -> tuple[list[Document], TaskCounts]:
    """:func:`labelstudio.read`, with the :class:`TaskCounts` of the export."""
    path = Path(path)
    counts = TaskCounts(str(path))
    data, lines = _load_tasks(path, problems)
    if data is None:
        return [], counts
    docs: list[Document] = []
    for index, task in enumerate(data):
        counts.tasks += 1
        doc = _read_task(task, index, Location(str(path), lines[index]), text_key, use_predictions, problems, counts)
        if doc is None:
            counts.refused += 1
        else:
            docs.append(doc)
    _warn_prediction_only(counts, Location(str(path)), problems)
    return docs, counts


def _warn_prediction_only(counts: "TaskCounts", loc: Location, problems: list[Problem]) -> None:
    """One warning, with counts, when tasks carrying only predictions were read with no spans.

    An export of pre-annotations would otherwise validate as "ok" with 0 spans, and a model
    trained or evaluated on it would learn that nothing is propaganda. Tasks nobody labeled
    yet, without pre-annotations, are an ordinary partial export: counted, not warned about.
    """
    unused = counts.prediction_only - counts.from_predictions
    if unused:
        problems.append(
            Problem(
                f"{counts.unlabeled_total} of {counts.tasks} tasks have no annotation and are read with no spans; "
                f"{unused} of them carry predictions only, which are model output, not labels "
                "(export after annotating, or read them with use_predictions=True)",
                loc,
                level="warning",
            )
        )


def _load_tasks(path: Path, problems: list[Problem]) -> tuple[list | None, list[int | None]]:
    """The export's tasks and the line each starts on; None (and a problem) when unreadable."""
    fileloc = Location(str(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        problems.append(Problem(f"cannot read: {err.strerror}", fileloc))
        return None, []
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        problems.append(Problem(f"not valid UTF-8 at byte {err.start}: {err.reason}", Location(str(path), line)))
        return None, []
    if content.startswith("\ufeff"):
        content = content[1:]
    try:
        data = json.loads(content)
    except json.JSONDecodeError as err:
        problems.append(Problem(describe_json_error(err), Location(str(path), err.lineno)))
        return None, []
    if isinstance(data, dict):
        return [data], [1]
    if isinstance(data, list):
        return data, _task_lines(content, len(data))
    problems.append(Problem("a Label Studio export must be a JSON list of tasks", fileloc))
    return None, []


def _task_lines(text: str, n_tasks: int) -> list[int | None]:
    """The line each top-level task starts on, found by decoding the array item by item."""
    dec = json.JSONDecoder()
    out: list[int | None] = []
    try:
        pos = text.index("[") + 1
        line, counted = 1, 0
        for _ in range(n_tasks):
            while text[pos] in " \t\r\n,":
                pos += 1
            line += text.count("\n", counted, pos)
            counted = pos
            out.append(line)
            _, pos = dec.raw_decode(text, pos)
    except (ValueError, IndexError):
        return [None] * n_tasks
    return out


def _read_task(
    task: Any,
    index: int,
    loc: Location,
    text_key: str | None,
    use_predictions: bool,
    problems: list[Problem],
    counts: TaskCounts,
) -> Document | None:
    """One task as a document (None, and a problem, when it cannot be one), its spans from the chosen annotation."""
    where = f"task #{index}"
    if isinstance(task, dict) and "id" in task:
        where += f" (id {task['id']})"
    doc = _task_document(task, index, where, loc, text_key, problems)
    if doc is None:
        return None
    chosen = _choose_annotation(task, use_predictions, counts)
    if chosen is None:
        doc.meta["labeled"] = False
        return doc
    results = chosen.get("result") or []
    if not isinstance(results, list):
        problems.append(Problem(f"{where}: 'result' must be a list", loc, doc_id=doc.id))
        return doc
    for k, res in enumerate(results):
        _read_result(res, f"{where}, result #{k}", doc, loc, problems)
    return doc


def _task_document(
    task: Any, index: int, where: str, loc: Location, text_key: str | None, problems: list[Problem]
) -> Document | None:
    """The task's id, text, language and meta as a document with no spans yet; None (and a problem) without a text."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        problems.append(Problem(f"{where}: a task must be an object with a 'data' object", loc))
        return None
    data = task["data"]
    raw_id = data.get("id", task.get("id", index))
    doc_id = raw_id if isinstance(raw_id, str) else str(raw_id)
    text, why = _pick_text(data, text_key)
    if text is None:
        problems.append(Problem(f"{where}: {why}", loc, doc_id=doc_id))
        return None
    lang = data.get("lang") if isinstance(data.get("lang"), str) else None
    meta = dict(data["meta"]) if isinstance(data.get("meta"), dict) else {}
    return Document(doc_id, text, lang, [], meta, source=loc)


def _pick_text(data: dict, text_key: str | None) -> tuple[str | None, str]:
    if text_key is not None:
        if isinstance(data.get(text_key), str):
            return data[text_key], ""
        return None, f"no string field data.{text_key}"
    if isinstance(data.get("text"), str):
        return data["text"], ""
    keys = [k for k, v in data.items() if isinstance(v, str) and k not in ("id", "lang")]
    if len(keys) == 1:
        return data[keys[0]], ""
    if not keys:
        return None, "data has no string field to read as the text"
    return None, f"data has several string fields ({', '.join(sorted(keys))}); pass text_key"


def _read_result(res: Any, where: str, doc: Document, loc: Location, problems: list[Problem]) -> None:
    """One result of the annotation into ``doc``: article choices into its meta, a ``labels`` result into its spans."""
    choices = _article_choices(res)
    if choices:
        doc.meta["article_techniques"] = choices
    if not isinstance(res, dict) or res.get("type") != "labels":
        return
    value = res.get("value")
    if not isinstance(value, dict):
        problems.append(Problem(f"{where}: 'value' must be an object", loc, doc_id=doc.id))
        return
    start, end, labels = value.get("start"), value.get("end"), value.get("labels")
    if not (_is_int(start) and _is_int(end)):
        why = f"value.start and value.end must be integers, found {start!r}, {end!r}"
        problems.append(Problem(f"{where}: {why}", loc, doc_id=doc.id))
        return
    why = _value_problem(value, start, end, labels, doc.text)
    if why:
        problems.append(Problem(f"{where}: {why}", loc, doc_id=doc.id, span=(start, end)))
        return
    doc.spans.extend(Span(start, end, label, source=loc) for label in labels)


def _value_problem(value: dict, start: int, end: int, labels: Any, text: str) -> str:
    """What is wrong with a result's labels, offsets or quoted text, or "" when it gives spans."""
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        return "value.labels must be a non-empty list of names"
    if not (0 <= start <= end <= len(text)):
        return f"offsets outside the text ({len(text)} characters) or reversed"
    if "text" in value and value["text"] != text[start:end]:
        return f"value.text {value['text']!r} differs from the text at these offsets {text[start:end]!r}"
    return ""


def _article_choices(res: Any) -> list[str]:
    """The techniques ticked in the article-level ``<Choices>`` (``from_name`` ``article``), else []."""
    if not isinstance(res, dict) or res.get("type") != "choices" or res.get("from_name") != ARTICLE_NAME:
        return []
    value = res.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    return [c for c in choices if isinstance(c, str)] if isinstance(choices, list) else []


def _choose_annotation(task: dict, use_predictions: bool, counts: TaskCounts) -> dict | None:
    """The annotation a task is read from (None: read unlabeled), by the module's rules; counted."""
    listed = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    submitted = [a for a in listed if not a.get("was_cancelled")]
    if submitted:
        counts.annotated += 1
        if len(submitted) > 1:
            counts.several += 1
            counts.unused_annotations += len(submitted) - 1
        return _most_recent(submitted)
    if listed:
        counts.skipped += 1  # a human's "skip": its predictions are not gold either
        return None
    # Label Studio's own JSON export lists a task's predictions by id only (1.23.2): a
    # prediction-only task all the same, whose spans are not in the file
    listed_predictions = task.get("predictions") or []
    if not listed_predictions and not task.get("total_predictions"):
        counts.unlabeled += 1
        return None
    counts.prediction_only += 1
    predictions = [p for p in listed_predictions if isinstance(p, dict)]
    if not use_predictions or not predictions:
        return None
    counts.from_predictions += 1
    return _most_recent(predictions)


def _timestamp(item: dict) -> datetime | None:
    """``updated_at``, else ``created_at``, as an aware datetime (naive ones are UTC); None if neither parses."""
    for key in ("updated_at", "created_at"):
        value = item.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def _most_recent(items: list[dict]) -> dict:
    """The latest by :func:`_timestamp`; undated items are older than dated ones; ties: the first listed."""
    best, best_at = items[0], _timestamp(items[0])
    for item in items[1:]:
        at = _timestamp(item)
        if at is not None and (best_at is None or at > best_at):
            best, best_at = item, at
    return best


def _is_int(v: Any) -> bool:
    """JSON integers only: ``true``/``false`` are Python ints and would become offsets 1/0."""
    return isinstance(v, int) and not isinstance(v, bool)
