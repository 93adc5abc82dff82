"""The model card's sections, each a list of Markdown lines from the run's facts.

Why apart from :mod:`framescope.training.model_card`: that module gathers the facts once
and writes the file; here each section of the card reads as what it prints, top to bottom.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from framescope import __version__
from framescope.labels.dataset import fingerprint
from framescope.labels.document import Document
from framescope.labels.taxonomy import Taxonomy
from framescope.model.schemes import get_scheme
from framescope.training.config import Config, Corpus, DataConfig, ModelConfig

RARE_SUPPORT = 10  # training spans below which a technique is called rare in the card


def fmt(x: Any) -> str:
    """Scores as the card prints them (three decimals); tests format dev_report.json the same way."""
    return f"{float(x):.3f}"


def _esc(text: Any) -> str:
    """Make a value safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None) -> list[str]:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_esc(c) for c in r) + " |")
    return lines


def _data_entries(entries: Sequence[Corpus]) -> list[str]:
    return [f"`{e.path}`" + (f" ({e.format})" if e.format else "") for e in entries]


def _output_note(m: ModelConfig) -> str:
    # the linear baseline's channels are independent sigmoids too
    scheme = get_scheme(m.scheme if m.type == "transformer" else "multilabel")
    how = scheme.description
    return (
        f"per technique, an inside and a begin probability per token ({how}), decoded into "
        "character spans with per-technique thresholds"
    )


def _base_encoder(config: Config) -> str:
    m = config.model
    if m.type == "transformer":
        note = " (the MiniLM encoder packaged with framescope)" if m.base == "minilm" else ""
        return f"`{m.base}`{note}; windows of {m.max_length} tokens, stride {m.stride}, scheme `{m.scheme}`"
    lc = config.linear
    return (
        "none: scikit-learn linear baseline on hashed token features "
        f"({lc.n_features} features, alpha {lc.alpha}, {lc.epochs} epochs)"
    )


@dataclass
class _CardFacts:
    """Everything the card's sections read, computed once from the run."""

    config: Config
    report: dict
    calibration: dict
    train_docs: Sequence[Document]
    dev_docs: Sequence[Document]
    taxonomy: Taxonomy
    train_stats: dict
    name: str
    data: DataConfig
    model: ModelConfig
    techniques: list[str]
    train_langs: dict
    dev_langs: dict
    train_support: Counter
    per: dict
    cal_min: Any
    langs: list[str]


def _front_matter(c: _CardFacts) -> list[str]:
    """Hugging Face style metadata header, title and provenance."""
    config, taxonomy, name, langs = c.config, c.taxonomy, c.name, c.langs
    L: list[str] = []
    # Hugging Face style metadata header
    L += ["---", "library_name: framescope", "pipeline_tag: token-classification"]
    L += ["language:"] + [f"- {lg}" for lg in langs if lg != "None"]
    L += ["tags:", "- propaganda", "- framing", "- persuasion-techniques", "- span-classification", "---", ""]

    L += [f"# Model card: {name} (config `{config.name}`)", ""]
    L += [
        f"Multi-label span tagger for propaganda and framing techniques in news text, trained with "
        f"framescope {__version__} from the config `{config.name}`. It marks character spans of "
        f"an article with the techniques of the taxonomy `{taxonomy.identity}` and gives each span a confidence.",
        "",
        f"Card written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `framescope train`; "
        "all numbers below come from this run.",
        "",
    ]
    return L


def _model_section(c: _CardFacts) -> list[str]:
    """What the model is: type, encoder, output, training statistics."""
    config, train_stats, m = c.config, c.train_stats, c.model
    L = ["## Model", ""]
    L += [
        f"- **Type:** `{m.type}`",
        f"- **Base encoder:** {_base_encoder(config)}",
        f"- **Config:** `{config.name}`, seed {config.seed}",
        f"- **Output:** {_output_note(m)}",
    ]
    nums = {k: v for k, v in train_stats.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if nums:
        L.append(
            "- **Training:** "
            + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(nums.items()))
        )
    L.append("")
    return L


