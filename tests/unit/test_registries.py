"""Effects, events and step kinds are dispatched through registries that name every member."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from pathways import machine
from pathways.model import Step
from pathways.runtime.effects import AuditEntry, Effect
from pathways.runtime.engine import EVENTS_TAKEN
from pathways.runtime.events import Event
from pathways.runtime.running import KINDS_ENTERED
from pathways.store import effects as store_effects
from pathways.store.effects import WRITERS, UnknownEffect, unwritten_effects, write_effects
from tests.conftest import ROOT

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class PrintLabel:
    """An effect the store has never heard of."""

    text: str


def test_every_effect_the_engine_can_ask_for_has_a_writer() -> None:
    assert unwritten_effects() == set()
    assert set(WRITERS) == set(get_args(Effect))


def test_every_event_of_the_union_has_an_engine_handler() -> None:
    assert set(get_args(Event)) == EVENTS_TAKEN


def test_every_kind_of_state_the_machine_builds_is_entered_by_the_runtime() -> None:
    # The machine's own table of step kinds, asked through a bare instance of each step type.
    kinds = {machine._kind(object.__new__(kind)) for kind in Step.__subclasses__()}
    assert kinds | {"start", "finish", "join"} <= KINDS_ENTERED


def test_an_effect_without_a_writer_is_refused_loudly_not_dropped() -> None:
    session: Any = object()  # never reached: the unknown effect is refused first
    enrollment: Any = object()
    with pytest.raises(UnknownEffect, match="PrintLabel"):
        write_effects(session, enrollment, [PrintLabel("spine")], "navigator", NOW)  # type: ignore[list-item]


def test_a_second_writer_for_the_same_effect_is_refused() -> None:
    before = dict(WRITERS)
    with pytest.raises(UnknownEffect, match="two writers"):
        store_effects._writes(AuditEntry)(lambda *args: None)
    assert before == WRITERS


def _import_with_extra_member(union: str, module: str) -> subprocess.CompletedProcess[str]:
    """Import `module` in a fresh interpreter after adding a new member to `union`."""
    owner, name = union.rsplit(".", 1)
    script = (
        "import dataclasses, importlib\n"
        f"import {owner} as owner\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class PrintLabel:\n"
        "    text: str\n"
        f"owner.{name} = owner.{name} | PrintLabel\n"
        f"importlib.import_module('{module}')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_a_new_effect_without_a_writer_stops_the_store_from_importing() -> None:
    result = _import_with_extra_member("pathways.runtime.effects.Effect", "pathways.store.effects")
    assert result.returncode != 0
    assert "UnknownEffect: effects without a writer: PrintLabel" in result.stderr


def test_a_new_event_without_a_handler_stops_the_engine_from_importing() -> None:
    result = _import_with_extra_member("pathways.runtime.events.Event", "pathways.runtime.engine")
    assert result.returncode != 0
    assert "events without a handler" in result.stderr
    assert "PrintLabel" in result.stderr
