"""Reads the `steps` list: one step kind per step, nested lists for composites."""

from __future__ import annotations

from typing import Any

from pathways.durations import Duration
from pathways.language import PRIORITIES, STEP_COMMON, STEP_KIND_KEYS, STEP_KINDS, TREATMENT
from pathways.limits import MAX_LONG_TEXT_CHARS
from pathways.model import (
    Branch,
    Call,
    Decide,
    End,
    Notify,
    Parallel,
    Phase,
    Repeat,
    Step,
    Task,
    Wait,
)
from pathways.problems import Problems, Span
from pathways.reading.fields import read_fields
from pathways.reading.values import (
    as_list,
    as_mapping,
    check_keys,
    describe,
    parse_expression,
    plain,
    read_choice,
    read_duration,
    read_expression,
    read_id,
    read_integer,
    read_text,
)
from pathways.yamlsource import Mapping, Node, Scalar

_KIND_WORDS = ", ".join(STEP_KINDS)


def read_steps(
    problems: Problems, node: Node | None, where: str, what: str = "'steps'"
) -> tuple[Step, ...]:
    """Every readable step of a list; unreadable ones are reported and left out."""
    steps = []
    for index, item in enumerate(as_list(problems, node, where, what)):
        step = read_step(problems, item, f"{where}[{index}]")
        if step is not None:
            steps.append(step)
    return tuple(steps)


def read_step(problems: Problems, node: Node, fallback_where: str) -> Step | None:
    """One step, or None when it is too broken to check further."""
    mapping = as_mapping(problems, node, fallback_where, "a step")
    if mapping is None:
        return None
    step_id = read_id(problems, mapping.get("id"), fallback_where, "a step id")
    where = step_id or fallback_where
    kinds = [kind for kind in STEP_KINDS[:-1] if kind in mapping.entries]
    if not kinds and "steps" in mapping.entries:
        kinds = ["steps"]
    if not kinds:
        problems.add(mapping.span, where, "step has no kind", f"add one of: {_KIND_WORDS}")
        return None
    if len(kinds) > 1:
        problems.add(
            mapping.span,
            where,
            f"step has more than one kind: {' and '.join(kinds)}",
            "split it into one step per kind",
        )
        return None
    kind = kinds[0]
    keys = (*STEP_COMMON, *STEP_KIND_KEYS[kind])
    context = "a phase" if kind == "steps" else f"a {kind} step"
    required = [key.name for key in keys if key.required]
    if kind == "steps":
        required.append("title")
    allowed = [key.name for key in keys]
    if kind != "task" and TREATMENT.name in mapping.entries:
        # Said plainly rather than as an unknown key: only a task's completion is a moment.
        problems.add(
            mapping.key_span(TREATMENT.name),
            where,
            f"'treatment' marks a task step, not {context}",
            "put treatment: true on the task that delivers the treatment"
            + (" (the called pathway's own task counts)" if kind == "call" else ""),
        )
        allowed.append(TREATMENT.name)
    check_keys(problems, mapping, allowed, required, where, context)
    if step_id is None:
        return None
    common: dict[str, Any] = {
        "id": step_id,
        "span": mapping.span,
        "spans": {key: value.span for key, (_, value) in mapping.entries.items()},
        "title": read_text(problems, mapping.get("title"), where, "'title'") or "",
        "when": read_expression(problems, mapping.get("when"), where, "when"),
        "then": read_id(problems, mapping.get("then"), where, "a 'then' target"),
        "expected": read_duration(problems, mapping.get("expected"), where, "'expected'"),
    }
    return _READERS[kind](problems, mapping, where, common)


def _task(problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]) -> Step | None:
    title = read_text(problems, mapping.get("task"), where, "'task'")
    role = read_id(problems, mapping.get("role"), where, "a role")
    due = read_duration(problems, mapping.get("due"), where, "'due'")
    priority = read_choice(problems, mapping.get("priority"), where, "a priority", PRIORITIES)
    instructions = read_text(
        problems, mapping.get("instructions"), where, "'instructions'", MAX_LONG_TEXT_CHARS
    )
    record = (
        read_fields(problems, mapping.get("record"), where, "recorded field")
        if (mapping.get("record") is not None)
        else {}
    )
    treatment = _treatment(problems, mapping.get(TREATMENT.name), where)
    # A missing role or due is already reported; the step stays so its id still resolves.
    common = {**common, "title": title or common["title"]}
    return Task(
        **common,
        role=role or "",
        due=due or Duration(),
        priority=priority or "routine",
        instructions=instructions or "",
        record=tuple(record.values()),
        treatment=treatment,
    )


