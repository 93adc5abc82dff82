"""Label Studio: read JSON exports, write exports and pre-annotations (predictions).

The labeling configuration that matches what this module reads and writes
(:func:`labeling_config`; ``framescope labelstudio config`` prints it for a taxonomy or a
model, grouped by category and in the report's category colours)::

    <View>
      <Labels name="label" toName="text" showInline="false">
        <Header value="Attack on reputation" size="6"/>
        <Label value="Doubt" background="#cc3311"/>
        <!-- one <Label> per technique, under its category's header -->
      </Labels>
      <Text name="text" value="$text"/>
      <Header value="Techniques in the article as a whole"/>
      <Choices name="article" toName="text" choice="multiple" showInline="true">
        <Header value="Attack on reputation" size="6"/>
        <Choice value="Doubt"/>
        <!-- one <Choice> per technique -->
      </Choices>
    </View>

Reading an export (``Export -> JSON``): a JSON list of tasks::

    [{"id": 7, "data": {"text": "..."},
      "annotations": [{"was_cancelled": false, "result": [
          {"type": "labels", "from_name": "label", "to_name": "text",
           "value": {"start": 10, "end": 25, "text": "...", "labels": ["Loaded_Language"]}}]}]}]

* The text is ``data.text``; otherwise ``data[text_key]`` when ``text_key`` is given, otherwise
  the only string field of ``data`` (``id`` and ``lang`` aside).
* The document id is ``data.id`` when present (what :func:`write` and
  :func:`write_predictions` put there), else the task ``id``; ``lang`` is ``data.lang``;
  ``meta`` is ``data.meta`` (a JSON object) when present.
* Offsets are code-point offsets into the text, i.e. Python string indices.
* **One annotation per task, by these rules** (each counted in :class:`TaskCounts`, which
  ``framescope data validate``, ``data stats`` and ``train`` print, so nothing is set aside
  silently):

  - *several submitted annotations* (two annotators, or a reviewer's redo): the most recent
    is read, by ``updated_at``, else ``created_at`` (an annotation without either counts as
    older; among equals the first listed wins); merging or adjudicating several is a
    decision for the project, not for a reader, so the others are counted as not used;
  - *skipped* (every annotation ``was_cancelled``): read with no spans and
    ``meta["labeled"] = False``: not an article, never trained on, even if it has predictions;
  - *unlabeled* (no annotation, no prediction): read the same way;
  - *prediction-only* (predictions, no submitted annotation): model output nobody reviewed,
    so read unlabeled as well; with ``use_predictions=True`` its most recent prediction is
    read as if it were an annotation (counted apart). Label Studio's own export lists
    predictions by id only (``"predictions": [6]``, or ``total_predictions``): such a task
    counts as prediction-only, and there are no spans to read from it.
* Only results of ``type: "labels"`` become spans; the ``article`` ``<Choices>`` (techniques
  of the article as a whole) go to ``meta["article_techniques"]``.
* A ``labels`` result carrying several labels gives one Span per label, in order. A result
  whose ``value.text`` differs from the text at its offsets is a Problem (task index, task id
  and offsets in the message) and is skipped.
* JSON carries no line per result: every Span and Problem points at the line where its task
  starts in the file (``Location(path, line)``; ``line`` is None if that cannot be worked
  out), with the document id and offsets.

:func:`write` writes an export-shaped file that reads back to the same documents;
:func:`write_predictions` writes pre-annotations to import into a project with the config above.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from xml.sax.saxutils import quoteattr

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document, Location, Problem, Span, describe_json_error

if TYPE_CHECKING:
    from framescope.labels.taxonomy import Taxonomy

NAME = "labelstudio"
FROM_NAME = "label"
TO_NAME = "text"
ARTICLE_NAME = "article"  # the article-level <Choices>

ScoreKey = tuple[str, int, int, str]  # (document id, start, end, technique)


def labeling_config(technique_names: Iterable[str], taxonomy: "Taxonomy | None" = None) -> str:
    """The Label Studio labeling config XML for these techniques.

    Spans are ``<Label>`` values of the ``label`` control over ``$text`` (what :func:`read`
    reads and :func:`write_predictions` writes); the article as a whole gets a multiple
    ``<Choices>`` named ``article`` with the same techniques (read into
    ``meta["article_techniques"]``). With a ``taxonomy``, both are grouped by category in
    the taxonomy's order, under a header per category, and each label takes its category's
    colour (:mod:`framescope.labels.colours`, the report's palette); techniques the taxonomy
    does not know come last, in grey.
    """
    groups = _groups(list(technique_names), taxonomy)
    label_lines, choice_lines = [], []
    for title, colour, names in groups:
        label_lines += _group_xml(title, names, "Label", colour)
        choice_lines += _group_xml(title, names, "Choice", None)
    inline = "false" if taxonomy is not None else "true"
    return (
        "<View>\n"
        f'  <Labels name="{FROM_NAME}" toName="{TO_NAME}" showInline="{inline}">\n'
        + "".join(f"    {line}\n" for line in label_lines)
        + "  </Labels>\n"
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        '  <Header value="Techniques in the article as a whole"/>\n'
        f'  <Choices name="{ARTICLE_NAME}" toName="{TO_NAME}" choice="multiple" showInline="true">\n'
        + "".join(f"    {line}\n" for line in choice_lines)
        + "  </Choices>\n"
        "</View>\n"
    )


def _groups(names: list[str], taxonomy: "Taxonomy | None") -> list[tuple[str | None, str | None, list[str]]]:
    """(header, colour, techniques) per category in taxonomy order; one untitled group without a taxonomy."""
    if taxonomy is None:
        return [(None, None, names)]
    from framescope.labels.colours import UNKNOWN_COLOUR, category_colours

    known = [n for n in names if n in taxonomy.names]
    order = list(taxonomy.categories) + [taxonomy.category_of(n) for n in known]
    colours = category_colours(order)
    out = []
    for cid in dict.fromkeys(order):
        members = [n for n in known if taxonomy.category_of(n) == cid]
        if members:
            title = str(taxonomy.categories.get(cid, {}).get("name") or cid.replace("_", " ").capitalize())
            out.append((title, colours[cid], members))
    other = [n for n in names if n not in taxonomy.names]
    if other:
        out.append(("Other", UNKNOWN_COLOUR, other))
    return out


def _group_xml(title: str | None, names: list[str], tag: str, colour: str | None) -> list[str]:
    lines = [f'<Header value={quoteattr(title)} size="6"/>'] if title is not None else []
    paint = f" background={quoteattr(colour)}" if colour else ""
    return lines + [f"<{tag} value={quoteattr(str(name))}{paint}/>" for name in names]


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


@dataclass
class TaskCounts:
    """How the reader treated the tasks of one export: the rules of the module docstring, counted.

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


def read(
    path: Path,
    problems: list[Problem],
    *,
    text_key: str | None = None,
    use_predictions: bool = False,
) -> list[Document]:
    """The documents of an export (rules in the module docstring); problems go to ``problems``."""
    return read_counted(path, problems, text_key=text_key, use_predictions=use_predictions)[0]


def count_tasks(path: Path, *, text_key: str | None = None, use_predictions: bool = False) -> TaskCounts:
    """What :func:`read` makes of each task of an export, counted (its problems are not kept)."""
    return read_counted(path, [], text_key=text_key, use_predictions=use_predictions)[1]


def read_counted(
    path: Path,
    problems: list[Problem],
    *,
    text_key: str | None = None,
    use_predictions: bool = False,
) -> tuple[list[Document], TaskCounts]:
    """:func:`read`, with the :class:`TaskCounts` of the export."""
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


def counts_of_inputs(paths: Iterable[str | Path], fmt: str | None = None) -> list[TaskCounts]:
    """The :class:`TaskCounts` of each Label Studio export among these inputs (``fmt`` or detected)."""
    from framescope.labels.formats import detect_format

    out = []
    for path in map(Path, paths):
        if not path.is_file():
            continue  # Label Studio exports are files; a folder is another format
        try:
            kind = fmt or detect_format(path)
        except ValueError:
            continue  # the read itself reports an undetectable format
        if kind == NAME:
            out.append(count_tasks(path))
    return out


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


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_task(
    task: Any,
    index: int,
    loc: Location,
    text_key: str | None,
    use_predictions: bool,
    problems: list[Problem],
    counts: TaskCounts,
) -> Document | None:
    where = f"task #{index}"
    if isinstance(task, dict) and "id" in task:
        where += f" (id {task['id']})"
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
    doc = Document(doc_id, text, lang, [], meta, source=loc)
    chosen = _choose_annotation(task, use_predictions, counts)
    if chosen is None:
        doc.meta["labeled"] = False
        return doc
    results = chosen.get("result") or []
    if not isinstance(results, list):
        problems.append(Problem(f"{where}: 'result' must be a list", loc, doc_id=doc_id))
        return doc
    for k, res in enumerate(results):
        if _article_choices(res):
            doc.meta["article_techniques"] = _article_choices(res)
        if not isinstance(res, dict) or res.get("type") != "labels":
            continue
        rwhere = f"{where}, result #{k}"
        value = res.get("value")
        if not isinstance(value, dict):
            problems.append(Problem(f"{rwhere}: 'value' must be an object", loc, doc_id=doc_id))
            continue
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (_is_int(start) and _is_int(end)):
            problems.append(
                Problem(
                    f"{rwhere}: value.start and value.end must be integers, found {start!r}, {end!r}",
                    loc,
                    doc_id=doc_id,
                )
            )
            continue
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            problems.append(
                Problem(
                    f"{rwhere}: value.labels must be a non-empty list of names",
                    loc,
                    doc_id=doc_id,
                    span=(start, end),
                )
            )
            continue
        if not (0 <= start <= end <= len(text)):
            problems.append(
                Problem(
                    f"{rwhere}: offsets outside the text ({len(text)} characters) or reversed",
                    loc,
                    doc_id=doc_id,
                    span=(start, end),
                )
            )
            continue
        if "text" in value and value["text"] != text[start:end]:
            problems.append(
                Problem(
                    f"{rwhere}: value.text {value['text']!r} differs from"
                    f" the text at these offsets {text[start:end]!r}",
                    loc,
                    doc_id=doc_id,
                    span=(start, end),
                )
            )
            continue
        doc.spans.extend(Span(start, end, label, source=loc) for label in labels)
    return doc


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


def _result(rid: str, doc: Document, span: Span) -> dict[str, Any]:
    return {
        "id": rid,
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "labels",
        "value": {
            "start": span.start,
            "end": span.end,
            "text": doc.text[span.start : span.end],
            "labels": [span.technique],
        },
    }


def _dump(tasks: list[dict], path: Path) -> None:
    atomic_write_bytes(Path(path), (json.dumps(tasks, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def write(docs: Iterable[Document], path: Path) -> None:
    """An export-shaped JSON file (one annotation per labeled document) that reads back equal."""
    tasks = []
    for n, doc in enumerate(docs, start=1):
        meta = dict(doc.meta)
        labeled = bool(doc.spans) or meta.get("labeled", True) is not False
        if not labeled:
            meta.pop("labeled")
        data: dict[str, Any] = {"text": doc.text, "id": doc.id}
        if doc.lang is not None:
            data["lang"] = doc.lang
        if meta:
            data["meta"] = meta
        task: dict[str, Any] = {"id": n, "data": data, "annotations": [], "predictions": []}
        if labeled:
            result = [_result(f"fs{n}-{k}", doc, s) for k, s in enumerate(doc.spans, start=1)]
            task["annotations"] = [{"id": n, "was_cancelled": False, "result": result}]
        tasks.append(task)
    _dump(tasks, path)


def write_predictions(
    docs: Iterable[Document],
    path: Path,
    model_version: str = "framescope",
    scores: Mapping[ScoreKey, float] | None = None,
) -> None:
    """Label Studio pre-annotations: import the file into a project with :func:`labeling_config`.

    A span's confidence is ``scores[(doc.id, start, end, technique)]`` when given, else
    ``doc.meta["span_scores"][i]`` (a list parallel to ``doc.spans``; None for unknown);
    the prediction's overall ``score`` is the mean of the known span scores.
    """
    tasks = []
    for n, doc in enumerate(docs, start=1):
        listed = doc.meta.get("span_scores")
        listed = listed if isinstance(listed, list) and len(listed) == len(doc.spans) else None
        result, known = [], []
        for k, span in enumerate(doc.spans):
            item = _result(f"fs{n}-{k + 1}", doc, span)
            score = None
            if scores is not None:
                score = scores.get((doc.id, span.start, span.end, span.technique))
            if score is None and listed is not None:
                score = listed[k]
            if score is not None:
                item["score"] = float(score)
                known.append(float(score))
            result.append(item)
        prediction: dict[str, Any] = {"model_version": model_version, "result": result}
        if known:
            prediction["score"] = sum(known) / len(known)
        tasks.append({"data": {"text": doc.text, "id": doc.id, "lang": doc.lang}, "predictions": [prediction]})
    _dump(tasks, path)
