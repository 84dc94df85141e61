"""What the soak's staff record and report: plausible values for a form, short waits, and
which pathways take adverse events."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pathways.service.demo import USUAL_VALUES

SHORT_WAIT = (15, 45)  # s: the range duration parameters are set to at enrolment
# Numbers with no bounds in the form: a spread around the pathways' thresholds, so that
# some chemotherapy cycles are delayed for low counts (another timer) and most are not.
PLAUSIBLE: dict[str, tuple[float, float]] = {"anc": (800, 4000), "platelets": (60000, 300000)}
TERMS = ("fatigue", "nausea", "radiation dermatitis", "mucositis")
GRADES = (1, 1, 2, 2, 3)  # 3 holds treatment for review on the pathways that handle it


def handles_adverse_events(definitions: Path) -> set[str]:
    """Pathways of the library with an `on: adverse_event` handler."""
    found = set()
    for path in definitions.glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict) and "adverse_event" in (document.get("on") or {}):
            found.add(str(document["pathway"]))
    return found


def plausible(fields: dict[str, Any] | list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    """Values staff might record for a form (a task's) or fields (a pathway's), mostly usual."""
    named = fields.items() if isinstance(fields, dict) else ((f["name"], f) for f in fields)
    values: dict[str, Any] = {}
    for name, field in named:
        if not field.get("required", True) and rng.random() < 0.5:
            continue
        kind, enum = field.get("type"), field.get("enum") or []
        if name in USUAL_VALUES and rng.random() < 0.9:
            values[name] = USUAL_VALUES[name]
        elif enum:
            values[name] = enum[0] if rng.random() < 0.85 else rng.choice(enum)
        elif kind in ("integer", "number"):
            low = field.get("minimum")
            high = field.get("maximum")
            low, high = PLAUSIBLE.get(name, (low or 0, high if high is not None else 100))
            number = rng.uniform(float(low), float(high))
            values[name] = round(number) if kind == "integer" else round(number, 1)
        elif kind == "boolean":
            values[name] = rng.random() < 0.2
        elif kind == "date":
            values[name] = datetime.now(UTC).date().isoformat()
        elif kind == "duration":
            values[name] = f"PT{rng.randint(*SHORT_WAIT)}S"
        else:
            values[name] = "soak"
    return values
