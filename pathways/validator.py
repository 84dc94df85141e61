"""Semantic checks of one pathway: ids, targets, roles, durations, expressions and flow."""

from __future__ import annotations

from string import Formatter

from pathways.durations import DURATION_HINT, DurationParameter, DurationSpec, WorkingDays
from pathways.expressions import Expression, ExpressionError
from pathways.graph import spinning_loops, unreachable_steps
from pathways.machine import compile_pathway
from pathways.model import Decide, Notify, Pathway, Repeat, Step, Task, Wait, walk
from pathways.problems import Problems, Span, did_you_mean
from pathways.scope import Scopes, build_scopes
from pathways.typecheck import NameType, check_condition


def check_pathway(pathway: Pathway, problems: Problems) -> None:
    """Report every semantic problem of a pathway that reading alone cannot see."""
    ids = _unique_ids(pathway, problems)
    _targets(pathway.steps, set(ids), problems)
    structure_sound = not problems
    _roles(pathway, problems)
    scopes = build_scopes(pathway, problems)
    for step in pathway.walk():
        names = scopes.at(step.id)
        _durations(pathway, step, problems)
        _expressions(step, names, problems)
        _texts(step, names, problems)
    _handlers(pathway, scopes, problems)
    if structure_sound:  # the flow checks need every id and target to resolve
        _flow(pathway, problems)


def _unique_ids(pathway: Pathway, problems: Problems) -> dict[str, Step]:
    seen: dict[str, Step] = {}
    for step in pathway.walk():
        if step.id in seen:
            problems.add(
                step.spans.get("id", step.span),
                step.id,
                f"duplicate step id '{step.id}' (first used on line {seen[step.id].span.line})",
                "step ids must be unique in the whole pathway",
            )
        else:
            seen[step.id] = step
    return seen


def _targets(steps: tuple[Step, ...], every_id: set[str], problems: Problems) -> None:
    siblings = {step.id for step in steps}
    for step in steps:
        if step.then is not None:
            if isinstance(step, Decide):
                problems.add(
                    step.spans["then"],
                    step.id,
                    "'then' does not apply to a decide step",
                    "use 'else'",
                )
            _target(
                step, step.then, "'then' target", step.spans["then"], siblings, every_id, problems
            )
        if isinstance(step, Decide):
            for branch in step.branches:
                _target(
                    step,
                    branch.target,
                    "decide target",
                    branch.target_span,
                    siblings,
                    every_id,
                    problems,
                )
            if step.usual is not None:
                choices = {branch.target for branch in step.branches} | {step.otherwise}
                if step.usual not in choices:
                    problems.add(
                        step.spans["usual"],
                        step.id,
                        f"'usual' target '{step.usual}' is not one of this decision's targets",
                        did_you_mean(step.usual, {c for c in choices if c}),
                    )
            if step.otherwise is not None:
                _target(
                    step,
                    step.otherwise,
                    "'else' target",
                    step.spans["else"],
                    siblings,
                    every_id,
                    problems,
                )
        for block in _blocks(step):
            _targets(block, every_id, problems)


def _blocks(step: Step) -> list[tuple[Step, ...]]:
    """The lists nested in a step: each parallel branch is a list of its own."""
    from pathways.model import Parallel

    if isinstance(step, Parallel):
        return [(branch,) for branch in step.branches]
    return [step.children()] if step.children() else []


def _target(
    step: Step,
    target: str,
    what: str,
    span: Span,
    siblings: set[str],
    every_id: set[str],
    problems: Problems,
) -> None:
    if target in siblings:
        return
    if target in every_id:
        problems.add(
            span,
            step.id,
            f"{what} '{target}' is not in the same list as this step",
            "jumps stay within one list; move the step or restructure the flow",
        )
    else:
        problems.add(
            span, step.id, f"{what} '{target}' does not exist", did_you_mean(target, siblings)
        )


def _roles(pathway: Pathway, problems: Problems) -> None:
    declared = set(pathway.roles)

    def check(role: str, span: Span, where: str) -> None:
        if role and role not in declared:
            problems.add(
                span,
                where,
                f"role '{role}' is not one of this pathway's roles",
                did_you_mean(role, declared) + " (or add it to 'roles')",
            )

    for step in pathway.walk():
        if isinstance(step, Task):
            check(step.role, step.spans.get("role", step.span), step.id)
        if isinstance(step, Notify):
            check(step.to, step.spans.get("to", step.span), step.id)
    for handlers in pathway.handlers.values():
        for handler in handlers:
            if handler.task:
                check(handler.task.role, handler.spans.get("role", handler.span), handler.where)
            if handler.notify_to:
                check(handler.notify_to, handler.spans.get("to", handler.span), handler.where)


