"""Scenario files: what the clinic does differently from the usual path, in simulated time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pathways.durations import DurationSpec, parse_iso
from pathways.runtime.events import (
    AdverseEventReported,
    Event,
    HoldRequested,
    PathwayEventOccurred,
    ResultRecorded,
    ResumeRequested,
)


class ScenarioError(Exception):
    """A scenario file that cannot be followed."""


@dataclass(frozen=True)
class ScriptedEvent:
    """An event the scenario injects `day` days after the start."""

    day: float
    event: Event


@dataclass(frozen=True)
class Scenario:
    """What the clinic does differently from the usual path."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    patient: Mapping[str, Any] = field(default_factory=dict)
    record: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    delays: Mapping[str, DurationSpec] = field(default_factory=dict)
    events: tuple[ScriptedEvent, ...] = ()
    decisions: tuple[Mapping[str, Any], ...] = ()


def scenario_from(data: Mapping[str, Any]) -> Scenario:
    """A scenario from plain data (a parsed scenario file), checked key by key."""
    allowed = {"parameters", "patient", "record", "delays", "events", "decisions"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(
            f"unknown scenario key '{unknown[0]}' (keys: {', '.join(sorted(allowed))})"
        )
    record = {}
    for step_id, values in (data.get("record") or {}).items():
        record[str(step_id)] = tuple(values if isinstance(values, list) else [values])
    delays: dict[str, DurationSpec] = {}
    for step_id, text in (data.get("delays") or {}).items():
        parsed = parse_iso(str(text))
        if parsed is None:
            raise ScenarioError(f"delay of '{step_id}': '{text}' is not an ISO 8601 duration")
        delays[str(step_id)] = parsed
    events = tuple(_scripted(item) for item in data.get("events") or [])
    return Scenario(
        parameters=dict(data.get("parameters") or {}),
        patient=dict(data.get("patient") or {}),
        record=record,
        delays=delays,
        events=events,
        decisions=tuple(data.get("decisions") or ()),
    )


def _scripted(item: Mapping[str, Any]) -> ScriptedEvent:
    if "day" not in item:
        raise ScenarioError(f"scenario event {dict(item)} needs 'day' (days after the start)")
    day = float(item["day"])
    kinds = [key for key in item if key != "day"]
    if len(kinds) != 1:
        raise ScenarioError(f"scenario event on day {day:g} needs exactly one event, got {kinds}")
    kind, value = kinds[0], item[kinds[0]]
    if kind == "adverse_event":
        return ScriptedEvent(day, AdverseEventReported(str(value["term"]), int(value["grade"])))
    if kind in ("lab_result", "imaging_result"):
        return ScriptedEvent(day, ResultRecorded(kind, dict(value)))
    if kind == "hold":
        return ScriptedEvent(day, HoldRequested(str(value)))
    if kind == "resume":
        return ScriptedEvent(day, ResumeRequested(str(value)))
    return ScriptedEvent(day, PathwayEventOccurred(kind, dict(value or {})))
