"""Documents as a Hugging Face ``datasets.Dataset``, and article-level splits.

Splits are decided per article, by a hash of its id, so that no article ever has
windows on both sides of a train/dev boundary and the same id lands on the same side
whatever else is in the corpus (adding articles never reshuffles the old ones).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Iterable, Sequence

from framescope.labels.document import Document, Span

try:  # datasets is a declared dependency; imported lazily-friendly for type checkers
    import datasets
except ImportError:  # pragma: no cover
    datasets = None  # type: ignore[assignment]


def features() -> "datasets.Features":
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "lang": datasets.Value("string"),
            "text": datasets.Value("string"),
            # a list of records (not ``Sequence({...})``, which datasets stores column-wise
            # and which changed shape between major versions)
            "spans": [
                {
                    "start": datasets.Value("int32"),
                    "end": datasets.Value("int32"),
                    "technique": datasets.Value("string"),
                }
            ],
        }
    )


def to_dataset(docs: Iterable[Document]) -> "datasets.Dataset":
    docs = list(docs)
    columns = {
        "id": [d.id for d in docs],
        "lang": [d.lang for d in docs],
        "text": [d.text for d in docs],
        "spans": [[s.to_dict() for s in d.spans] for d in docs],
    }
    return datasets.Dataset.from_dict(columns, features=features())


def from_dataset(ds: "datasets.Dataset") -> list[Document]:
    out = []
    for row in ds:
        spans = [Span(int(s["start"]), int(s["end"]), str(s["technique"])) for s in row["spans"]]
        out.append(Document(id=row["id"], text=row["text"], lang=row["lang"], spans=spans))
    return out


def _unit_interval(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_documents(
    docs: Sequence[Document],
    dev_fraction: float = 0.2,
    *,
    seed: int = 0,
    stratify_by_lang: bool = True,
) -> tuple[list[Document], list[Document]]:
    """Deterministic article-level train/dev split.

    Without stratification an article goes to dev when the hash of its id falls below
    ``dev_fraction``. With stratification (the default), each language's articles are
    ranked by that hash and the lowest ``round(n * dev_fraction)`` go to dev, so every
    language gets its share even when it has few articles.
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise ValueError("dev_fraction must be in [0, 1)")
    if not stratify_by_lang:
        dev_ids = {d.id for d in docs if _unit_interval(d.id, seed) < dev_fraction}
    else:
        by_lang: dict[str | None, list[Document]] = defaultdict(list)
        for d in docs:
            by_lang[d.lang].append(d)
        dev_ids = set()
        for group in by_lang.values():
            ranked = sorted(group, key=lambda d: _unit_interval(d.id, seed))
            dev_ids.update(d.id for d in ranked[: round(len(ranked) * dev_fraction)])
    train = [d for d in docs if d.id not in dev_ids]
    dev = [d for d in docs if d.id in dev_ids]
    return train, dev


def fingerprint(docs: Iterable[Document]) -> str:
    """A content hash of a corpus (ids, texts, spans) to record in experiment tracking."""
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.id):
        h.update(d.id.encode())
        h.update(b"\0")
        h.update(d.text.encode("utf-8"))
        h.update(b"\0")
        for s in sorted(d.spans):
            h.update(f"{s.start}:{s.end}:{s.technique};".encode())
        h.update(b"\n")
    return h.hexdigest()
