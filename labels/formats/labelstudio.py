"""Label Studio: read JSON exports, write exports and pre-annotations (predictions).

The labeling configuration that matches what this module reads and writes (see
:func:`labeling_config`, which fills in a taxonomy's technique names)::

    <View>
      <Labels name="label" toName="text">
        <Label value="Loaded_Language"/>
        <Label value="Name_Calling-Labeling"/>
        <!-- one <Label> per technique -->
      </Labels>
      <Text name="text" value="$text"/>
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
* **Only the first annotation that was not cancelled** (``was_cancelled``) is used for each
  task: Label Studio keeps one annotation per annotator, and merging or adjudicating several
  is a decision for the project, not for a reader. A task without one is read with no spans
  and ``meta["labeled"] = False`` (with ``use_predictions=True``, its first prediction is used
  instead). When some of them carry predictions, one warning per file counts them, so that an
  export of pre-annotations never validates silently as a corpus without spans.
* Only results of ``type: "labels"`` are read; a result carrying several labels gives one Span
  per label, in order. A result whose ``value.text`` differs from the text at its offsets is a
  Problem (task index, task id and offsets in the message) and is skipped.
* JSON carries no line per result: every Span and Problem points at the line where its task
  starts in the file (``Location(path, line)``; ``line`` is None if that cannot be worked
  out), with the document id and offsets.

:func:`write` writes an export-shaped file that reads back to the same documents;
:func:`write_predictions` writes pre-annotations to import into a project with the config above.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping
from xml.sax.saxutils import quoteattr

from framescope.labels.atomic import atomic_write_bytes
from framescope.labels.document import Document, Location, Problem, Span, describe_json_error

NAME = "labelstudio"
FROM_NAME = "label"
TO_NAME = "text"

ScoreKey = tuple[str, int, int, str]  # (document id, start, end, technique)


def labeling_config(technique_names: Iterable[str]) -> str:
    """The Label Studio labeling config XML for these techniques (``label`` over ``$text``)."""
    labels = "\n".join(f"    <Label value={quoteattr(str(name))}/>" for name in technique_names)
    return (
        "<View>\n"
        f'  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n'
        f"{labels}\n"
        "  </Labels>\n"
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        "</View>\n"
    )


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


def read(
    path: Path,
    problems: list[Problem],
    *,
    text_key: str | None = None,
    use_predictions: bool = False,
) -> list[Document]:
    path = Path(path)
    fileloc = Location(str(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        problems.append(Problem(f"cannot read: {err.strerror}", fileloc))
        return []
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        problems.append(Problem(f"not valid UTF-8 at byte {err.start}: {err.reason}", Location(str(path), line)))
        return []
    if content.startswith("\ufeff"):
        content = content[1:]
    try:
        data = json.loads(content)
    except json.JSONDecodeError as err:
        problems.append(Problem(describe_json_error(err), Location(str(path), err.lineno)))
        return []
    if isinstance(data, dict):
        data, lines = [data], [1]
    elif isinstance(data, list):
        lines = _task_lines(content, len(data))
    else:
        problems.append(Problem("a Label Studio export must be a JSON list of tasks", fileloc))
        return []
    docs: list[Document] = []
    for index, task in enumerate(data):
        doc = _read_task(task, index, Location(str(path), lines[index]), text_key, use_predictions, problems)
        if doc is not None:
            docs.append(doc)
    _warn_unannotated(data, docs, fileloc, problems)
    return docs


def _warn_unannotated(tasks: list, docs: list[Document], loc: Location, problems: list[Problem]) -> None:
    """One warning, with counts, when tasks were read with no spans because nobody annotated them.

    An export of pre-annotations (predictions only) would otherwise validate as "ok" with
    0 spans, and a model trained or evaluated on it would learn that nothing is propaganda.
    """
    unlabeled = [d for d in docs if d.meta.get("labeled") is False]
    with_predictions = sum(
        1 for t in tasks
        if isinstance(t, dict) and isinstance(t.get("data"), dict) and not _annotations(t) and t.get("predictions")
    )
    if not unlabeled or not with_predictions:
        return  # tasks nobody labeled yet, without pre-annotations: an ordinary partial export
    problems.append(Problem(
        f"{len(unlabeled)} of {len(docs)} tasks have no annotation and are read with no spans; "
        f"{with_predictions} of them carry predictions only, which are model output, not labels "
        "(export after annotating, or read them with use_predictions=True)",
        loc, level="warning",
    ))


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


def _annotations(task: dict) -> list[dict]:
    """The task's annotations that were not cancelled."""
    return [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_task(
    task: Any,
    index: int,
    loc: Location,
    text_key: str | None,
    use_predictions: bool,
    problems: list[Problem],
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
    anns = _annotations(task)
    if not anns and use_predictions:
        anns = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if not anns:
        doc.meta["labeled"] = False
        return doc
    results = anns[0].get("result") or []
    if not isinstance(results, list):
        problems.append(Problem(f"{where}: 'result' must be a list", loc, doc_id=doc_id))
        return doc
    for k, res in enumerate(results):
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
