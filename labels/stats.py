"""Corpus statistics: what a researcher checks before training on a corpus."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from framescope.labels.document import Document


def is_labeled(doc: Document) -> bool:
    """An annotated article; False for one a reader marked ``meta["labeled"] = False`` (no
    annotation: SemEval test articles, unlabeled, skipped or prediction-only Label Studio tasks)."""
    return bool(doc.spans) or doc.meta.get("labeled", True) is not False


@dataclass
class CorpusStats:
    """Counts over the *annotated* articles; unlabeled documents are counted apart, never as articles."""

    articles: int = 0
    unlabeled: int = 0
    spans: int = 0
    characters: int = 0
    overlapping_spans: int = 0
    cross_technique_overlaps: int = 0
    per_technique: Counter = field(default_factory=Counter)
    per_lang_articles: Counter = field(default_factory=Counter)
    per_lang_spans: Counter = field(default_factory=Counter)
    span_length_sum: int = 0

    @property
    def overlap_share(self) -> float:
        return self.overlapping_spans / self.spans if self.spans else 0.0

    @property
    def mean_span_length(self) -> float:
        return self.span_length_sum / self.spans if self.spans else 0.0

    def to_dict(self) -> dict:
        return {
            "articles": self.articles,
            "unlabeled": self.unlabeled,
            "spans": self.spans,
            "characters": self.characters,
            "mean_span_length": round(self.mean_span_length, 2),
            "overlapping_spans": self.overlapping_spans,
            "overlap_share": round(self.overlap_share, 4),
            "cross_technique_overlapping_spans": self.cross_technique_overlaps,
            "per_technique": dict(sorted(self.per_technique.items())),
            "per_lang": {
                str(lang): {"articles": n, "spans": self.per_lang_spans[lang]}
                for lang, n in sorted(self.per_lang_articles.items(), key=lambda kv: str(kv[0]))
            },
        }


def corpus_stats(docs: Iterable[Document]) -> CorpusStats:
    st = CorpusStats()
    for doc in docs:
        if not is_labeled(doc):
            st.unlabeled += 1
            continue
        st.articles += 1
        st.characters += len(doc.text)
        st.per_lang_articles[doc.lang] += 1
        st.per_lang_spans[doc.lang] += len(doc.spans)
        spans = sorted(doc.spans)
        overlapping = [False] * len(spans)
        cross = [False] * len(spans)
        for i, s in enumerate(spans):
            st.spans += 1
            st.per_technique[s.technique] += 1
            st.span_length_sum += s.end - s.start
            for j in range(i + 1, len(spans)):
                t = spans[j]
                if t.start >= s.end:
                    break
                overlapping[i] = overlapping[j] = True
                if t.technique != s.technique:
                    cross[i] = cross[j] = True
        st.overlapping_spans += sum(overlapping)
        st.cross_technique_overlaps += sum(cross)
    return st
