"""One strict JSON reading for every request body: UTF-8, finite numbers, 64-bit integers,
bounded depth and width, and no NUL or lone surrogate in any string.

Python's `json` accepts NaN, Infinity, 1e999 (as inf), integers of any size, and "\\ud800"
(a str that PostgreSQL and UTF-8 refuse later, as a 500); this reading refuses them first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

SMALLEST_INTEGER = -(2**63)
LARGEST_INTEGER = 2**63 - 1
DEEPEST = 32  # nesting of arrays and objects; the deepest real body is 4
WIDEST = 200  # keys in one object (event data, parameters, recorded values)

_TOKEN = re.compile(r'"|\\.|[\[\]{}]', re.DOTALL)  # what matters for nesting, found in C
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyRefused(Exception):
    """A body that is not JSON this API reads: the status and what to fix."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


def read_json(raw: bytes) -> Any:
    """The body's JSON value, or BodyRefused naming the field and the fix."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyRefused(
            400, "body", f"byte {error.start} is not UTF-8: send the JSON encoded as UTF-8"
        ) from error
    _check_depth(text)
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded
        )
    except (ValueError, RecursionError) as error:
        raise BodyRefused(422, "body", f"is not valid JSON ({error})") from error
    for field, problem in _problems(value, "body"):
        raise BodyRefused(422, field, problem)
    return value


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored (a NUL or a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000): remove it"
    if _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate (e.g. \\ud800): send valid Unicode"
    return None


def _check_depth(text: str) -> None:
    # Counted on the text, before json.loads, which would recurse once per level.
    depth, quoted = 0, False
    for token in _TOKEN.findall(text):
        if token == '"':
            quoted = not quoted
        elif quoted or token[0] == "\\":
            continue
        depth += 1 if token in "[{" else -1
        if depth > DEEPEST:
            raise BodyRefused(
                422, "body", f"nests arrays and objects deeper than {DEEPEST} levels: flatten it"
            )


class _OutOfRange:
    """A number json.loads read that this API refuses; reported with its field afterwards."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _no_constant(name: str) -> _OutOfRange:
    return _OutOfRange(f"{name} is not a JSON number: send a finite number")


def _finite(text: str) -> float | _OutOfRange:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        return _OutOfRange(f"{_short(text)} is out of range: numbers must be finite (to ~1.8e308)")
    return value


def _bounded(text: str) -> int | _OutOfRange:
    # The length first: int() of thousands of digits is slow, and refused past 4,300.
    value = int(text) if len(text.lstrip("-")) <= 20 else None
    if value is None or not SMALLEST_INTEGER <= value <= LARGEST_INTEGER:
        return _OutOfRange(
            f"{_short(text)} is out of range: integers must be from {SMALLEST_INTEGER} "
            f"to {LARGEST_INTEGER} (64 bits)"
        )
    return value


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:40]}..."


def _name(key: str) -> str:
    # A key that cannot be stored cannot be printed either: show it escaped.
    return json.dumps(key) if text_problem(key) else key


def _problems(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, _OutOfRange):
        yield where, value.problem
    elif isinstance(value, str):
        problem = text_problem(value)
        if problem:
            yield where, problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _problems(item, f"{where}.{index}")
    elif isinstance(value, dict):
        if len(value) > WIDEST:
            yield where, f"has {len(value)} keys; at most {WIDEST} are allowed"
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                yield f"{where} key {_name(key)}", problem
            yield from _problems(item, f"{where}.{_name(key)}")
