"""What one ``framescope score`` run did: counts, failures and warnings, for the command line's summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from framescope.errors import EXIT_OK, EXIT_PARTIAL
from framescope.model.result import ArticleResult


@dataclass
class ScoreSummary:
    out_dir: Path
    articles: int = 0  # articles exported (scored now or earlier)
    scored: int = 0  # scored by this run
    reused: int = 0  # taken from the journal
    errors: list[dict] = field(default_factory=list)  # rows of errors.*: level "error" or "warning"
    spans_per_technique: Counter = field(default_factory=Counter)
    articles_per_technique: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)
    report: Path | None = None
    model: str = ""
    model_version: str = ""
    #: the languages the model was trained on (empty: not recorded in its folder)
    trained_langs: frozenset[str] = frozenset()
    #: exported articles per language the model was not trained on
    untrained_langs: Counter = field(default_factory=Counter)

    @property
    def failed(self) -> list[dict]:
        """Articles (or inputs) that could not be scored; warnings leave the article exported."""
        return [e for e in self.errors if e.get("level", "error") == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [e for e in self.errors if e.get("level") == "warning"]

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else EXIT_OK

    def count(self, result: ArticleResult) -> None:
        """Add one exported article to the counts.

        Why languages are counted: on a language without training annotations the article
        ranking transfers but the thresholds do not (docs/results.md, "Leave one language
        out"), so the summary says how many articles that concerns."""
        self.articles += 1
        for s in result.spans:
            self.spans_per_technique[s.technique] += 1
        for t, ts in result.techniques.items():
            if ts.spans:
                self.articles_per_technique[t] += 1
        if self.trained_langs and result.lang and result.lang not in self.trained_langs:
            self.untrained_langs[result.lang] += 1
