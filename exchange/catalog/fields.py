"""The STAC API fields extension (github.com/stac-api-extensions/fields, "Include/Exclude Semantics").

Paths are dotted (``assets.image.href``, ``properties.gsd``); a name that is not a top-level field of
an item is a property (``gsd`` is ``properties.gsd``). What an item keeps:

- no ``fields`` at all: everything;
- ``include`` null or empty (GET ``fields=`` or ``fields=-geometry``, POST ``{}``): the default set
  below, less what ``exclude`` names;
- ``include`` missing and ``exclude`` given (POST only): everything but the excluded;
- ``include`` given: those paths and the simple fields SDX always returns (type, stac_version, id,
  collection), less what ``exclude`` names.

The most specific path decides (``-properties,+properties.gsd`` keeps only ``gsd`` in properties;
``+properties,-properties.gsd`` keeps every property but ``gsd``); a path in both lists is included.

Selection copies only the objects along the named paths: every other value is shared with the
rendered item, so a page of 100 items costs no deep copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: The default set: what makes a valid STAC Item (start/end for an item with a range, not an instant).
DEFAULT = ("type", "stac_version", "id", "collection", "geometry", "bbox", "links", "assets",
           "properties.datetime", "properties.start_datetime", "properties.end_datetime")
#: Simple fields returned with any ``include`` unless excluded (the extension allows it: id, type).
ALWAYS = ("type", "stac_version", "id", "collection")
#: Top-level fields of an item; any other first segment names a property.
TOP_LEVEL = {"type", "stac_version", "stac_extensions", "id", "collection", "geometry", "bbox", "properties",
             "links", "assets"}


@dataclass
class _Node:
    """One path segment: its own rule (True include, False exclude, None none) and deeper rules."""

    rule: bool | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def _segments(path: str) -> list[str]:
    parts = [part for part in path.split(".") if part]
    if parts and parts[0] not in TOP_LEVEL:
        parts.insert(0, "properties")
    return parts


def _covers(outer: list[str], inner: list[str]) -> bool:
    return inner[:len(outer)] == outer


@dataclass
class Selection:
    """A compiled ``fields`` request, applied to each rendered item of a page."""

    root: _Node
    keep_rest: bool  # a field no rule reaches: kept (everything but the excluded) or dropped

    def apply(self, doc: dict) -> dict:
        return _select(doc, self.root, self.keep_rest)


def compile_fields(include: list[str] | None, exclude: list[str]) -> Selection:
    """``include`` None means missing (POST without it); [] means null or empty (and every GET)."""
    excluded = [_segments(path) for path in exclude]
    if include is None and excluded:
        base, keep_rest = [], True
    else:
        base, keep_rest = [_segments(path) for path in (ALWAYS if include else DEFAULT)], False
        # the base set less what is excluded at or above it (a set difference, not a rule)
        base = [path for path in base if not any(_covers(out, path) for out in excluded)]
    included = base + [_segments(path) for path in include or ()]
    root = _Node()
    for parts, rule in [*((p, False) for p in excluded), *((p, True) for p in included)]:  # include wins a tie
        node = root
        for part in parts:
            node = node.children.setdefault(part, _Node())
        if parts:
            node.rule = rule
    return Selection(root, keep_rest)


def _select(value: dict, node: _Node, keep: bool) -> dict:
    """The fields of ``value`` that ``node``'s rules keep; ``keep`` for a field no rule names."""
    out = {}
    for key, item in value.items():
        child = node.children.get(key)
        if child is None:
            if keep:
                out[key] = item
            continue
        kept = keep if child.rule is None else child.rule
        if child.children and isinstance(item, dict):
            inner = _select(item, child, kept)
            if inner or kept:
                out[key] = inner
        elif kept:
            out[key] = item
    return out
