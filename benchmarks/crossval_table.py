"""The lever table of docs/results.md from the JSON files benchmarks/crossval.py writes.

    python benchmarks/crossval_table.py docs/results/crossval-de-en.json docs/results/crossval-six-langs.json
"""

from __future__ import annotations

import json
import sys

COLUMNS = (
    ("article_mean_auc", "article AUC"),
    ("article_presence_f1", "presence F1"),
    ("constant_guess_presence_f1", "guess F1"),
    ("paragraph_micro_f1", "paragraph µF1"),
    ("span_f1", "span F1"),
    ("span_identification_f1", "span-id F1"),
    ("span_precision", "span P"),
    ("precise_span_precision", "precise span P"),
)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def table(runs: list[dict]) -> str:
    head = ["recipe", "train langs", "lang", *[c[1] for c in COLUMNS], "minutes (5 folds)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(COLUMNS) + 1)]
    for run in runs:
        langs = "de, en" + (", " + ", ".join(run["extra_langs"]) if run["extra_langs"] else "")
        for variant, groups in run["variants"].items():
            for lang in ("de", "en"):
                m = groups[lang]
                cells = [variant, langs, lang, *[_fmt(m.get(k)) for k, _ in COLUMNS], f"{run['seconds'] / 60:.0f}"]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.load(open(p, encoding="utf-8")) for p in sys.argv[1:]]))
