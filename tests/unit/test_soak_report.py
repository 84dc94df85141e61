"""The soak's counts over hand-made rows: a soak blind to a loss or a reordering passes anything."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

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
from bench.soak.report import Figures, intended_holds
from bench.soak.values import plausible

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(
    event_id: int,
    seq: int | None,
    enrollment: str = "e1",
    kind: str = "hold",
    data: dict[str, Any] | None = None,
    processed: bool = True,
    rejected: bool = False,
    recorded: datetime = T0,
) -> EventRow:
    return EventRow(
        event_id,
        enrollment,
        kind,
        data or {},
        recorded,
        recorded + timedelta(seconds=1) if processed else None,
        seq,
        rejected,
    )


def test_an_event_applied_after_a_newer_one_of_its_enrollment_is_out_of_order() -> None:
    # 10 was recovered late: 11 and 12 were applied before it
    rows = [event(1, 1), event(10, 4), event(11, 2), event(12, 3)]
    assert out_of_order(rows) == [10]


def test_events_applied_in_recording_order_are_not_out_of_order() -> None:
    rows = [event(1, 1), event(5, 2), event(9, 3), event(2, 1, "e2"), event(3, 2, "e2")]
    assert out_of_order(rows) == []


def test_order_is_judged_per_enrollment_and_rejected_events_are_left_out() -> None:
    rows = [
        event(1, 1, "e1"),
        event(2, 1, "e2"),
        event(3, 2, "e1"),
        event(4, None, "e1", rejected=True),  # rejected: no applied_seq, no place in the order
        event(5, 2, "e2"),
    ]
    assert out_of_order(rows) == []


def test_each_event_overtaken_by_a_newer_one_counts_once() -> None:
    rows = [event(1, 1), event(4, 2), event(2, 3), event(3, 4)]
    assert out_of_order(rows) == [2, 3]


def test_an_accepted_event_missing_or_unprocessed_at_the_end_is_lost() -> None:
    rows = [event(1, 1), event(2, None, processed=False), event(3, None, rejected=True)]
    assert lost({1, 2, 3, 7}, rows) == [2, 7]


def test_a_rejected_event_is_processed_not_lost() -> None:
    assert lost({3}, [event(3, None, rejected=True)]) == []


def test_a_task_completion_applied_twice_is_a_duplicate() -> None:
    done = {"task": "T3", "data": {}}
    rows = [
        event(1, 1, kind="enrolled"),
        event(2, 2, kind="task_completed", data=done),
        event(3, 3, kind="task_completed", data=done),
        event(4, None, kind="task_completed", data=done, rejected=True),  # refused: fine
    ]
    found = duplicated(rows, [])
    assert found["task_completion_applied_twice"] == ["e1:T3 x2"]
    assert sum(len(v) for v in found.values()) == 1


def test_a_timer_fired_twice_a_repeated_seq_and_two_staff_tasks_are_duplicates() -> None:
    fired = {"timer": "W2"}
    rows = [
        event(1, 1, kind="timer_fired", data=fired),
        event(2, 2, kind="timer_fired", data=fired),
        event(3, 2, "e2"),
        event(4, 2, "e2"),
    ]
    found = duplicated(rows, [("e1", "T1"), ("e1", "T1"), ("e1", "T2")])
    assert found["timer_fired_twice"] == ["e1:W2 x2"]
    assert found["applied_seq_repeated"] == ["e2:2 x2"]
    assert found["staff_task_twice_for_one_engine_task"] == ["e1:T1 x2"]


def test_distinct_tasks_and_timers_are_not_duplicates() -> None:
    rows = [
        event(1, 1, kind="task_completed", data={"task": "T1"}),
        event(2, 2, kind="task_completed", data={"task": "T2"}),
        event(3, 3, kind="timer_fired", data={"timer": "W1"}),
        event(4, 1, "e2", kind="task_completed", data={"task": "T1"}),
    ]
    assert not any(duplicated(rows, [("e1", "T1"), ("e2", "T1")]).values())


def test_old_unprocessed_events_unfired_timers_and_unintended_holds_are_stuck() -> None:
    now = T0 + timedelta(minutes=5)
    rows = [
        event(1, None, "old", processed=False, recorded=T0),
        event(2, None, "fresh", processed=False, recorded=now - timedelta(seconds=5)),
    ]
    timers = [
        TimerRow("late", T0, None, None),
        TimerRow("cancelled", T0, None, T0),
        TimerRow("fired", T0, T0, None),
        TimerRow("future", now + timedelta(hours=1), None, None),
    ]
    found = stuck(rows, timers, ["held", "on_purpose"], ["on_purpose"], now, 60)
    assert found == {
        "unprocessed_events": ["old"],
        "timers_never_fired": ["late"],
        "on_hold_with_nothing_to_resume": ["held"],
    }


def test_a_hold_whose_resume_was_refused_is_still_one_the_driver_meant() -> None:
    rows = [event(7, None, "e2", kind="resume", rejected=True), event(8, 3, "e3", kind="resume")]
    holds = {"e1": ("hold", 5), "e2": ("resume", 7), "e3": ("resume", 8)}
    assert intended_holds(holds, rows) == {"e1", "e2"}


def test_lateness_is_from_due_to_fired_and_to_applied() -> None:
    timers = [
        TimerRow("e1", T0, T0 + timedelta(seconds=2), None, "W1"),
        TimerRow("e1", T0, T0 + timedelta(seconds=1), None, "W2"),
        TimerRow("e1", T0, None, None, "W3"),
    ]
    applied = event(9, 5, kind="timer_fired", data={"timer": "W1"}, recorded=T0)
    assert lateness(timers) == [1.0, 2.0]
    assert applied_lateness(timers, [applied]) == [1.0]  # processed 1 s after T0


def test_percentiles_take_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 50) is None


def figures(**changed: Any) -> Figures:
    base: dict[str, Any] = {
        name: 0 for name in Figures.__dataclass_fields__ if name not in ("details",)
    }
    base |= {"drained": True, "replay_passed": True, "minutes": 1.0}
    base |= {"timer_lateness_p50_s": None, "timer_lateness_p99_s": None}
    base |= {"timer_applied_p50_s": None, "timer_applied_p99_s": None}
    return Figures(**(base | changed))


def test_the_soak_fails_on_any_loss_duplicate_reordering_stuck_or_replay_difference() -> None:
    assert figures().failures() == []
    for name in ("lost", "duplicated", "out_of_order", "stuck"):
        assert figures(**{name: 1}).failures() == [f"{name} = 1"]
    assert figures(replay_passed=False, replay_differ=2).failures() == [
        "replay: 2 enrollment(s) differ"
    ]


def test_the_json_report_names_every_figure_and_the_failures() -> None:
    report = json.loads(figures(lost=3).as_json())
    assert report["lost"] == 3 and report["failures"] == ["lost = 3"]
    assert {"out_of_order", "timer_lateness_p99_s", "worker_kills", "replay_passed"} <= set(report)
    assert figures().table().endswith("PASSED")


def test_the_staff_record_values_a_form_accepts() -> None:
    form = [
        {"name": "grade", "type": "integer", "required": True, "minimum": 1, "maximum": 5},
        {"name": "site", "type": "string", "required": True, "enum": ["cervical", "lumbar"]},
        {"name": "qa_passed", "type": "boolean", "required": True},
        {"name": "anc", "type": "number", "required": True},
    ]
    for seed in range(50):
        values = plausible(form, random.Random(seed))
        assert 1 <= values["grade"] <= 5 and isinstance(values["grade"], int)
        assert values["site"] in ("cervical", "lumbar")
        assert isinstance(values["qa_passed"], bool)
        assert 800 <= values["anc"] <= 4000  # around the chemotherapy thresholds
