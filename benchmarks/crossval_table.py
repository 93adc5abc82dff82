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


SPAN_KEYS = {"span_f1", "span_identification_f1", "span_precision", "precise_span_precision"}


def table(runs: list[dict]) -> str:
    """One row per (run, variant, language); span columns are blank for runs without a tagger."""
    head = ["recipe", "train langs", "lang", "articles", *[c[1] for c in COLUMNS], "folds", "minutes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(COLUMNS) + 3)]
    for run in runs:
        langs = "de, en" + (", " + ", ".join(run["extra_langs"]) if run["extra_langs"] else "")
        tagger = run.get("tagger", True)
        for variant, groups in run["variants"].items():
            for lang in ("de", "en"):
                m = groups[lang]
                cells = [variant, langs, lang, str(m["articles"])]
                cells += ["–" if (k in SPAN_KEYS and not tagger) else _fmt(m.get(k)) for k, _ in COLUMNS]
                if (m.get("intervals") or {}).get("article_mean_auc"):  # its 95% bootstrap interval, over articles
                    lo, hi = m["intervals"]["article_mean_auc"]
                    cells[4] += f" [{lo:.3f}, {hi:.3f}]"
                cells += [f"{run['folds_done']} of {run['folds']}", f"{run['seconds'] / 60:.0f}"]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.load(open(p, encoding="utf-8")) for p in sys.argv[1:]]))
