"""Score articles with a trained model folder: spans with confidences and article scores.

Article-level score of a technique (documented in docs/schema.md): the highest
confidence of any span of that technique in the article, 0.0 when there is none. It
answers "how sure is the model that this article uses the technique at least once",
which is what monitoring dashboards sort and alert on; the span count and the share of
characters covered stand beside it to tell one phrase from a saturated article.
Category and overall scores are the maximum over their techniques.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from framescope.training.tagger import SpanTagger, load_tagger


@dataclass
class ScoredSpan:
    technique: str
    category: str
    start: int
    end: int
    text: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "technique": self.technique,
            "category": self.category,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "confidence": round(self.confidence, 6),
        }


@dataclass
class TechniqueScore:
    score: float
    spans: int
    coverage: float


@dataclass
class ArticleResult:
    id: str
    lang: str | None
    text: str
    spans: list[ScoredSpan]
    techniques: dict[str, TechniqueScore]
    categories: dict[str, float]
    overall: float
    model: str = ""
    model_version: str = ""
    scored_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_flat_row(self) -> dict[str, Any]:
        import json

        row: dict[str, Any] = {"id": self.id, "lang": self.lang, "overall_score": self.overall, "n_spans": len(self.spans)}
        for tech, ts in self.techniques.items():
            row[f"score_{tech}"] = ts.score
        row["spans"] = json.dumps([s.to_dict() for s in self.spans], ensure_ascii=False)
        return row


class Scorer:
    """Hugging Face conventions: ``Scorer.from_pretrained(folder_or_mlflow_uri)``."""

    def __init__(self, tagger: SpanTagger, name: str = "framescope", version: str = ""):
        self.tagger = tagger
        self.taxonomy = tagger.taxonomy
        self.name = name
        self.version = version or tagger.settings.framescope_version

    @classmethod
    def from_pretrained(
        cls, path_or_uri: str | Path, expected_taxonomy: str | None = None, backend: str = "torch"
    ) -> "Scorer":
        """``backend``: ``torch`` (default), ``torch-bf16``, ``onnx-fp32`` or ``onnx-int8`` (see ``load_tagger``)."""
        text = str(path_or_uri)
        name = "framescope"
        version = ""
        if text.startswith(("models:/", "runs:/")):
            import mlflow

            from framescope.errors import ModelError
            from framescope.training.tracking import require_existing_store

            require_existing_store(text)  # a lookup would otherwise create ./mlflow.db
            try:
                local = mlflow.artifacts.download_artifacts(artifact_uri=text)
            except mlflow.exceptions.MlflowException as err:
                raise ModelError(f"{text}: {err.message}") from None
            folder = Path(local) / "artifacts" / "model_dir"
            if not folder.exists():
                candidates = list(Path(local).rglob("framescope.json"))
                if not candidates:
                    raise FileNotFoundError(f"{text}: no framescope model folder inside the MLflow model")
                folder = candidates[0].parent
            name, version = text, ""
        else:
            folder = Path(text)
        tagger = load_tagger(folder, backend=backend)
        if expected_taxonomy is not None:
            from framescope.labels.taxonomy import load_taxonomy

            want = load_taxonomy(expected_taxonomy).identity
            have = tagger.taxonomy.identity
            if want.sha256 != have.sha256:
                raise ValueError(f"{folder}: model taxonomy {have} is not the expected {want}")
        settings = tagger.settings
        return cls(tagger, name=settings.name if name == "framescope" else name, version=version or str(settings.extra.get("model_version", settings.framescope_version)))

    def score_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[ArticleResult]:
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        langs = list(langs) if langs is not None else [None] * len(texts)
        token_scores = self.tagger.token_scores(list(texts))
        out = []
        for text, id_, lang, ts in zip(texts, ids, langs, token_scores):
            spans = self.tagger.decode(ts)
            out.append(self._result(id_, lang, text, spans))
        return out

    def score(self, text: str, id: str = "0", lang: str | None = None) -> ArticleResult:
        return self.score_texts([text], [id], [lang])[0]

    def _result(self, id_: str, lang: str | None, text: str, spans) -> ArticleResult:
        scored = [
            ScoredSpan(s.technique, self.taxonomy.category_of(s.technique), s.start, s.end, text[s.start : s.end], s.confidence)
            for s in spans
        ]
        n = max(len(text), 1)
        techniques: dict[str, TechniqueScore] = {}
        for tech in self.tagger.techniques:
            mine = [s for s in scored if s.technique == tech]
            covered = _covered([(s.start, s.end) for s in mine])
            techniques[tech] = TechniqueScore(
                score=max((s.confidence for s in mine), default=0.0), spans=len(mine), coverage=covered / n
            )
        categories: dict[str, float] = {}
        for tech, ts in techniques.items():
            cat = self.taxonomy.category_of(tech)
            categories[cat] = max(categories.get(cat, 0.0), ts.score)
        overall = max((ts.score for ts in techniques.values()), default=0.0)
        return ArticleResult(id_, lang, text, scored, techniques, categories, overall, self.name, self.version)


def _covered(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, -1
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total
