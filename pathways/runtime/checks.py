"""Checks at the edge: values given at enrolment and data recorded or reported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathways.model import MISSING, Field
from pathways.reading.fields import check_value
from pathways.runtime.events import EventRejected


def check_values(
    fields: Mapping[str, Field], given: Mapping[str, Any], what: str
) -> dict[str, Any]:
    """Values for every field (given or default), each checked; EventRejected otherwise."""
    unknown = sorted(set(given) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise EventRejected(f"unknown {what} '{unknown[0]}' (this pathway has: {known})")
    values = {}
    for name, field in fields.items():
        value = given.get(name, field.default)
        if value is MISSING:
            raise EventRejected(f"{what} '{name}' is required ({field.type})")
        mismatch = check_value(field, value, f"{what} '{name}':")
        if mismatch:
            raise EventRejected(mismatch)
        values[name] = value
    return values


def check_recorded(
    fields: tuple[Field, ...], data: Mapping[str, Any], projection: bool, what: str = "this task"
) -> None:
    """Recorded data must fit the form: known fields, right types, bounds, required ones."""
    if not fields and not data:
        return  # most tasks record nothing, and nothing was sent
    by_name = {field.name: field for field in fields}
    unknown = sorted(set(data) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "nothing"
        raise EventRejected(f"'{unknown[0]}' is not part of {what} (it has: {known})")
    for field in fields:
        if field.name not in data:
            if field.required and not projection:
                raise EventRejected(f"'{field.name}' must be recorded ({field.type})")
            continue
        mismatch = check_value(field, data[field.name], f"'{field.name}':")
        if mismatch:
            raise EventRejected(mismatch)
