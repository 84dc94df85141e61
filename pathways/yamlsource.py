"""Reads YAML 1.2 text into plain nodes that remember their line and column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import ScalarString

from pathways.limits import MAX_DOCUMENT_BYTES
from pathways.problems import Span
from pathways.yamlbudget import BudgetedComposer, BudgetedScanner, LimitExceeded


@dataclass(frozen=True)
class Scalar:
    """A scalar value; `quoted` tells whether the author wrote quotes around it."""

    value: Any
    span: Span
    quoted: bool = False


@dataclass(frozen=True)
class Mapping:
    """A mapping: each key keeps the position of the key and its value node."""

    entries: dict[str, tuple[Span, Node]]
    span: Span

    def get(self, key: str) -> Node | None:
        """The value node of a key, or None."""
        found = self.entries.get(key)
        return found[1] if found else None

    def key_span(self, key: str) -> Span:
        """Where the key is written."""
        return self.entries[key][0]


@dataclass(frozen=True)
class Sequence:
    """A list of nodes."""

    items: list[Node]
    span: Span


Node = Scalar | Mapping | Sequence


class YamlSyntaxError(Exception):
    """The text is not YAML; carries the position and the parser's complaint."""

    def __init__(self, span: Span, message: str) -> None:
        super().__init__(message)
        self.span = span
        self.message = message


class OverLimit(YamlSyntaxError):
    """The text passes a bound of the language (pathways/limits.py); `hint` says what to do."""

    def __init__(self, span: Span, message: str, hint: str) -> None:
        super().__init__(span, message)
        self.hint = hint


def parse(text: str) -> Node:
    """Parse YAML text into nodes; raise YamlSyntaxError on bad YAML or duplicate keys.

    A text over the limits (pathways/limits.py) raises OverLimit, checked while composing.
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_DOCUMENT_BYTES:
        raise OverLimit(
            Span(1, 1),
            f"the file is {size:,} bytes; the limit is {MAX_DOCUMENT_BYTES:,}",
            "split the pathway into sub-pathways (call:)",
        )
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.Scanner = BudgetedScanner
    yaml.Composer = BudgetedComposer
    try:
        data = yaml.load(text)
    except LimitExceeded as error:
        raise OverLimit(error.span, error.message, error.hint) from None
    except ReaderError as error:  # a character YAML does not allow, e.g. a control character
        before = text[: error.position]
        span = Span(before.count("\n") + 1, len(before) - before.rfind("\n"))
        character = chr(error.character) if isinstance(error.character, int) else error.character
        raise YamlSyntaxError(
            span, f"YAML syntax error: the character {character!r} is not allowed in YAML"
        ) from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        span = Span(mark.line + 1, mark.column + 1) if mark else Span(1, 1)
        message = str(error.problem or error.context or "unreadable YAML")
        if "duplicate key" in message:
            key = message.split('"')[1] if '"' in message else "?"
            raise YamlSyntaxError(span, f"duplicate key '{key}'") from None
        raise YamlSyntaxError(span, f"YAML syntax error: {message}") from None
    except YAMLError as error:  # anything else the parser refuses, without a position
        raise YamlSyntaxError(Span(1, 1), f"YAML syntax error: {error}") from None
    start = (
        Span(data.lc.line + 1, data.lc.col + 1)
        if isinstance(data, (CommentedMap, CommentedSeq))
        else Span(1, 1)
    )
    return _node(data, start)


def _node(data: Any, span: Span) -> Node:
    if isinstance(data, CommentedMap):
        entries: dict[str, tuple[Span, Node]] = {}
        for key in data:
            key_line, key_col = data.lc.key(key)
            value_line, value_col = data.lc.value(key)
            entries[str(key) if not isinstance(key, bool) else str(key).lower()] = (
                Span(key_line + 1, key_col + 1),
                _node(data[key], Span(value_line + 1, value_col + 1)),
            )
        return Mapping(entries, span)
    if isinstance(data, CommentedSeq):
        items = []
        for index, item in enumerate(data):
            line, col = data.lc.item(index)
            items.append(_node(item, Span(line + 1, col + 1)))
        return Sequence(items, span)
    if isinstance(data, TaggedScalar):  # `!!str x`: the author asked for text, as quotes do
        return Scalar(str(data.value), span, True)
    quoted = isinstance(data, ScalarString)
    value = str(data) if quoted else data
    return Scalar(value, span, quoted)


def to_plain(node: Node) -> Any:
    """The node as plain Python data (dicts, lists, scalars)."""
    if isinstance(node, Mapping):
        return {key: to_plain(value) for key, (_, value) in node.entries.items()}
    if isinstance(node, Sequence):
        return [to_plain(item) for item in node.items]
    return node.value
