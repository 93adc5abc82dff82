"""YAML for files a user or a model folder hands us: plain data, no anchors, no aliases.

``yaml.safe_load`` already refuses Python tags, but it still honours anchors and aliases,
and a 16 KB "billion laughs" file (nine levels of nine aliases) turns into 9**10 strings
as soon as anything walks the data (hashing a taxonomy's identity took 1.5 GB and 23 s).
Taxonomies, training configs and model folders never need anchors, so the loader below
refuses the first anchor or alias while composing, before any node is shared or expanded.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlError(ValueError):
    """A YAML text that is not plain data: its message names the source and the line."""


class _PlainLoader(yaml.SafeLoader):
    """``SafeLoader`` that stops at the first anchor (``&name``) or alias (``*name``)."""

    where = "<yaml>"

    def compose_node(self, parent, index):  # noqa: D102 (PyYAML's hook)
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise YamlError(
                f"{self.where}: line {event.start_mark.line + 1}: "
                f"YAML anchors and aliases are not allowed ({sign}{event.anchor})"
            )
        return super().compose_node(parent, index)


def load_yaml(text: str, where: str) -> Any:
    """The data of a one-document YAML ``text``; ``where`` (a file name) leads every error.

    Raises :class:`YamlError` (a ``ValueError``) for invalid YAML, Python tags, and anchors
    or aliases, with the line of the first offending event.
    """
    loader = _PlainLoader(text)
    loader.where = where
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        reason = " ".join(str(getattr(err, "problem", None) or err).split())
        raise YamlError(f"{where}: {line}invalid YAML: {reason}") from None
    finally:
        loader.dispose()