def _durations(pathway: Pathway, step: Step, problems: Problems) -> None:
    specs: list[tuple[str, DurationSpec | None]] = [("expected", step.expected)]
    if isinstance(step, Task):
        specs.append(("due", step.due))
    if isinstance(step, Wait):
        specs.append(("wait", step.duration))
    for key, spec in specs:
        check_duration(pathway, spec, step.spans.get(key, step.span), step.id, problems)
    counted_by = step.count if isinstance(step, Repeat) else None
    if isinstance(counted_by, str) and not _is_parameter(pathway, counted_by, "integer"):
        integers = {name for name, p in pathway.parameters.items() if p.type == "integer"}
        problems.add(
            step.spans["repeat"],
            step.id,
            f"repeat needs an integer or an integer parameter; "
            f"'{counted_by}' is not an integer parameter",
            did_you_mean(counted_by, integers),
        )


def check_duration(
    pathway: Pathway, spec: DurationSpec | None, span: Span, where: str, problems: Problems
) -> None:
    """A duration parameter or working-day count must name a parameter of the right type."""
    if isinstance(spec, DurationParameter) and not _is_parameter(pathway, spec.name, "duration"):
        problems.add(
            span,
            where,
            f"'{spec.name}' is not an ISO 8601 duration nor a duration parameter",
            DURATION_HINT,
        )
    if (
        isinstance(spec, WorkingDays)
        and isinstance(spec.count, str)
        and not _is_parameter(pathway, spec.count, "integer")
    ):
        problems.add(
            span,
            where,
            f"working_days '{spec.count}' is not an integer parameter",
            "give a number or the name of an integer parameter",
        )


def _is_parameter(pathway: Pathway, name: str, type_name: str) -> bool:
    parameter = pathway.parameters.get(name)
    return parameter is not None and parameter.type == type_name


def _expressions(step: Step, names: dict[str, NameType], problems: Problems) -> None:
    if step.when is not None:
        _condition(step.when, names, step.spans["when"], step.id, "when", problems)
    if isinstance(step, Decide):
        for branch in step.branches:
            _condition(branch.condition, names, branch.span, step.id, "if", problems)


def _condition(
    expression: Expression,
    names: dict[str, NameType],
    span: Span,
    where: str,
    key: str,
    problems: Problems,
) -> None:
    try:
        check_condition(expression, names, key)
    except ExpressionError as error:
        problems.add(span, where, error.message, error.hint)


def _texts(step: Step, names: dict[str, NameType], problems: Problems) -> None:
    texts = []
    if isinstance(step, Task):
        texts = [("task", step.title), ("instructions", step.instructions)]
    elif isinstance(step, Notify):
        texts = [("notify", step.text)]
    for key, text in texts:
        check_text(text, names, step.spans.get(key, step.span), step.id, problems)


def check_text(
    text: str, names: dict[str, NameType], span: Span, where: str, problems: Problems
) -> None:
    """Every {name} in a text must be a plain name in scope."""
    try:
        parts = list(Formatter().parse(text))
    except ValueError:
        problems.add(span, where, "unbalanced braces in text", "write {{ and }} for literal braces")
        return
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            problems.add(
                span,
                where,
                f"'{{{field}}}' is not a plain name in text",
                "only {name} is allowed inside braces",
            )
        elif field not in names:
            problems.add(
                span, where, f"unknown name '{field}' in text", did_you_mean(field, set(names))
            )


def _handlers(pathway: Pathway, scopes: Scopes, problems: Problems) -> None:
    for event, handlers in pathway.handlers.items():
        names = scopes.in_handler(pathway, event)
        for handler in handlers:
            where = handler.where
            if handler.condition is not None:
                _condition(handler.condition, names, handler.spans["if"], where, "if", problems)
            if handler.task is not None:
                check_duration(
                    pathway,
                    handler.task.due,
                    handler.spans.get("due", handler.span),
                    where,
                    problems,
                )
                for key, text in (
                    ("task", handler.task.title),
                    ("instructions", handler.task.instructions),
                ):
                    check_text(text, names, handler.spans.get(key, handler.span), where, problems)
            if handler.notify is not None:
                check_text(handler.notify, names, handler.spans["notify"], where, problems)


def _flow(pathway: Pathway, problems: Problems) -> None:
    machine = compile_pathway(pathway)
    steps = {step.id: step for step in walk(pathway.steps)}
    for step_id in unreachable_steps(machine):
        step = steps[step_id]
        problems.add(
            step.spans.get("id", step.span),
            step_id,
            f"step '{step_id}' can never be reached",
            "nothing leads to it: remove it, or point a 'then' or a decide at it",
        )
    order = list(steps)
    for loop in spinning_loops(machine):
        # Report at the step that jumps back: the last of the loop in document order.
        closing = max((s for s in loop if s in steps), key=order.index)
        path = " -> ".join(loop)
        problems.add(
            steps[closing].span,
            closing,
            f"steps {path} form a loop with no task or wait in it; it would spin forever",
            "put a task or a wait inside the loop, or end it with a decide",
        )
