"""The enrollment state: plain JSON-serialisable data with a schema version.

The state holds only what the next event needs (where the tokens are, counters, recorded
data, holds); the history of what happened belongs to the event log.

    {"schema": 1, "pathway": "chemotherapy@1", "status": "active", "outcome": null,
     "seq": 7, "enrolled_at": "...Z", "planned_end": "...Z", "projection": false,
     "patient": {...}, "holds": [...], "handler_tasks": {...},
     "frame": {"parameters": {...}, "data": {...}, "counters": {...}, "joins": {...},
               "active": {STATE_ID: INSTANCE}, "done": {...}, "skipped": {...}}}

`first_treatment_at` appears when the first task step marked `treatment: true` is completed
(in any frame) and never changes after; a state without it has had no treatment yet.

An INSTANCE is {"ready": ISO, "due": ISO, "task": ID} for a task, {"timer": ID, ...} for a
wait, {"child": FRAME} for a call, or {"stuck": REASON} where a decision lacks data. While
the enrollment is on hold, tasks and timers carry "remaining" seconds instead of running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
FIRST_TREATMENT = "first_treatment_at"
TERMINAL = frozenset({"completed", "stopped", "withdrawn"})

State = dict[str, Any]
Frame = dict[str, Any]


def new_frame(parameters: dict[str, Any]) -> Frame:
    """An empty frame for a pathway about to start."""
    return {
        "parameters": parameters,
        "data": {},
        "counters": {},
        "joins": {},
        "active": {},
        "done": {},
        "skipped": {},
        "work": 0,  # tasks and waits finished here and in sub-pathways that ended
    }


def clone(state: State) -> State:
    """A copy `step` may change without touching `state`, at a fraction of a deep copy's cost.

    The engine changes only containers: it replaces values in the flat maps (parameters,
    recorded data, counters, joins, done, skipped, the patient) and never changes a value
    inside them in place, so those are copied one level deep (a C-level dict copy); task and
    wait instances, whose fields holds rewrite, are copied with their sub-pathway frames.
    Keys this module does not know are deep-copied, so a new part of the schema stays safe."""
    copy = state.copy()
    copy["patient"] = state["patient"].copy()
    holds = state["holds"]
    copy["holds"] = [hold.copy() for hold in holds] if holds else []
    copy["handler_tasks"] = _copy(state["handler_tasks"]) if state["handler_tasks"] else {}
    copy["frame"] = _frame(state["frame"])
    if not state.keys() <= _STATE_KEYS:  # a subset test builds no set, unlike a difference
        for key in state.keys() - _STATE_KEYS:
            copy[key] = _copy(state[key])
    return copy


_STATE_KEYS = frozenset(
    {"schema", "pathway", "status", "outcome", "seq", "enrolled_at", "planned_end"}
    | {"projection", "patient", "holds", "handler_tasks", "frame", FIRST_TREATMENT}
)
_FRAME_KEYS = frozenset(
    {"parameters", "data", "counters", "joins", "done", "skipped", "active", "work"}
)


def _frame(frame: Frame) -> Frame:
    # Spelled out rather than looped over key names: this runs at every step.
    copy = frame.copy()
    copy["parameters"] = frame["parameters"].copy()
    copy["data"] = frame["data"].copy()
    copy["counters"] = frame["counters"].copy()
    copy["joins"] = frame["joins"].copy()
    copy["done"] = frame["done"].copy()
    copy["skipped"] = frame["skipped"].copy()
    copy["active"] = {
        state_id: _instance(instance) if "child" in instance else instance.copy()
        for state_id, instance in frame["active"].items()
    }
    if not frame.keys() <= _FRAME_KEYS:
        for key in frame.keys() - _FRAME_KEYS:
            copy[key] = _copy(frame[key])
    return copy


def _instance(instance: dict[str, Any]) -> dict[str, Any]:
    copy = instance.copy()
    copy["child"] = _frame(instance["child"])
    return copy


_CONTAINERS = (dict, list)


def _copy(value: Any) -> Any:
    # A plain deep copy of JSON data. Leaves (str, int, float, bool, None) are shared as
    # they are: only containers recurse, which saves a call per leaf, the bulk of a state.
    if type(value) is dict:
        return {
            key: _copy(item) if isinstance(item, _CONTAINERS) else item
            for key, item in value.items()
        }
    if type(value) is list:
        return [_copy(item) if isinstance(item, _CONTAINERS) else item for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def iso(moment: datetime) -> str:
    """A UTC moment as stored in state: 2026-11-23T14:00:00Z (seconds, truncated)."""
    # The naive date's and time's isoformat are several times faster than strftime and than
    # an aware isoformat (which formats the offset only for it to be cut), and, for years
    # 1000-9999, identical (tests/unit/test_state.py).
    utc = moment.astimezone(UTC)
    return utc.date().isoformat() + "T" + utc.time().isoformat()[:8] + "Z"


def moment(text: str) -> datetime:
    """A stored moment back as an aware UTC datetime."""
    if len(text) == 20 and text[10] == "T" and text[13] == text[16] == ":" and text[19] == "Z":
        # fromisoformat is much faster than strptime; the shape check keeps it as strict.
        return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