def _data_section(c: _CardFacts) -> list[str]:
    """Which corpora, the dev split, per-language counts and fingerprints."""
    train_docs, dev_docs, data = c.train_docs, c.dev_docs, c.data
    train_langs, dev_langs, langs = c.train_langs, c.dev_langs, c.langs
    L = ["## Data", ""]
    L.append("- **Training corpora:** " + (", ".join(_data_entries(data.train)) or "none"))
    if data.dev:
        L.append("- **Dev corpora:** " + ", ".join(_data_entries(data.dev)))
    else:
        L.append(
            f"- **Dev split:** article-level split of the training corpora, {data.dev_fraction} of "
            f"each language's articles by hash of the article id (split seed {data.split_seed})"
        )
    L.append(
        "- **Language filter:** " + (", ".join(data.langs) if data.langs else "none (all languages in the corpora)")
    )
    L.append("")
    rows = []
    for lg in langs:
        ta, ts = train_langs.get(lg, (0, 0))
        da, ds = dev_langs.get(lg, (0, 0))
        rows.append([lg, ta, ts, da, ds])
    rows.append(
        [
            "**all**",
            len(train_docs),
            sum(len(d.spans) for d in train_docs),
            len(dev_docs),
            sum(len(d.spans) for d in dev_docs),
        ]
    )
    L += _table(
        ["language", "train articles", "train spans", "dev articles", "dev spans"],
        rows,
        ["---", "---:", "---:", "---:", "---:"],
    )
    L += [
        "",
        f"- **Train fingerprint:** `{fingerprint(train_docs)}`",
        f"- **Dev fingerprint:** `{fingerprint(dev_docs)}`",
        "",
    ]
    L += [
        "The fingerprints are SHA-256 hashes of the article ids, texts and spans (framescope.labels.dataset.fingerprint); "
        "they are also the run's MLflow tags `train_fingerprint` and `dev_fingerprint`.",
        "",
    ]
    return L


def _taxonomy_section(c: _CardFacts) -> list[str]:
    """The taxonomy identity that scoring checks."""
    ident = c.taxonomy.identity
    return [
        "## Taxonomy",
        "",
        f"- **Name and version:** `{ident.name}` {ident.version}",
        f"- **SHA-256:** `{ident.sha256}`",
        f"- **Techniques:** {len(c.techniques)} in {len(c.taxonomy.categories)} categories (saved as `taxonomy.yaml` in this folder)",
        "",
        "Scoring checks this identity: a folder whose `taxonomy.yaml` does not hash to it is refused.",
        "",
    ]


def _results_section(c: _CardFacts) -> list[str]:
    """Dev results per language and per technique, with threshold sources."""
    L = ["## Results on dev", ""]
    L += [
        "Span metrics use partial overlap (SemEval-2023 Task 3 style): a predicted span earns precision for the "
        "share of it covered by gold spans of the same technique, and recall for the share of gold it covers.",
        "",
    ]
    L += ["### Per language", ""]
    L += _per_language_table(c.report)
    L += ["", "### Per technique (all languages)", ""]
    L += _per_technique_table(c)
    L.append("")
    return L


def _per_language_table(report: dict) -> list[str]:
    """Span, span-identification and paragraph figures of each language group on dev."""
    rows = []
    for group, g in report.items():
        rows.append(
            [
                group,
                g.get("articles", 0),
                fmt(g.get("span_precision", 0)),
                fmt(g.get("span_recall", 0)),
                fmt(g.get("span_f1", 0)),
                fmt(g.get("span_identification_f1", 0)),
                fmt(g.get("paragraph_micro_f1", 0)),
                g.get("n_pred", 0),
                g.get("n_gold", 0),
                f"{g.get('mean_pred_span_length', 0):.1f}",
                f"{g.get('mean_gold_span_length', 0):.1f}",
            ]
        )
    return _table(
        [
            "group",
            "articles",
            "span P",
            "span R",
            "span F1",
            "span-id F1",
            "paragraph micro F1",
            "pred spans",
            "gold spans",
            "mean pred len",
            "mean gold len",
        ],
        rows,
        ["---"] + ["---:"] * 10,
    )


def _per_technique_table(c: _CardFacts) -> list[str]:
    """Each technique's dev figures, training support and threshold with its source."""
    calibration, techniques = c.calibration, c.techniques
    train_support, per, cal_min = c.train_support, c.per, c.cal_min
    L = [
        "`support` is the number of gold dev spans; `train` the number of training spans. A `calibrated` threshold was "
        "chosen for the technique on dev; `global` means too little dev support"
        + (f" (fewer than {cal_min} spans)" if cal_min is not None else "")
        + ", so the technique shares the one global threshold.",
        "",
    ]
    rows = []
    order = sorted(techniques, key=lambda t: (-per.get(t, {}).get("n_gold", 0), t))
    for t in order:
        p = per.get(t, {})
        chosen = calibration.get(t, {})
        thr = chosen.get("threshold")
        src = {"dev": "calibrated", "global": "global"}.get(chosen.get("source"), chosen.get("source") or "n/a")
        rows.append(
            [
                t,
                fmt(p.get("precision", 0)),
                fmt(p.get("recall", 0)),
                fmt(p.get("f1", 0)),
                p.get("n_pred", 0),
                p.get("n_gold", 0),
                train_support.get(t, 0),
                f"{thr:.2f}" if isinstance(thr, (int, float)) else "n/a",
                src,
            ]
        )
    L += _table(
        ["technique", "precision", "recall", "F1", "predicted", "support", "train", "threshold", "threshold source"],
        rows,
        ["---"] + ["---:"] * 7 + ["---"],
    )
    return L


