"""`on:` handlers: events that may arrive at any time, and the review tasks they create."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathways.model import Handler
from pathways.runtime.checks import check_recorded
from pathways.runtime.effects import AuditEntry, CreateTask, EnrollmentChanged
from pathways.runtime.effects import Notify as NotifyEffect
from pathways.runtime.events import EventRejected
from pathways.runtime.holds import add_hold, release
from pathways.runtime.running import RunningPathway, cancel_handler_tasks
from pathways.runtime.state import TERMINAL, iso


def handle(top: RunningPathway, event: str, payload: dict[str, Any]) -> None:
    acted = []
    for running in list(top.every_frame()):
        handler = _first_match(running, running.definition.pathway.handlers.get(event, ()), payload)
        if handler is not None:
            acted.append(handler.where)
            _act(top, running, handler, payload)
        if top.changes.root["status"] in TERMINAL:
            break
    top.changes.effects.append(AuditEntry(event, {"handlers": acted, **_safe(payload)}))


def _safe(payload: Mapping[str, Any]) -> dict[str, Any]:
    # Codes and numbers only: free text may carry PHI and stays out of the audit detail.
    return {
        key: value
        for key, value in payload.items()
        if key in ("grade", "term", "test", "kind", "study")
    }


def _first_match(
    running: RunningPathway, handlers: tuple[Handler, ...], payload: dict[str, Any]
) -> Handler | None:
    for handler in handlers:
        if handler.condition is None:
            return handler
        matched = running.evaluate(handler.condition, payload)
        if matched is True:
            return handler
    return None


def _act(
    top: RunningPathway, running: RunningPathway, handler: Handler, payload: dict[str, Any]
) -> None:
    changes = top.changes
    if handler.stop:
        stop(top, handler.stop, f"{handler.event}: {handler.where}")
        return
    task_id = None
    if handler.task is not None:
        task_id = changes.new_id("T")
        due = running.task_due(handler.task.due, changes.now)
        changes.root["handler_tasks"][task_id] = {
            "path": running.path(),
            "event": handler.event,
            "index": handler.index,
            "hold": handler.hold,
            "ready": changes.stamp,
            "due": iso(due),
            "payload": payload,
        }
        changes.effects.append(
            CreateTask(
                task=task_id,
                step=handler.where,
                title=running.render(handler.task.title, payload),
                role=handler.task.role,
                due=due,
                priority=handler.task.priority,
                instructions=running.render(handler.task.instructions, payload),
                record=tuple(field.name for field in handler.task.record),
                pathway=running.definition.key,
            )
        )
    if handler.notify is not None and handler.notify_to is not None:
        changes.effects.append(
            NotifyEffect(
                handler.notify_to,
                running.render(handler.notify, payload),
                priority=handler.priority,
                step=handler.where,
            )
        )
    if handler.hold:
        add_hold(top, "handler", f"{handler.event} under review ({handler.where})", task_id)


def handler_task_ended(
    top: RunningPathway, task: str, data: dict[str, Any], *, skipped: bool, reason: str = ""
) -> None:
    root = top.changes.root
    entry = root["handler_tasks"][task]
    definition = top.definition
    for call in entry["path"]:
        definition = definition.callees[call]
    handler = definition.pathway.handlers[entry["event"]][entry["index"]]
    assert handler.task is not None
    if skipped and entry["hold"]:
        raise EventRejected(
            f"review task {task} decides whether treatment resumes: complete it "
            "with a decision instead of skipping it"
        )
    if not skipped:
        check_recorded(handler.task.record, data, root["projection"])
    running = _frame_at(top, entry["path"]) or top
    running.frame["data"].update(data)
    del root["handler_tasks"][task]
    root["frame"]["work"] += 1
    top.changes.effects.append(
        AuditEntry(
            "task_skipped" if skipped else "task_completed",
            {"task": task, "step": handler.where, "recorded": sorted(data), "reason": reason},
        )
    )
    if not entry["hold"]:
        return
    if data.get("decision") == "stop":
        stop(top, "stopped_after_review", f"review {task} decided to stop")
        return
    release(top, lambda hold: hold["task"] == task, f"review {task}: {data.get('decision')}")


def _frame_at(top: RunningPathway, path: list[str]) -> RunningPathway | None:
    running = top
    for call in path:
        child = next((c for c in running.children() if c.parent and c.parent[1] == call), None)
        if child is None:
            return None
        running = child
    return running


def stop(top: RunningPathway, outcome: str, reason: str) -> None:
    changes = top.changes
    top.cancel_all(f"stopped: {reason}")
    cancel_handler_tasks(changes, f"stopped: {reason}")
    changes.root["status"], changes.root["outcome"] = "stopped", outcome
    changes.effects.append(AuditEntry("stopped", {"outcome": outcome, "reason": reason}))
    changes.effects.append(EnrollmentChanged("stopped", reason=reason, outcome=outcome))
