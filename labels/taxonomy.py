"""Technique taxonomies: which labels exist, how they group, and what other corpora call them.

A taxonomy is a YAML file, shipped as package data or passed by path, because
researchers extend and shrink label sets and must read and review them as text.
A trained model records the identity of its taxonomy (name, version and a hash of the
content) so that scoring refuses a model whose labels mean something else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from framescope.labels.yamlsafe import load_yaml

DEFAULT_TAXONOMY = "semeval2023"


@dataclass(frozen=True)
class Technique:
    name: str
    category: str
    definition: str = ""
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Alias:
    alias: str
    target: str | None
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class TaxonomyIdentity:
    name: str
    version: str
    sha256: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version} ({self.sha256[:12]})"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


class Taxonomy:
    """An ordered label set; the order fixes the model's output columns."""

    def __init__(self, data: dict[str, Any], origin: str = "<dict>"):
        self.origin = origin
        self._data = data
        try:
            self.name = str(data["name"])
            self.version = str(data["version"])
            self.description = str(data.get("description", ""))
            self.categories: dict[str, dict[str, Any]] = _unique(
                "category id", [(str(c["id"]), dict(c)) for c in data.get("categories") or []], origin
            )
            self.techniques: list[Technique] = [
                Technique(
                    name=str(t["name"]),
                    category=str(t.get("category", t["name"])),
                    definition=str(t.get("definition", "")),
                    examples={k: list(v) for k, v in (t.get("examples") or {}).items()},
                )
                for t in data["techniques"]
            ]
            self.aliases: list[Alias] = [
                Alias(
                    alias=str(a["alias"]),
                    target=None if a.get("target") is None else str(a["target"]),
                    source=str(a.get("source", "")),
                    note=str(a.get("note", "")),
                )
                for a in data.get("aliases") or []
            ]
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{origin}: malformed taxonomy ({err!r})") from None
        self._by_name = _unique("technique name", [(t.name, t) for t in self.techniques], origin)
        for t in self.techniques:
            if self.categories and t.category not in self.categories:
                raise ValueError(f"{origin}: technique {t.name} has unknown category {t.category}")
        self._alias = {}
        for a in self.aliases:
            if a.target is not None and a.target not in self._by_name:
                raise ValueError(f"{origin}: alias {a.alias!r} points at unknown {a.target!r}")
            self._alias[a.alias] = a.target

    # -- identity ---------------------------------------------------------------------
    @property
    def identity(self) -> TaxonomyIdentity:
        canonical = json.dumps(self._data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return TaxonomyIdentity(self.name, self.version, digest)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data, default=str))

    # -- lookups ----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [t.name for t in self.techniques]

    def __len__(self) -> int:
        return len(self.techniques)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and self.is_known(label)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def category_of(self, technique: str) -> str:
        return self._by_name[technique].category

    def is_known(self, label: str) -> bool:
        return label in self._by_name or label in self._alias

    def resolve(self, label: str) -> str | None:
        """Map a label as spelled in a corpus onto this taxonomy.

        Returns the canonical technique, or None for an alias documented as dropped.
        Raises KeyError for a label the taxonomy does not know.
        """
        if label in self._by_name:
            return label
        if label in self._alias:
            return self._alias[label]
        raise KeyError(label)

    def resolve_spans(self, spans):
        """Spans with labels mapped onto this taxonomy; aliases documented as dropped are left out."""
        from framescope.labels.document import Span

        out = []
        for s in spans:
            t = self.resolve(s.technique)
            if t is not None:
                out.append(s if t == s.technique else Span(s.start, s.end, t, source=s.source))
        return out

    # -- loading ----------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> "Taxonomy":
        path = Path(path)
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a taxonomy is a YAML mapping")
        return cls(data, origin=str(path))

    def save(self, path: str | Path) -> None:
        from framescope.labels.atomic import atomic_open

        with atomic_open(path) as fh:
            yaml.safe_dump(self._data, fh, allow_unicode=True, sort_keys=False)

    def __repr__(self) -> str:
        return f"Taxonomy({self.identity}, {len(self)} techniques)"


def _unique(what: str, items: list[tuple[str, Any]], origin: str) -> dict[str, Any]:
    """``items`` as a dict, refusing a repeated key: a second entry would silently replace the first."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            raise ValueError(f"{origin}: duplicate {what} {key!r} in taxonomy")
        out[key] = value
    return out


def builtin_taxonomies() -> list[str]:
    root = resources.files("framescope.labels") / "taxonomies"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=16)
def _load_builtin(name: str) -> Taxonomy:
    root = resources.files("framescope.labels") / "taxonomies"
    res = root / f"{name}.yaml"
    data = load_yaml(res.read_text(encoding="utf-8"), f"builtin:{name}")
    return Taxonomy(data, origin=f"builtin:{name}")


def load_taxonomy(name_or_path: str | Path | Taxonomy | None = None) -> Taxonomy:
    """A built-in taxonomy by name (default ``semeval2023``) or a YAML file by path."""
    if isinstance(name_or_path, Taxonomy):
        return name_or_path
    if name_or_path is None:
        name_or_path = DEFAULT_TAXONOMY
    text = str(name_or_path)
    if text in builtin_taxonomies():
        return _load_builtin(text)
    path = Path(text)
    if path.exists():
        return Taxonomy.from_file(path)
    raise ValueError(f"unknown taxonomy {text!r}: not a file, nor one of {', '.join(builtin_taxonomies())}")