def _treatment(problems: Problems, node: Node | None, where: str) -> bool:
    """`treatment: true` or false; anything else is reported with how to write it."""
    if node is None:
        return False
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    problems.add(
        node.span,
        where,
        f"'treatment' must be true or false, got {describe(node)}",
        "write treatment: true on the task that delivers the treatment, or leave it out",
    )
    return False


def _wait(problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]) -> Step | None:
    node = mapping.get("wait")
    if isinstance(node, Mapping) and "until" in node.entries:
        check_keys(problems, node, ("until",), ("until",), where, "a wait for a slot")
        slot = read_id(problems, node.get("until"), where, "a slot name")
        return Wait(**common, until=slot)
    duration = read_duration(problems, node, where, "wait")
    return Wait(**common, duration=duration)


def _decide(
    problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]
) -> Step | None:
    branches = []
    for item in as_list(problems, mapping.get("decide"), where, "'decide'"):
        branch = as_mapping(problems, item, where, "a decide branch")
        if branch is None or not check_keys(
            problems, branch, ("if", "then"), ("if", "then"), where, "a decide branch"
        ):
            continue
        condition = read_expression(problems, branch.get("if"), where, "if")
        target = read_id(problems, branch.get("then"), where, "a decide target")
        then_node = branch.get("then")
        assert then_node is not None
        if condition is not None and target is not None:
            branches.append(Branch(condition, target, branch.span, then_node.span))
    otherwise = read_id(problems, mapping.get("else"), where, "an 'else' target")
    usual = read_id(problems, mapping.get("usual"), where, "a 'usual' target")
    return Decide(**common, branches=tuple(branches), otherwise=otherwise, usual=usual)


def _parallel(
    problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]
) -> Step | None:
    branches = read_steps(problems, mapping.get("parallel"), where, "'parallel'")
    return Parallel(**common, branches=branches)


def _repeat(
    problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]
) -> Step | None:
    node = mapping.get("repeat")
    count: int | str | None
    if isinstance(node, Scalar) and isinstance(node.value, str):
        count = read_id(problems, node, where, "an integer parameter")
    elif (
        isinstance(node, Scalar)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        count = read_integer(problems, node, where, "'repeat'", minimum=1)
    else:
        assert node is not None
        problems.add(
            node.span,
            where,
            f"repeat needs an integer or an integer parameter, got {describe(node)}",
            "write repeat: 6 or repeat: cycles",
        )
        count = None
    counter = read_id(problems, mapping.get("counter"), where, "a counter name")
    body = read_steps(problems, mapping.get("steps"), where)
    return Repeat(
        **common,
        count=count if count is not None else 1,
        counter=counter or common["id"],
        body=body,
    )


def _phase(problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]) -> Step | None:
    return Phase(**common, body=read_steps(problems, mapping.get("steps"), where))


def _call(problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]) -> Step | None:
    pathway = read_id(problems, mapping.get("call"), where, "a pathway id")
    version = read_integer(problems, mapping.get("version"), where, "'version'", minimum=1)
    arguments: dict[str, Any] = {}
    given = as_mapping(problems, mapping.get("with"), where, "'with'")
    for name, (_, value) in given.entries.items() if given else ():
        if isinstance(value, Scalar) and isinstance(value.value, str):
            expression = parse_expression(problems, value, where, f"'with.{name}'")
            if expression is not None:
                arguments[name] = expression
        elif isinstance(value, Scalar) and value.value is not None:
            arguments[name] = value.value
        else:
            problems.add(value.span, where, f"'with.{name}' must be a value or an expression")
    return Call(**common, pathway=pathway or "", version=version, arguments=arguments)


def _notify(
    problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]
) -> Step | None:
    text = read_text(problems, mapping.get("notify"), where, "'notify'")
    to = read_id(problems, mapping.get("to"), where, "a role")
    priority = read_choice(problems, mapping.get("priority"), where, "a priority", PRIORITIES)
    return Notify(**common, text=text or "", to=to or "", priority=priority or "routine")


def _end(problems: Problems, mapping: Mapping, where: str, common: dict[str, Any]) -> Step | None:
    outcome = read_id(problems, mapping.get("end"), where, "an outcome")
    return End(**common, outcome=outcome or "completed")


_READERS = {
    "task": _task,
    "wait": _wait,
    "decide": _decide,
    "parallel": _parallel,
    "repeat": _repeat,
    "steps": _phase,
    "call": _call,
    "notify": _notify,
    "end": _end,
}


def span_of(step: Step, key: str) -> Span:
    """Where a key of a step is written (the step itself when the key is absent)."""
    return step.spans.get(key, step.span)


__all__ = ["plain", "read_step", "read_steps", "span_of"]
