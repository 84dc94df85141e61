"""The enrollment state's own helpers: the per-step copy and stored moments.

Both run at every step, so both are written for speed; these tests hold them to the plain
version (a deep copy, strftime) they must equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from pathways.runtime.definition import Definition
from pathways.runtime.engine import start, step
from pathways.runtime.events import AdverseEventReported, Enrolled, Event, HoldRequested
from pathways.runtime.state import State, clone, iso, moment
from tests.conftest import toronto, typical_patient

ZONES = [UTC, ZoneInfo("America/Toronto"), ZoneInfo("Australia/Lord_Howe")]


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(ZONES),
    )
)
def test_a_stored_moment_is_its_utc_time_to_the_second_and_reads_back_as_that_instant(
    when: datetime,
) -> None:
    utc = when.astimezone(UTC)  # compared in UTC: PEP 495 makes a fold-1 time unequal
    stored = iso(when)
    assert stored == utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert moment(stored) == utc.replace(microsecond=0)


def _held_states(definitions: Callable[[str], Definition]) -> Iterator[State]:
    """States with every part the copy treats apart: sub-pathway frames (a called tumour
    board), holds, paused instances and a review task of an `on:` handler."""
    now = toronto(2026, 11, 23, 9, 0)
    events: list[tuple[str, Event]] = [
        ("multimodality_plan", HoldRequested("admitted to hospital")),
        ("radiation_sbrt", AdverseEventReported("dermatitis", 3)),
    ]
    for pathway_id, event in events:
        definition = definitions(pathway_id)
        state, _ = start(definition, Enrolled(patient=typical_patient(definition)), now)
        state, _ = step(definition, state, event, now + timedelta(hours=2))
        assert state["holds"]
        yield state


def _containers(state: State) -> Iterator[Any]:
    """Every dict and list of a state that the engine changes in place."""
    yield state
    yield state["patient"]
    yield state["holds"]
    yield from state["holds"]
    yield state["handler_tasks"]
    yield from state["handler_tasks"].values()
    yield from _frame_containers(state["frame"])


def _frame_containers(frame: dict[str, Any]) -> Iterator[Any]:
    yield frame
    for key in ("parameters", "data", "counters", "joins", "done", "skipped", "active"):
        yield frame[key]
    for instance in frame["active"].values():
        yield instance
        if "child" in instance:
            yield from _frame_containers(instance["child"])


def test_a_state_copied_for_a_step_equals_a_deep_copy_and_shares_nothing_a_step_changes(
    definitions: Callable[[str], Definition],
) -> None:
    states = list(_held_states(definitions))
    seen = [part for state in states for part in _containers(state) if isinstance(part, dict)]
    assert any("child" in part for part in seen)  # a sub-pathway's frame
    assert any("remaining" in part for part in seen)  # a paused task or wait
    assert any(state["handler_tasks"] for state in states)  # a review task
    for state in states:
        copy = clone(state)
        assert copy == deepcopy(state)
        pairs = zip(_containers(state), _containers(copy), strict=True)
        assert all(original is not copied for original, copied in pairs)
