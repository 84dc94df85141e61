"""What the soak counts, as pure functions over rows read from the event, task and timer tables.

Kept free of the database so that each count can be tested over hand-made rows: a soak that
cannot see a lost, duplicated or reordered event would pass whatever the code does.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EventRow:
    """One row of pathway_event, as the checks need it."""

    id: int
    enrollment_id: str
    type: str
    data: dict[str, Any]
    recorded_at: datetime
    processed_at: datetime | None
    applied_seq: int | None
    rejected: bool


@dataclass(frozen=True)
class TimerRow:
    """One row of timer."""

    enrollment_id: str
    due_at: datetime
    fired_at: datetime | None
    cancelled_at: datetime | None
    engine_timer: str = ""


def lost(accepted: Iterable[int], events: Iterable[EventRow]) -> list[int]:
    """Event ids the API accepted (202) that are missing from the log or were never processed."""
    processed = {event.id for event in events if event.processed_at is not None}
    return sorted(set(accepted) - processed)


def out_of_order(events: Iterable[EventRow]) -> list[int]:
    """Applied events that were applied after a later-recorded event of the same enrollment.

    Recording order is the event id (the log's order); applied order is applied_seq. An event
    recovered late, after newer events of its enrollment were applied, counts once, and so
    does each other event overtaken the same way.
    """
    by_enrollment: dict[str, list[EventRow]] = defaultdict(list)
    for event in events:
        if event.applied_seq is not None:
            by_enrollment[event.enrollment_id].append(event)
    found = []
    for applied in by_enrollment.values():
        newest = -1  # the highest event id applied so far
        for event in sorted(applied, key=lambda e: (e.applied_seq or 0, e.id)):
            if event.id < newest:
                found.append(event.id)
            newest = max(newest, event.id)
    return sorted(found)


def duplicated(
    events: Iterable[EventRow], staff_tasks: Iterable[tuple[str, str]]
) -> dict[str, list[str]]:
    """What was done twice, by kind: each entry names the enrollment and what was repeated.

    `staff_tasks` are (enrollment_id, engine_task) pairs, one per staff_task row.
    """
    completions: Counter[tuple[str, str]] = Counter()
    timers: Counter[tuple[str, str]] = Counter()
    seqs: Counter[tuple[str, int]] = Counter()
    for event in events:
        if event.applied_seq is None:
            continue
        seqs[(event.enrollment_id, event.applied_seq)] += 1
        if event.type == "task_completed":
            completions[(event.enrollment_id, str(event.data.get("task")))] += 1
        elif event.type == "timer_fired":
            timers[(event.enrollment_id, str(event.data.get("timer")))] += 1
    tasks = Counter(staff_tasks)

    def repeated(counts: Counter[Any]) -> list[str]:
        return sorted(f"{key[0]}:{key[1]} x{n}" for key, n in counts.items() if n > 1)

    return {
        "task_completion_applied_twice": repeated(completions),
        "timer_fired_twice": repeated(timers),
        "applied_seq_repeated": repeated(seqs),
        "staff_task_twice_for_one_engine_task": repeated(tasks),
    }


def stuck(
    events: Iterable[EventRow],
    timers: Iterable[TimerRow],
    on_hold_idle: Iterable[str],
    intended_holds: Iterable[str],
    now: datetime,
    older_than: float,
) -> dict[str, list[str]]:
    """Enrollments that cannot move on by themselves, by reason.

    Unprocessed events or unfired due timers older than `older_than` seconds at `now`, and
    enrollments on hold with no open task to resume them (`on_hold_idle`) that the driver did
    not leave on hold on purpose.
    """
    waiting = {
        e.enrollment_id
        for e in events
        if e.processed_at is None and (now - e.recorded_at).total_seconds() > older_than
    }
    unfired = {
        t.enrollment_id
        for t in timers
        if t.fired_at is None
        and t.cancelled_at is None
        and (now - t.due_at).total_seconds() > older_than
    }
    held = set(on_hold_idle) - set(intended_holds)
    return {
        "unprocessed_events": sorted(waiting),
        "timers_never_fired": sorted(unfired),
        "on_hold_with_nothing_to_resume": sorted(held),
    }


def lateness(timers: Iterable[TimerRow]) -> list[float]:
    """Seconds from each fired timer's due time to its firing (the beat sweep's delay)."""
    return sorted((t.fired_at - t.due_at).total_seconds() for t in timers if t.fired_at is not None)


def applied_lateness(timers: Iterable[TimerRow], events: Iterable[EventRow]) -> list[float]:
    """Seconds from each fired timer's due time to its timer_fired event being processed
    (the sweep's delay plus the queue's): what a patient's pathway actually waited."""
    processed = {
        (e.enrollment_id, str(e.data.get("timer"))): e.processed_at
        for e in events
        if e.type == "timer_fired" and e.processed_at is not None
    }
    found = []
    for timer in timers:
        at = processed.get((timer.enrollment_id, timer.engine_timer))
        if timer.fired_at is not None and at is not None:
            found.append((at - timer.due_at).total_seconds())
    return sorted(found)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of sorted `values`; None when there are none."""
    if not values:
        return None
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]
