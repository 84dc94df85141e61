"""Draws a compiled pathway as a Mermaid flowchart."""

from __future__ import annotations

from pathways.machine import Machine, State, Transition

_SHAPES = {
    "start": ("((", "))"),
    "finish": ("(((", ")))"),
    "end": ("(((", ")))"),
    "task": ("[", "]"),
    "wait": ("([", "])"),
    "decide": ("{", "}"),
    "fork": ("[[", "]]"),
    "join": ("[[", "]]"),
    "loop": ("{{", "}}"),
    "phase": ("[/", "/]"),
    "call": ("[[", "]]"),
    "notify": (">", "]"),
}
_TRIGGER_LABELS = {
    "iterations_done": "all done",
    "skipped": "skipped",
}


def mermaid(machine: Machine) -> str:
    """The machine as Mermaid flowchart text."""
    lines = ["flowchart TD"]
    lines.extend(f"    {_node(state)}" for state in machine.states)
    seen: set[tuple[str, str, str]] = set()
    for transition in machine.transitions:
        label = _edge_label(transition)
        key = (transition.source, transition.target, label)
        if key in seen:
            continue
        seen.add(key)
        arrow = f' -->|"{_escape(label)}"| ' if label else " --> "
        lines.append(f"    {_id(transition.source)}{arrow}{_id(transition.target)}")
    return "\n".join(lines) + "\n"


def _node(state: State) -> str:
    opening, closing = _SHAPES[state.kind]
    return f'{_id(state.id)}{opening}"{_escape(state.label)}"{closing}'


def _edge_label(transition: Transition) -> str:
    if transition.trigger == "skipped":
        return f"skip: {transition.guard}"
    if transition.guard:
        return transition.guard
    return _TRIGGER_LABELS.get(transition.trigger, "")


def _id(state_id: str) -> str:
    # Mermaid ids cannot hold dots, and 'end' is one of its keywords.
    return "s_" + state_id.replace(".", "__")


def _escape(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
