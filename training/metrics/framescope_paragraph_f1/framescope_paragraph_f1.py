"""framescope paragraph F1: SemEval-2023 Task 3 subtask 3 paragraph-level micro-F1.

A thin ``evaluate`` wrapper around
``framescope.training.metrics.spans.paragraph_micro_f1``. Besides ``predictions`` and
``references`` (character spans per document) it takes a third input column,
``texts``: the exact document text the offsets refer to, needed to cut paragraphs.
Load it offline with ``framescope.training.metrics.load_metric("framescope_paragraph_f1")``.
"""

import datasets
import evaluate

from framescope.training.metrics.spans import paragraph_micro_f1, span_record_feature

_CITATION = """\
@inproceedings{piskorski-etal-2023-semeval,
    title = "{S}em{E}val-2023 Task 3: Detecting the Category, the Framing, and the Persuasion Techniques in Online News in a Multi-lingual Setup",
    author = "Piskorski, Jakub and Stefanovitch, Nicolas and Da San Martino, Giovanni and Nakov, Preslav",
    booktitle = "Proceedings of the 17th International Workshop on Semantic Evaluation (SemEval-2023)",
    year = "2023",
    pages = "2343--2361",
}
"""

_DESCRIPTION = """\
Paragraph-level micro-F1 (SemEval-2023 Task 3 subtask 3). Each text is split into
lines on "\\n" (a "\\r" before it stays in the line; offsets are taken on the exact
text); empty and whitespace-only lines are dropped. A paragraph carries a technique
when a span of that technique overlaps it by at least one character. Micro-F1 over
(document, paragraph, technique) pairs, plus macro-F1 and per-technique scores.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one entry per document, each a list of spans
        {"start": int, "end": int, "technique": str} (character offsets, end exclusive).
    references: gold spans, same layout, aligned with predictions by document.
    texts: one string per document, the text the offsets index into.
    techniques (optional, list of str): the label set; other techniques are ignored and
        macro_f1 averages over all of them (absent ones count as 0).
Returns:
    precision, recall, f1 (micro), macro_f1, n_pred, n_gold (pair counts), n_paragraphs,
    per_technique: {technique: {precision, recall, f1, n_pred, n_gold}}.
Examples:
    >>> from framescope.training.metrics import load_metric
    >>> metric = load_metric("framescope_paragraph_f1")
    >>> metric.compute(
    ...     texts=["First line.\\r\\nSecond line."],
    ...     predictions=[[{"start": 0, "end": 20, "technique": "Doubt"}]],
    ...     references=[[{"start": 14, "end": 20, "technique": "Doubt"}]],
    ... )["f1"]
    0.6666666666666666
"""


def _features():
    # `texts` is its own input column (evaluate passes every feature column to
    # _compute), which keeps predictions and references the same shape as in the
    # other framescope span metrics: one list of span records per document.
    return datasets.Features(
        {
            "predictions": span_record_feature(),
            "references": span_record_feature(),
            "texts": datasets.Value("string"),
        }
    )


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FramescopeParagraphF1(evaluate.Metric):
    """Paragraph-level micro-F1 over (document, paragraph, technique) pairs."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_features(),
            homepage="https://propaganda.math.unipd.it/semeval2023task3/",
            reference_urls=["https://aclanthology.org/2023.semeval-1.317/"],
        )

    def _compute(self, predictions, references, texts, techniques=None):
        return paragraph_micro_f1(texts, predictions, references, techniques=techniques)
