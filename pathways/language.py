"""The keys of the pathway language, in one place: the reader checks them, the schema emits them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
MODALITIES = (
    "tumour_board",
    "surgery",
    "radiation",
    "chemotherapy",
    "clinical_trial",
    "surveillance",
    "multimodal",
)
PRIORITIES = ("routine", "urgent", "asap", "stat")  # FHIR Task.priority codes
FIELD_TYPES = ("integer", "number", "boolean", "string", "date", "duration")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
STEP_KINDS = ("task", "wait", "decide", "parallel", "repeat", "call", "notify", "end", "steps")
# YAML 1.1 reads these as booleans; they must never be ids or names.
YAML11_BOOLEANS = frozenset(
    word
    for base in ("y", "yes", "n", "no", "true", "false", "on", "off")
    for word in (base, base.capitalize(), base.upper())
)

_ID: dict[str, Any] = {"type": "string", "pattern": ID_PATTERN}
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
_EXPRESSION: dict[str, Any] = {"type": "string", "description": "a safe expression"}
_DURATION: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "description": "ISO 8601 duration (P3D) or a duration parameter"},
        {
            "type": "object",
            "properties": {"working_days": {"type": ["integer", "string"]}},
            "required": ["working_days"],
            "additionalProperties": False,
        },
    ]
}


@dataclass(frozen=True)
class Key:
    """One key of the language: its name, whether it is required, its meaning and value shape."""

    name: str
    description: str
    required: bool = False
    schema: dict[str, Any] = field(default_factory=dict)


def _names(keys: tuple[Key, ...]) -> tuple[str, ...]:
    return tuple(key.name for key in keys)


FIELD = (
    Key(
        "type",
        "integer, number, boolean, string, date or duration",
        schema={"enum": list(FIELD_TYPES)},
    ),
    Key("enum", "the allowed values", schema={"type": "array", "items": {"type": "string"}}),
    Key("minimum", "lowest allowed value", schema={"type": "number"}),
    Key("maximum", "highest allowed value", schema={"type": "number"}),
    Key("unit", "unit shown to staff", schema=_TEXT),
    Key("description", "free text", schema=_TEXT),
    Key("default", "value when none is given"),
    Key("required", "staff must record it (record fields only)", schema={"type": "boolean"}),
)
_FIELD_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"enum": list(FIELD_TYPES)},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {key.name: key.schema for key in FIELD},
        },
    ]
}
_FIELDS: dict[str, Any] = {"type": "object", "additionalProperties": _FIELD_SCHEMA}

TOP = (
    Key("pathway", "the pathway's id", True, _ID),
    Key("version", "version number, >= 1", True, {"type": "integer", "minimum": 1}),
    Key("title", "what staff and navigators see", True, _TEXT),
    Key("modality", "the treatment modality", True, {"enum": list(MODALITIES)}),
    Key("description", "free text", schema=_TEXT),
    Key("calendar", "calendar for due dates and slots (default clinic)", schema=_ID),
    Key(
        "roles",
        "staff roles this pathway gives work to",
        True,
        {"type": "array", "items": _ID, "minItems": 1},
    ),
    Key("parameters", "typed, bounded values set at enrolment", schema=_FIELDS),
    Key("patient", "patient attributes the pathway reads", schema=_FIELDS),
    Key(
        "events",
        "events declared beyond the built-in ones, with their data",
        schema={"type": "object", "additionalProperties": _FIELDS},
    ),
    Key("steps", "the steps, run in order", True, {"$ref": "#/$defs/steps"}),
    Key(
        "on",
        "handlers for events that may arrive at any time",
        schema={
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/handler"}},
        },
    ),
)

STEP_COMMON = (
    Key("id", "unique id of the step", True, _ID),
    Key("title", "display name", schema=_TEXT),
    Key("when", "run only when this expression is true; otherwise skipped", schema=_EXPRESSION),
    Key("then", "the step to go to next (same list)", schema=_ID),
    Key("expected", "how long the step usually takes", schema=_DURATION),
)

_TASK_DETAIL = (
    Key("role", "who does it", True, _ID),
    Key("due", "deadline from when the task is ready", True, _DURATION),
    Key("priority", "routine, urgent, asap or stat", schema={"enum": list(PRIORITIES)}),
    Key("instructions", "text shown with the task", schema=_TEXT),
    Key("record", "fields staff record on completion", schema=_FIELDS),
)

# Only a task step may be marked as treatment: its completion is a moment staff record.
TREATMENT = Key(
    "treatment",
    "completing it is a treatment: the first one completed starts the patient's treatment",
    schema={"type": "boolean"},
)

STEP_KIND_KEYS: dict[str, tuple[Key, ...]] = {
    "task": (Key("task", "the task's title", True, _TEXT), *_TASK_DETAIL, TREATMENT),
    "wait": (
        Key(
            "wait",
            "a duration, or {until: SLOT}",
            True,
            {
                "oneOf": [
                    _DURATION,
                    {
                        "type": "object",
                        "properties": {"until": _ID},
                        "required": ["until"],
                        "additionalProperties": False,
                    },
                ]
            },
        ),
    ),
    "decide": (
        Key(
            "decide",
            "ordered branches; the first true one wins",
            True,
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["if", "then"],
                    "additionalProperties": False,
                    "properties": {"if": _EXPRESSION, "then": _ID},
                },
            },
        ),
        Key("else", "the step when no branch is true", schema=_ID),
        Key("usual", "the step projections assume while the data is unknown", schema=_ID),
    ),
    "parallel": (Key("parallel", "branches that run together", True, {"$ref": "#/$defs/steps"}),),
    "repeat": (
        Key(
            "repeat",
            "how many times: an integer or an integer parameter",
            True,
            {"type": ["integer", "string"]},
        ),
        Key("steps", "the body", True, {"$ref": "#/$defs/steps"}),
        Key("counter", "name of the 1..N counter (default: the step id)", schema=_ID),
    ),
    "steps": (Key("steps", "a phase: steps run in order", True, {"$ref": "#/$defs/steps"}),),
    "call": (
        Key("call", "the sub-pathway's id", True, _ID),
        Key("version", "pinned version (default: latest)", schema={"type": "integer"}),
        Key(
            "with",
            "the sub-pathway's parameters",
            schema={
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "integer", "boolean"]},
            },
        ),
    ),
    "notify": (
        Key("notify", "the message", True, _TEXT),
        Key("to", "the role notified", True, _ID),
        Key("priority", "routine, urgent, asap or stat", schema={"enum": list(PRIORITIES)}),
    ),
    "end": (Key("end", "the outcome", True, _ID),),
}

HANDLER = (
    Key("if", "the handler acts only when this is true", schema=_EXPRESSION),
    Key("hold", "hold the enrollment until the review task decides", schema={"type": "boolean"}),
    Key("task", "a task to create", schema=_TEXT),
    *(key for key in _TASK_DETAIL if key.name != "role"),
    Key("role", "who does the task", schema=_ID),
    Key("notify", "a message to send", schema=_TEXT),
    Key("to", "the role notified", schema=_ID),
    Key("stop", "stop the enrollment with this outcome", schema=_ID),
)
# `due` is required in a task step but only when a handler has a task.
HANDLER = tuple(Key(k.name, k.description, False, k.schema) for k in HANDLER)

CALENDAR = (
    Key("calendar", "the calendar's id", True, _ID),
    Key("title", "display name", schema=_TEXT),
    Key("timezone", "IANA time zone", True, _TEXT),
    Key(
        "working_days", "weekday names", True, {"type": "array", "items": {"enum": list(WEEKDAYS)}}
    ),
    Key(
        "holidays",
        "public holidays: country and optional subdivision",
        schema={
            "type": "object",
            "required": ["country"],
            "additionalProperties": False,
            "properties": {"country": _TEXT, "subdivision": _TEXT},
        },
    ),
    Key("closures", "extra closed dates", schema={"type": "array", "items": {"type": "string"}}),
    Key(
        "slots",
        "named weekly slots",
        schema={
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["weekday", "time"],
                "additionalProperties": False,
                "properties": {
                    "weekday": {"enum": list(WEEKDAYS)},
                    "time": {"type": "string", "pattern": r"^\d\d:\d\d$"},
                },
            },
        },
    ),
)
SLOT = (Key("weekday", "day of the week", True), Key("time", "HH:MM in clinic time", True))
HOLIDAYS = (Key("country", "ISO 3166 country code", True), Key("subdivision", "state/province"))

TOP_NAMES = _names(TOP)
STEP_COMMON_NAMES = _names(STEP_COMMON)
HANDLER_NAMES = _names(HANDLER)
FIELD_NAMES = _names(FIELD)
CALENDAR_NAMES = _names(CALENDAR)
ALL_STEP_KEYS = frozenset(STEP_COMMON_NAMES).union(
    *(_names(keys) for keys in STEP_KIND_KEYS.values())
)

# Events every pathway may handle, with the data their handlers can read.
BUILTIN_EVENTS: dict[str, dict[str, str]] = {
    "adverse_event": {"term": "string", "grade": "integer"},
    "lab_result": {"test": "string", "value": "number", "unit": "string"},
    "imaging_result": {"study": "string", "finding": "string"},
}
