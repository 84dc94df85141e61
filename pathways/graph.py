"""Checks on the compiled machine: steps nothing leads to, and loops that would spin."""

from __future__ import annotations

from collections import defaultdict

from pathways.machine import INSTANT_KINDS, START, Machine, Transition


def unreachable_steps(machine: Machine) -> list[str]:
    """Step ids no path from the start reaches (outermost only, in document order)."""
    reached = {START}
    frontier = [START]
    edges = defaultdict(list)
    for transition in machine.transitions:
        edges[transition.source].append(transition.target)
    while frontier:
        for target in edges[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    found = []
    for state in machine.states:
        if (
            state.step
            and state.id not in reached
            and (state.parent is None or state.parent in reached)
        ):
            found.append(state.id)
    return found


def spinning_loops(machine: Machine) -> list[list[str]]:
    """Cycles a token could go round forever without meeting a task, a wait or a call."""
    kinds = {state.id: state.kind for state in machine.states}
    instant: dict[str, list[str]] = defaultdict(list)
    for transition in machine.transitions:
        if _is_instant(transition, kinds):
            instant[transition.source].append(transition.target)
    order = [state.id for state in machine.states]
    loops = []
    for component in _components(order, instant):
        members = set(component)
        if len(component) > 1 or component[0] in instant[component[0]]:
            loops.append(_cycle_through(min(component, key=order.index), instant, members))
    return loops


def _is_instant(transition: Transition, kinds: dict[str, str]) -> bool:
    if transition.loops_back:
        return False  # a repeat's next turn is bounded by its count
    return kinds[transition.source] in INSTANT_KINDS or transition.trigger == "skipped"


def _components(order: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), each listed in document order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            result.append(sorted(component, key=order.index))

    for node in order:
        if node not in index:
            visit(node)
    return result


def _cycle_through(start: str, edges: dict[str, list[str]], members: set[str]) -> list[str]:
    path = [start]
    seen = {start}
    node = start
    while True:
        following = [target for target in edges[node] if target in members]
        if start in following:
            return [*path, start]
        node = next((target for target in following if target not in seen), following[0])
        if node in seen:
            return [*path, node]
        seen.add(node)
        path.append(node)
