"""What an enrollment takes from people, and durations no date can overflow (pure)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pathways.durations import parse_iso
from pathways.runtime.admission import Refusal, admission, sendable
from pathways.runtime.definition import Definition
from tests.conftest import check_yaml, messages

LONG_WAIT = """\
pathway: long_wait
version: 1
title: A wait no calendar can hold
modality: surveillance
roles: [radiology]
steps:
  - {id: scan, task: Spine MRI, role: radiology, due: P3D}
  - {id: later, wait: P99999999Y}
"""


def test_a_duration_of_a_century_is_the_longest_there_is() -> None:
    assert parse_iso("P100Y") is not None and parse_iso("P36600D") is not None
    assert parse_iso("P101Y") is None and parse_iso("P99999999Y") is None
    assert parse_iso("P" + "9" * 5000 + "D") is None  # not a crash on int() of 5,000 digits


def test_a_definition_with_an_overlong_wait_is_refused_naming_the_maximum(tmp_path: Path) -> None:
    problems = check_yaml(LONG_WAIT, tmp_path)
    assert any("not an ISO 8601 duration" in m for m in messages(problems)), messages(problems)
    assert any("P100Y" in (problem.hint or "") for problem in problems)


def test_engine_events_and_task_events_are_not_taken_from_people(
    definitions: Callable[[str], Definition],
) -> None:
    chemotherapy = definitions("chemotherapy")
    assert "timer_fired" not in sendable(chemotherapy)
    timer = admission(chemotherapy, "active", "timer_fired", {"timer": "W1"})
    assert timer is not None and "send one of: adverse_event, data_recorded" in timer.reason
    task = admission(chemotherapy, "active", "task_completed", {"task": "T1", "data": {}})
    assert task is not None and "complete the task instead" in task.reason


@pytest.mark.parametrize("status", ["completed", "stopped", "withdrawn"])
def test_an_ended_enrollment_takes_nothing_more(
    definitions: Callable[[str], Definition], status: str
) -> None:
    refusal = admission(definitions("chemotherapy"), status, "hold", {"reason": "x"})
    assert refusal == Refusal(f"the enrollment is {status}; it takes no more events", ended=True)


@pytest.mark.parametrize(
    ("event_type", "data", "fragment"),
    [
        ("adverse_event", {"term": "nausea", "grade": True}, "got True"),
        ("adverse_event", {"term": " ", "grade": 2}, "the term of an adverse event"),
        ("lab_result", {"test": "anc", "value": "low"}, "'value': 'low' is not a number"),
        ("data_recorded", {"step": "nope", "data": {}, "reason": "EHR"}, "no task step 'nope'"),
        ("hold", {"reason": "x", "why": "y"}, "unexpected why"),
    ],
)
def test_event_data_must_be_typed_as_the_pathway_declares(
    definitions: Callable[[str], Definition],
    event_type: str,
    data: dict[str, object],
    fragment: str,
) -> None:
    refusal = admission(definitions("chemotherapy"), "active", event_type, data)
    assert refusal is not None and fragment in refusal.reason and not refusal.ended


def test_a_pathways_own_event_is_taken_only_where_it_is_declared(
    definitions: Callable[[str], Definition],
) -> None:
    surgery, chemotherapy = definitions("surgery"), definitions("chemotherapy")
    good = {"kind": "csf_leak", "details": "small"}
    assert admission(surgery, "on_hold", "surgical_complication", good) is None
    assert admission(chemotherapy, "active", "surgical_complication", good) is not None
    assert admission(surgery, "active", "lab_result", {"test": "anc", "value": 1.5}) is None
