"""Reads `on:`: handlers for events that may arrive at any time."""

from __future__ import annotations

from pathways.durations import Duration
from pathways.language import BUILTIN_EVENTS, HANDLER_NAMES, PRIORITIES
from pathways.limits import MAX_LONG_TEXT_CHARS
from pathways.model import Field, Handler, HandlerTask
from pathways.problems import Problems, did_you_mean
from pathways.reading.fields import read_fields
from pathways.reading.values import (
    as_list,
    as_mapping,
    check_keys,
    read_boolean,
    read_choice,
    read_duration,
    read_expression,
    read_id,
    read_text,
)
from pathways.yamlsource import Mapping, Node, Scalar

HOLD_HINT = "add task, role, due and record: {decision: {enum: [resume, stop]}}"


def read_handlers(
    problems: Problems, node: Node | None, events: dict[str, dict[str, Field]]
) -> dict[str, tuple[Handler, ...]]:
    """Handlers per event type; unknown event types are reported."""
    mapping = as_mapping(problems, node, "on", "'on'")
    known = set(BUILTIN_EVENTS) | set(events)
    handlers: dict[str, tuple[Handler, ...]] = {}
    for raw_event, (key_span, value) in mapping.entries.items() if mapping else ():
        event = read_id(problems, Scalar(raw_event, key_span), "on", "an event name")
        if event is None:
            continue
        if event not in known:
            problems.add(
                key_span,
                f"on.{event}",
                f"unknown event '{event}'",
                did_you_mean(event, known) + " (declare new events under 'events')",
            )
            continue
        items = as_list(problems, value, f"on.{event}", f"the handlers of '{event}'")
        read = [_read_handler(problems, event, index, item) for index, item in enumerate(items)]
        handlers[event] = tuple(handler for handler in read if handler is not None)
    return handlers


def _read_handler(problems: Problems, event: str, index: int, node: Node) -> Handler | None:
    where = f"on.{event}[{index}]"
    mapping = as_mapping(problems, node, where, "a handler")
    if mapping is None:
        return None
    check_keys(problems, mapping, HANDLER_NAMES, (), where, "a handler")
    task = _read_task(problems, mapping, where)
    notify = read_text(problems, mapping.get("notify"), where, "'notify'")
    notify_to = read_id(problems, mapping.get("to"), where, "a role")
    if notify is not None and notify_to is None and mapping.get("to") is None:
        problems.add(mapping.span, where, "missing required key 'to'", "name the role notified")
    hold = bool(read_boolean(problems, mapping.get("hold"), where, "'hold'"))
    stop = read_id(problems, mapping.get("stop"), where, "an outcome")
    handler = Handler(
        event=event,
        index=index,
        span=mapping.span,
        spans={key: value.span for key, (_, value) in mapping.entries.items()},
        condition=read_expression(problems, mapping.get("if"), where, "if"),
        hold=hold,
        task=task,
        notify=notify,
        notify_to=notify_to,
        stop=stop,
        priority=task.priority
        if task
        else read_choice(problems, mapping.get("priority"), where, "a priority", PRIORITIES)
        or "routine",
    )
    if not (hold or task or notify or stop):
        problems.add(
            mapping.span,
            where,
            "the handler does nothing",
            "give it a task, a notify, hold: true or stop: OUTCOME",
        )
    if hold and not _decides(task):
        problems.add(
            mapping.span,
            where,
            "a holding handler needs a review task that records 'decision' "
            "(an enum including 'resume')",
            HOLD_HINT,
        )
    return handler


def _read_task(problems: Problems, mapping: Mapping, where: str) -> HandlerTask | None:
    title = read_text(problems, mapping.get("task"), where, "'task'")
    if title is None:
        for key in ("role", "due", "record", "instructions"):
            if key in mapping.entries:
                problems.add(mapping.key_span(key), where, f"'{key}' only applies with 'task'")
        return None
    for key in ("role", "due"):
        if key not in mapping.entries:
            problems.add(
                mapping.span,
                where,
                f"missing required key '{key}'",
                f"a handler's task needs '{key}'",
            )
    record = (
        read_fields(problems, mapping.get("record"), where, "recorded field")
        if (mapping.get("record") is not None)
        else {}
    )
    return HandlerTask(
        title=title,
        role=read_id(problems, mapping.get("role"), where, "a role") or "",
        due=read_duration(problems, mapping.get("due"), where, "'due'") or Duration(),
        priority=read_choice(problems, mapping.get("priority"), where, "a priority", PRIORITIES)
        or "routine",
        instructions=read_text(
            problems, mapping.get("instructions"), where, "'instructions'", MAX_LONG_TEXT_CHARS
        )
        or "",
        record=tuple(record.values()),
    )


def _decides(task: HandlerTask | None) -> bool:
    if task is None:
        return False
    return any(field.name == "decision" and "resume" in field.enum for field in task.record)
