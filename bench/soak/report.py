"""The soak's figures: read the database once at the end, count, print, and say what failed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bench.soak.checks import (
    EventRow,
    TimerRow,
    applied_lateness,
    duplicated,
    lateness,
    lost,
    out_of_order,
    percentile,
    stuck,
)
from bench.soak.records import Chaos, Driven, Replay
from pathways.store.tables import OPEN_TASK_STATUSES, Enrollment, PathwayEvent, StaffTask, Timer

SAMPLES = 5  # ids shown per failing figure, to start looking from


@dataclass
class Figures:
    """Everything the soak reports."""

    minutes: float
    workers: int
    enrollments: int
    events_posted: int
    events_recorded: int
    events_applied: int
    events_rejected: int
    events_unprocessed: int
    lost: int
    duplicated: int
    out_of_order: int
    stuck: int
    timers_fired: int
    timer_lateness_p50_s: float | None
    timer_lateness_p99_s: float | None
    timer_applied_p50_s: float | None
    timer_applied_p99_s: float | None
    worker_kills: int
    worker_exits: int
    redis_restarts: int
    beat_restarts: int
    posts_refused: int
    api_server_errors: int
    api_connection_errors: int
    api_deadlocks: int
    posts_given_up: int
    drained: bool
    replay_passed: bool
    replay_enrollments: int
    replay_differ: int
    details: dict[str, Any] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """Why the soak fails; empty when it passes."""
        reasons = [
            f"{name} = {value}"
            for name, value in (
                ("lost", self.lost),
                ("duplicated", self.duplicated),
                ("out_of_order", self.out_of_order),
                ("stuck", self.stuck),
                ("posts_given_up", self.posts_given_up),
            )
            if value
        ]
        if not self.replay_passed:
            reasons.append(f"replay: {self.replay_differ} enrollment(s) differ")
        return reasons

    def as_json(self) -> str:
        """The figures, failures included, as one JSON document."""
        return json.dumps({**asdict(self), "failures": self.failures()}, indent=2, default=str)

    def table(self) -> str:
        """The figures as an aligned two-column table, then the failures."""
        rows = [(name, _show(value)) for name, value in asdict(self).items() if name != "details"]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        for name, samples in self.details.items():
            if samples:
                lines.append(f"  {name}: {', '.join(map(str, samples[:SAMPLES]))}")
        failures = self.failures()
        lines.append("FAILED: " + "; ".join(failures) if failures else "PASSED")
        return "\n".join(lines)


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _events(session: Session) -> list[EventRow]:
    return [
        EventRow(
            e.id or 0,
            e.enrollment_id,
            e.type,
            e.data if isinstance(e.data, dict) else {},
            e.recorded_at,
            e.processed_at,
            e.applied_seq,
            e.rejected_reason is not None,
        )
        for e in session.exec(select(PathwayEvent))
    ]


def _on_hold_idle(session: Session) -> list[str]:
    """Enrollments on hold with no open staff task (nothing a person could do resumes them)."""
    busy = select(StaffTask.enrollment_id).where(col(StaffTask.status).in_(OPEN_TASK_STATUSES))
    return list(
        session.exec(
            select(Enrollment.id).where(
                Enrollment.status == "on_hold", col(Enrollment.id).not_in(busy)
            )
        )
    )


def intended_holds(holds: dict[str, tuple[str, int]], events: list[EventRow]) -> set[str]:
    """Enrollments the driver left on hold: its last word was a hold, or a resume refused."""
    rejected = {event.id for event in events if event.rejected}
    return {e for e, (kind, event) in holds.items() if kind == "hold" or event in rejected}


def figures(
    engine: Engine,
    minutes: float,
    workers: int,
    driven: Driven,
    chaos: Chaos,
    replayed: Replay,
    now: datetime,
    stuck_after: float,
    drained: bool,
) -> Figures:
    """Read the tables and count."""
    with Session(engine) as session:
        events = _events(session)
        tasks = [(t.enrollment_id, t.engine_task) for t in session.exec(select(StaffTask))]
        timers = [
            TimerRow(t.enrollment_id, t.due_at, t.fired_at, t.cancelled_at, t.engine_timer)
            for t in session.exec(select(Timer))
        ]
        idle = _on_hold_idle(session)
    missing = lost(driven.accepted, events)
    twice = duplicated(events, tasks)
    overtaken = out_of_order(events)
    stalled = stuck(events, timers, idle, intended_holds(driven.holds, events), now, stuck_after)
    stuck_ids = sorted({e for ids in stalled.values() for e in ids})
    late = lateness(timers)
    waited = applied_lateness(timers, events)
    return Figures(
        minutes=minutes,
        workers=workers,
        enrollments=driven.enrollments,
        events_posted=len(driven.accepted),
        events_recorded=len(events),
        events_applied=sum(e.applied_seq is not None for e in events),
        events_rejected=sum(e.rejected for e in events),
        events_unprocessed=sum(e.processed_at is None for e in events),
        lost=len(missing),
        duplicated=sum(len(found) for found in twice.values()),
        out_of_order=len(overtaken),
        stuck=len(stuck_ids),
        timers_fired=len(late),
        timer_lateness_p50_s=percentile(late, 50),
        timer_lateness_p99_s=percentile(late, 99),
        timer_applied_p50_s=percentile(waited, 50),
        timer_applied_p99_s=percentile(waited, 99),
        worker_kills=chaos.worker_kills,
        worker_exits=chaos.worker_exits,
        redis_restarts=chaos.redis_restarts,
        beat_restarts=chaos.beat_restarts,
        posts_refused=driven.refused,
        api_server_errors=driven.server_errors,
        api_connection_errors=driven.connection_errors,
        api_deadlocks=chaos.api_deadlocks,
        posts_given_up=driven.given_up,
        drained=drained,
        replay_passed=replayed.passed,
        replay_enrollments=replayed.enrollments,
        replay_differ=replayed.differ,
        details={
            "lost_event_ids": missing[:SAMPLES],
            "out_of_order_event_ids": overtaken[:SAMPLES],
            **{f"duplicated_{kind}": found[:SAMPLES] for kind, found in twice.items()},
            **{f"stuck_{kind}": ids[:SAMPLES] for kind, ids in stalled.items()},
            "replay": [replayed.summary, *replayed.samples[:SAMPLES]],
        },
    )
