"""Reads typed fields: parameters, patient attributes, recorded data and event data."""

from __future__ import annotations

from datetime import date
from typing import Any

from pathways.durations import LONGEST, LONGEST_YEARS, parse_iso
from pathways.language import FIELD_NAMES, FIELD_TYPES
from pathways.limits import MAX_TEXT_CHARS
from pathways.model import MISSING, Field
from pathways.problems import Problems, Span, did_you_mean
from pathways.reading.values import (
    as_mapping,
    check_keys,
    describe,
    over_length,
    plain,
    read_free_text,
    read_id,
)
from pathways.yamlsource import Mapping, Node, Scalar, Sequence, to_plain

# Which keys each use of a field allows.
_ALLOWED = {
    "parameter": set(FIELD_NAMES) - {"required"},
    "patient attribute": set(FIELD_NAMES) - {"required"},
    "recorded field": set(FIELD_NAMES) - {"default"},
    "event field": set(FIELD_NAMES) - {"default"},
}


def read_fields(problems: Problems, node: Node | None, where: str, kind: str) -> dict[str, Field]:
    """A mapping of field name to type, read as Fields."""
    mapping = as_mapping(problems, node, where, f"the {kind}s")
    fields: dict[str, Field] = {}
    if mapping is None:
        return fields
    for raw_name, (key_span, spec) in mapping.entries.items():
        name = read_id(problems, Scalar(raw_name, key_span), where, f"{_with_article(kind)} name")
        if name is not None:
            field = _read_field(problems, name, spec, f"{where}.{name}", kind)
            if field is not None:
                fields[name] = field
    return fields


def _read_field(problems: Problems, name: str, node: Node, where: str, kind: str) -> Field | None:
    if isinstance(node, Scalar):
        type_name = _read_type(problems, node, where)
        return Field(name, type_name, node.span) if type_name else None
    spec = as_mapping(problems, node, where, f"the {kind} '{name}'")
    if spec is None:
        return None
    check_keys(problems, spec, sorted(_ALLOWED[kind]), (), where, _with_article(kind))
    enum = _read_enum(problems, spec.get("enum"), where)
    type_node = spec.get("type")
    if type_node is None and enum is None:
        problems.add(
            spec.span,
            where,
            "missing required key 'type'",
            "give a type (integer, number, boolean, string, date, duration) or an enum",
        )
        return None
    type_name = _read_type(problems, type_node, where) if type_node is not None else "string"
    if type_name is None:
        return None
    if enum is not None and type_name != "string":
        problems.add(spec.span, where, f"an enum must be of type string, not {type_name}")
    minimum, maximum = (
        _bound(problems, spec, "minimum", where),
        _bound(problems, spec, "maximum", where),
    )
    if (minimum is not None or maximum is not None) and type_name not in ("integer", "number"):
        problems.add(spec.span, where, f"minimum and maximum apply to numbers, not {type_name}")
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.add(
            spec.key_span("minimum"),
            where,
            f"minimum {_show(minimum)} is above the maximum {_show(maximum)}",
        )
    field = Field(
        name,
        type_name,
        spec.span,
        enum or (),
        minimum,
        maximum,
        unit=read_free_text(problems, spec.get("unit"), where, "'unit'", MAX_TEXT_CHARS),
        description=read_free_text(problems, spec.get("description"), where, "'description'"),
        required=plain(spec.get("required")) is not False,
    )
    default_node = spec.get("default")
    if default_node is None:
        if kind == "parameter":
            problems.add(
                spec.span,
                where,
                "missing required key 'default'",
                "every parameter needs a default so the pathway can start without it",
            )
        return field
    default = _read_default(problems, field, default_node, where)
    return Field(**{**field.__dict__, "default": default})


def _with_article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _read_type(problems: Problems, node: Node | None, where: str) -> str | None:
    value = plain(node)
    if isinstance(value, str) and value in FIELD_TYPES:
        return value
    assert node is not None
    problems.add(
        node.span,
        where,
        f"{describe(node)} is not a field type",
        did_you_mean(str(value), set(FIELD_TYPES)),
    )
    return None


def _read_enum(problems: Problems, node: Node | None, where: str) -> tuple[str, ...] | None:
    if node is None:
        return None
    if (
        not isinstance(node, Sequence)
        or not node.items
        or not all(
            isinstance(item, Scalar) and not isinstance(item.value, bool) for item in node.items
        )
    ):
        problems.add(
            node.span,
            where,
            "an enum must be a non-empty list of values",
            "write [value_a, value_b]",
        )
        return None
    if any(
        over_length(problems, item, where, "an enum value", MAX_TEXT_CHARS) for item in node.items
    ):
        return None
    return tuple(str(to_plain(item)) for item in node.items)


def _bound(problems: Problems, spec: Mapping, key: str, where: str) -> float | None:
    node = spec.get(key)
    value = plain(node)
    if node is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    problems.add(node.span, where, f"{key} must be a number, got {describe(node)}")
    return None


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _read_default(problems: Problems, field: Field, node: Node, where: str) -> Any:
    value = plain(node)
    span: Span = node.span
    checked = check_value(field, value, "default")
    if checked is not None:
        problems.add(span, where, checked)
        return MISSING
    if field.type == "duration":
        return value
    if field.type == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def check_value(field: Field, value: Any, noun: str = "value") -> str | None:
    """Why a value does not fit the field, or None when it fits."""
    expected = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "duration": isinstance(value, str) and parse_iso(value) is not None,
        "date": isinstance(value, date) or (isinstance(value, str) and _is_date(value)),
    }[field.type]
    if not expected:
        return f"{noun} {value!r} is not {_article(field.type)}"
    if field.enum and value not in field.enum:
        return f"{noun} '{value}' is not one of the enum values ({', '.join(field.enum)})"
    if field.minimum is not None and value < field.minimum:
        return f"{noun} {_show(value)} is below the minimum {_show(field.minimum)}"
    if field.maximum is not None and value > field.maximum:
        return f"{noun} {_show(value)} is above the maximum {_show(field.maximum)}"
    return None


def _article(type_name: str) -> str:
    duration = f"an ISO 8601 duration of at most {LONGEST_YEARS} years ({LONGEST})"
    return {"integer": "an integer", "duration": duration}.get(type_name, f"a {type_name}")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
