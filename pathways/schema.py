"""The JSON Schema of the pathway language, for editors, built from pathways.language."""

from __future__ import annotations

from typing import Any

from pathways.language import CALENDAR, HANDLER, STEP_COMMON, STEP_KIND_KEYS, TOP, Key


def _object(keys: tuple[Key, ...], required: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key.name: {**key.schema, "description": key.description} for key in keys},
    }
    needed = [key.name for key in keys if key.required] if required else []
    if needed:
        schema["required"] = needed
    return schema


def _step(kind: str) -> dict[str, Any]:
    keys = (*STEP_COMMON, *STEP_KIND_KEYS[kind])
    schema = _object(keys)
    if kind == "steps":
        schema["required"] = [*schema["required"], "title"]
    schema["title"] = "phase" if kind == "steps" else f"{kind} step"
    return schema


def pathway_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) that pathway and calendar files satisfy."""
    pathway = _object(TOP)
    pathway["title"] = "carepath pathway"
    calendar = _object(CALENDAR)
    calendar["title"] = "carepath calendar"
    # A phase is a step whose only kind key is `steps`; the other kinds must not carry it.
    step_variants = [_step(kind) for kind in STEP_KIND_KEYS]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://carepath.invalid/schema/pathway.json",
        "title": "carepath definition",
        "description": "A carepath pathway (one per file) or a clinic calendar.",
        "oneOf": [{"$ref": "#/$defs/pathway"}, {"$ref": "#/$defs/calendar"}],
        "$defs": {
            "pathway": pathway,
            "calendar": calendar,
            "step": {"oneOf": step_variants},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "handler": _object(HANDLER, required=False),
        },
    }
