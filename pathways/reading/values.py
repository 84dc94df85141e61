"""Readers for single values: ids, text, numbers, durations and expressions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

from pathways.durations import (
    DURATION_HINT,
    DurationParameter,
    DurationSpec,
    WorkingDays,
    parse_iso,
)
from pathways.expressions import Expression, ExpressionError, parse
from pathways.language import ID_PATTERN, YAML11_BOOLEANS
from pathways.limits import (
    LIMITS_HINT,
    MAX_EXPRESSION_CHARS,
    MAX_ID_CHARS,
    MAX_LONG_TEXT_CHARS,
    MAX_TEXT_CHARS,
    too_long,
)
from pathways.problems import Problems, Span, did_you_mean
from pathways.yamlsource import Mapping, Node, Scalar, Sequence

_ID = re.compile(ID_PATTERN)


def describe(node: Node) -> str:
    """How to name the kind of a node in a message."""
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, Sequence):
        return "a list"
    value = node.value
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"'{value}'"


def check_keys(
    problems: Problems,
    mapping: Mapping,
    allowed: Iterable[str],
    required: Iterable[str],
    where: str,
    context: str,
) -> bool:
    """Report unknown and missing keys; True when all required keys are there.

    A missing key is not reported again when a misspelling of it is (`rol:` for `role:`).
    """
    allowed = tuple(allowed)
    misspelt: set[str] = set()
    for key in mapping.entries:
        if key not in allowed:
            close = get_close_matches(key, allowed, n=1, cutoff=0.6)
            misspelt.update(close)
            problems.add(
                mapping.key_span(key),
                where,
                f"unknown key '{key}' in {context}",
                did_you_mean(key, set(allowed)),
            )
    complete = True
    for key in required:
        if key not in mapping.entries:
            complete = False
            if key not in misspelt:
                problems.add(
                    mapping.span, where, f"missing required key '{key}'", f"{context} needs '{key}'"
                )
    return complete


def as_mapping(problems: Problems, node: Node | None, where: str, what: str) -> Mapping | None:
    """The node if it is a mapping; otherwise report it."""
    if isinstance(node, Mapping):
        return node
    if node is not None:
        problems.add(
            node.span,
            where,
            f"{what} must be a mapping, got {describe(node)}",
            "write 'key: value' pairs",
        )
    return None


def as_list(problems: Problems, node: Node | None, where: str, what: str) -> list[Node]:
    """The items if the node is a non-empty list; otherwise report it and give none."""
    if node is None:
        return []
    if not isinstance(node, Sequence):
        problems.add(
            node.span,
            where,
            f"{what} must be a list, got {describe(node)}",
            "write one '- item' per line, or [a, b]",
        )
        return []
    if not node.items:
        problems.add(node.span, where, f"{what} must not be empty")
    return node.items


def read_id(problems: Problems, node: Node | None, where: str, what: str) -> str | None:
    """An id or name: lower case, digits and '_', never a YAML 1.1 boolean."""
    if node is None:
        return None
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        problems.add(
            node.span,
            where,
            f"{what}: expected an id, got a boolean",
            "choose a word that YAML does not read as true/false",
        )
        return None
    if not isinstance(node, Scalar) or not isinstance(node.value, str):
        problems.add(
            node.span,
            where,
            f"{what} must be an id, got {describe(node)}",
            "use lower case letters, digits and _, starting with a letter",
        )
        return None
    value = node.value
    if over_length(problems, node, where, what, MAX_ID_CHARS):
        return None
    if value in YAML11_BOOLEANS:
        problems.add(
            node.span,
            where,
            f"'{value}' is read as a boolean by YAML 1.1 tools; it cannot be {what}",
            f"choose another word, e.g. '{value.lower()}_{what_word(what)}'",
        )
        return None
    if not _ID.match(value):
        suggestion = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
        problems.add(
            node.span,
            where,
            f"'{value}' is not a valid id for {what}",
            f"use lower case letters, digits and _, starting with a letter, e.g. '{suggestion}'",
        )
        return None
    return value


def what_word(what: str) -> str:
    """The last word of a description, for suggestions."""
    return what.split()[-1].strip("'")


def read_text(
    problems: Problems, node: Node | None, where: str, what: str, limit: int = MAX_TEXT_CHARS
) -> str | None:
    """Non-empty text of at most `limit` characters; numbers are accepted and written as text."""
    if node is None:
        return None
    if (
        isinstance(node, Scalar)
        and isinstance(node.value, (str, int, float))
        and not isinstance(node.value, bool)
        and str(node.value).strip()
    ):
        return None if over_length(problems, node, where, what, limit) else str(node.value)
    problems.add(node.span, where, f"{what} must be text, got {describe(node)}")
    return None


def read_free_text(
    problems: Problems, node: Node | None, where: str, what: str, limit: int = MAX_LONG_TEXT_CHARS
) -> str:
    """Optional text as written (empty when absent), at most `limit` characters."""
    value = plain(node)
    if node is None or value is None or over_length(problems, node, where, what, limit):
        return ""
    return str(value)


def over_length(problems: Problems, node: Node, where: str, what: str, limit: int) -> bool:
    """Report a text longer than its limit (pathways/limits.py); True when it is."""
    length = len(str(node.value)) if isinstance(node, Scalar) else 0
    if length <= limit:
        return False
    problems.add(
        node.span,
        where,
        too_long(what, length, limit),
        f"shorten it ({LIMITS_HINT})",
        over_limit=True,
    )
    return True


def read_integer(
    problems: Problems, node: Node | None, where: str, what: str, minimum: int | None = None
) -> int | None:
    """An integer, optionally at least `minimum`."""
    if node is None:
        return None
    if (
        isinstance(node, Scalar)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        if minimum is not None and node.value < minimum:
            problems.add(node.span, where, f"{what} must be at least {minimum}")
            return None
        return node.value
    problems.add(node.span, where, f"{what} must be an integer, got {describe(node)}")
    return None


def read_boolean(problems: Problems, node: Node | None, where: str, what: str) -> bool | None:
    """true or false."""
    if node is None:
        return None
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    problems.add(node.span, where, f"{what} must be true or false, got {describe(node)}")
    return None


def read_choice(
    problems: Problems,
    node: Node | None,
    where: str,
    what: str,
    choices: tuple[str, ...],
) -> str | None:
    """One of a fixed set of words."""
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    if isinstance(value, str) and value in choices:
        return value
    problems.add(
        node.span,
        where,
        f"{describe(node)} is not {what}",
        did_you_mean(str(value), set(choices))
        if isinstance(value, str)
        else "expected one of: " + ", ".join(choices),
    )
    return None


def read_duration(
    problems: Problems, node: Node | None, where: str, what: str
) -> DurationSpec | None:
    """An ISO 8601 duration, {working_days: N} or the name of a duration parameter."""
    if node is None:
        return None
    if isinstance(node, Mapping):
        if not check_keys(
            problems, node, ("working_days",), ("working_days",), where, f"a {what} in working days"
        ):
            return None
        count = node.get("working_days")
        assert count is not None
        if isinstance(count, Scalar) and isinstance(count.value, str):
            name = read_id(problems, count, where, "a parameter name")
            return WorkingDays(name) if name else None
        number = read_integer(problems, count, where, "working_days", minimum=0)
        return WorkingDays(number) if number is not None else None
    if isinstance(node, Scalar) and isinstance(node.value, str):
        parsed = parse_iso(node.value)
        if parsed is not None:
            return parsed
        if _ID.match(node.value):
            return DurationParameter(node.value)
    problems.add(node.span, where, f"{describe(node)} is not an ISO 8601 duration", DURATION_HINT)
    return None


def read_expression(
    problems: Problems, node: Node | None, where: str, key: str
) -> Expression | None:
    """A parsed, allow-listed expression; problems point at the offending column."""
    if node is None:
        return None
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return parse("true" if node.value else "false")
    if not isinstance(node, Scalar) or not isinstance(node.value, str):
        problems.add(
            node.span,
            where,
            f"'{key}' must be an expression, got {describe(node)}",
            "write a condition such as 'anc < 1500'",
        )
        return None
    return parse_expression(problems, node, where, f"the '{key}' expression")


def parse_expression(problems: Problems, node: Scalar, where: str, what: str) -> Expression | None:
    """A text scalar parsed as an expression of bounded length; problems are reported."""
    if over_length(problems, node, where, what, MAX_EXPRESSION_CHARS):
        return None
    try:
        return parse(str(node.value))
    except ExpressionError as error:
        report_expression(problems, node, where, error)
        return None


def report_expression(problems: Problems, node: Node, where: str, error: ExpressionError) -> None:
    """Report an expression error at its column within the source line when that is known."""
    span = node.span
    if isinstance(node, Scalar) and isinstance(node.value, str) and "\n" not in node.value:
        span = Span(span.line, span.column + error.column - 1 + (1 if node.quoted else 0))
    problems.add(span, where, error.message, error.hint)


def plain(node: Node | None) -> Any:
    """A scalar's value, or None."""
    return node.value if isinstance(node, Scalar) else None