def _intended_use(c: _CardFacts) -> list[str]:
    """What the spans are for, and what not."""
    return [
        "## Intended use",
        "",
        "- Surfacing **indicators** for human analysts: passages that may use a persuasion or framing technique, "
        "to read and judge in context. A span is a pointer to text worth a second look, not a finding.",
        "- Comparing and monitoring corpora in aggregate (how often techniques are flagged over time or across "
        "outlets), with the error rates below in mind.",
        "",
        '**Not intended** as a verdict on an article, an author or an outlet ("this is propaganda"), for '
        "automated moderation, ranking or takedown decisions, or for fact-checking: the techniques describe how "
        "something is said, not whether it is true.",
        "",
    ]


def _known_limits(c: _CardFacts) -> list[str]:
    """Rare techniques, languages, optimistic dev figures, boundaries, overlaps."""
    dev_docs, techniques, train_langs = c.dev_docs, c.techniques, c.train_langs
    dev_langs, train_support, per = c.dev_langs, c.train_support, c.per
    L = ["## Known limits", ""]
    rare = [t for t in techniques if train_support.get(t, 0) < RARE_SUPPORT]
    if rare:
        L.append(
            f"- **Rare techniques** (fewer than {RARE_SUPPORT} training spans) are learned from very few examples and "
            "their dev figures rest on a handful of spans or none: "
            + ", ".join(f"{t} (train {train_support.get(t, 0)}, dev {per.get(t, {}).get('n_gold', 0)})" for t in rare)
            + "."
        )
    unseen_dev = [t for t in techniques if per.get(t, {}).get("n_gold", 0) == 0]
    if unseen_dev:
        L.append(
            "- **No dev support** (precision only, recall undefined and shown as 0): " + ", ".join(unseen_dev) + "."
        )
    trained = [lg for lg in train_langs if lg != "None"]
    L.append(
        "- **Languages:** trained on "
        + (", ".join(trained) if trained else "articles without a language tag")
        + ". Text in any other language is out of distribution; its scores are untested."
    )
    dev_only = [lg for lg in dev_langs if lg not in train_langs]
    if dev_only:
        L.append(
            "- **Dev languages absent from training:** " + ", ".join(dev_only) + " (their dev figures are zero-shot)."
        )
    L.append(
        "- **Optimistic dev figures:** the per-technique and global thresholds were tuned on the same dev split "
        "these figures are reported on, so they overstate what to expect on unseen articles; evaluate on a "
        "held-out corpus (`framescope evaluate`) before relying on them."
    )
    n_dev_spans = sum(len(d.spans) for d in dev_docs)
    if len(dev_docs) < 100 or n_dev_spans < 1000:
        L.append(
            f"- **Small dev set:** {len(dev_docs)} articles, {n_dev_spans} spans; "
            "differences of a few points between techniques or runs are within noise."
        )
    L.append(
        "- **Span boundaries:** offsets are character offsets into the exact text, end exclusive (BOM and CRLF "
        "count). Predicted spans snap to token boundaries, and annotators' conventions differ (in the SemEval-2023 "
        "releases many non-English spans end one character before a final full stop), so exact-boundary "
        "agreement is lower than the partial-overlap scores suggest. Mean predicted span length on dev: "
        f"{c.report.get('all', {}).get('mean_pred_span_length', 0):.1f} characters, gold: "
        f"{c.report.get('all', {}).get('mean_gold_span_length', 0):.1f}."
    )
    L.append(
        "- **Overlaps:** techniques overlap in the annotations and in the output; one phrase can carry several labels."
    )
    L.append("")
    return L


def _how_to_load(c: _CardFacts) -> list[str]:
    """Python and MLflow snippets, the files of the folder."""
    name = c.name
    L = ["## How to load and score", ""]
    L += [
        "```python",
        "from framescope.model import SpanTagger",
        "",
        'tagger = SpanTagger.from_pretrained("path/to/this/folder")  # or "models:/framescope@candidate"',
        '[result] = tagger.score(["They are cowards and traitors."], langs=["en"])',
        "for span in result.spans:",
        "    print(span.technique, span.start, span.end, repr(span.text), round(span.confidence, 3))",
        "print(result.techniques)  # article-level score per technique: the highest span confidence",
        "```",
        "",
        "As an MLflow model (the folder is logged and registered with the run):",
        "",
        "```python",
        "import mlflow, pandas as pd",
        "",
        f'model = mlflow.pyfunc.load_model("models:/{name}@{c.config.mlflow.alias or "candidate"}")',
        'model.predict(pd.DataFrame({"id": ["a1"], "lang": ["en"], "text": ["They are cowards and traitors."]}))',
        "```",
        "",
        "Evaluate on other annotated data: `framescope evaluate path/to/this/folder CORPUS [--from FORMAT]`.",
        "",
        "Files: `framescope.json` (settings and thresholds), `taxonomy.yaml`, the weights, `dev_report.json` "
        "(the full dev report this card was written from) and this card.",
        "",
    ]
    return L
