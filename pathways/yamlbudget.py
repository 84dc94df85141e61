"""A YAML composer that enforces the parse-time limits while it builds the node tree.

ruamel composes one node per parser event, recursively; an alias is returned as the very node
it names, so `a: &a [x, x]`, `b: &b [*a, *a]`, ... costs nothing to compose but expands
exponentially when the tree is walked ("billion laughs"). Counting each alias as the number of
nodes it repeats, while composing, refuses such a text after a few hundred events, before the
tree is walked or constructed. Depth is checked before the recursion goes deeper, so deep
nesting is refused long before Python's recursion limit.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent
from ruamel.yaml.scanner import RoundTripScanner

from pathways.limits import (
    LIMITS_HINT,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SCALAR_CHARS,
    too_long,
)
from pathways.problems import Span

# The YAML 1.2 core schema; everything else (`!!python/...`, `!!binary`, `!custom`) is refused.
CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
NON_SPECIFIC = "!"


class LimitExceeded(YAMLError):
    """The text passes a bound of the language; carries where and why."""

    def __init__(self, span: Span, message: str, hint: str = LIMITS_HINT) -> None:
        super().__init__(message)
        self.span = span
        self.message = message
        self.hint = hint


def _span(mark: Any) -> Span:
    return Span(mark.line + 1, mark.column + 1) if mark is not None else Span(1, 1)


def _too_deep(span: Span) -> LimitExceeded:
    return LimitExceeded(
        span,
        f"values are nested more than {MAX_DEPTH} levels deep",
        "flatten the structure: a pathway nests steps a few levels at most",
    )


class BudgetedScanner(RoundTripScanner):
    """Refuses deep flow nesting (`[[[...`) as it is scanned.

    Each open `[` or `{` may start a key, and the scanner rechecks every open one per token
    for up to 1,024 characters ahead: without this bound, 1,000 `[` cost seconds.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: Any) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            raise _too_deep(_span(self.reader.get_mark()))
        super().fetch_flow_collection_start(TokenClass, to_push)


class BudgetedComposer(Composer):
    """Composes nodes while counting depth, nodes (aliases in full) and alias uses."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.nodes = 0  # nodes of the tree as a reader walks it: each alias counts in full
        self.aliases = 0
        self.nesting = 0
        self.sizes: dict[int, int] = {}  # id(anchored node) -> the nodes it holds, expanded
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        span = _span(event.start_mark)
        if isinstance(event, AliasEvent):
            return self._alias(event, span, parent, index)
        _check_tag(event, span)
        if isinstance(event, ScalarEvent):
            _check_scalar(event, span)
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise _too_deep(span)
        before = self.nodes
        self._count(1, span)
        anchor = event.anchor
        if anchor is not None:
            self.open_anchors.add(anchor)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.open_anchors.discard(anchor)
            self.sizes[id(node)] = self.nodes - before
        self.nesting -= 1
        return node

    def _alias(self, event: Any, span: Span, parent: Any, index: Any) -> Any:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise LimitExceeded(
                span,
                f"more than {MAX_ALIASES} aliases (*name) in one file",
                "write the values out, or use fewer anchors and aliases",
            )
        if event.anchor in self.open_anchors:
            raise LimitExceeded(
                span,
                f"the alias *{event.anchor} is inside its own anchor: the value would be endless",
                "an alias may only repeat a value that is already complete",
            )
        node = super().compose_node(parent, index)
        self._count(self.sizes.get(id(node), 1), span)
        return node

    def _count(self, added: int, span: Span) -> None:
        self.nodes += added
        if self.nodes > MAX_NODES:
            raise LimitExceeded(
                span,
                f"the file holds more than {MAX_NODES:,} values (aliases counted in full)",
                "split the pathway into sub-pathways (call:), and do not nest aliases",
            )


def _check_tag(event: Any, span: Span) -> None:
    tag = getattr(event, "ctag", None)
    if tag is None or str(tag) == NON_SPECIFIC or str(tag) in CORE_TAGS:
        return
    raise LimitExceeded(
        span,
        f"the tag '{tag}' is not allowed",
        "remove the tag: only plain YAML 1.2 values (text, numbers, true/false, lists, "
        "mappings) are read",
    )


def _check_scalar(event: Any, span: Span) -> None:
    value = event.value
    if len(value) > MAX_SCALAR_CHARS:
        raise LimitExceeded(
            span, too_long("this value", len(value), MAX_SCALAR_CHARS), "shorten the text"
        )
    if value == "<<" and event.style is None:
        raise LimitExceeded(
            span,
            "merge keys (<<) are not part of YAML 1.2",
            "write the keys out in full",
        )
