"""The expression language: safe by construction, typed, and evaluated without eval."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathways.expressions import ExpressionError, parse
from pathways.typecheck import NameType, check, check_condition

ESCAPES = [
    ("__import__('os').system('id')", "calls are"),
    ("open('/etc/passwd')", "calls are"),
    ("anc.__class__", "attribute access is"),
    ("().__class__.__bases__[0].__subclasses__()", "calls are"),
    ("grade[0] > 1", "indexing is"),
    ("(lambda: 1) == 1", "lambda is"),
    ("[x for x in range(3)]", "comprehensions are"),
    ("(y := 3) > 1", "assignment is"),
    ("{'a': 1} == 1", "dictionaries are"),
    ("f'{grade}' == '3'", "f-strings are"),
    ("__builtins__ == 1", "cannot start with '_'"),
    ("1 if grade else 2", "conditional expressions are"),
    ("grade is 3", "'is' is not"),
    ("2 ** 100000000", "operator is not"),
]


@pytest.mark.parametrize(("text", "reason"), ESCAPES, ids=[text for text, _ in ESCAPES])
def test_expressions_that_reach_for_python_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as refused:
        parse(text)
    assert reason in refused.value.message


@pytest.mark.parametrize(
    ("text", "scope", "value"),
    [
        (
            "anc < anc_min or platelets < platelets_min",
            {"anc": 1200, "anc_min": 1500, "platelets": 150000, "platelets_min": 100000},
            True,
        ),
        (
            "anc < anc_min or platelets < platelets_min",
            {"anc": 1800, "anc_min": 1500, "platelets": 150000, "platelets_min": 100000},
            False,
        ),
        (
            "bilsky_grade in ['2', '3'] and not radiosensitive",
            {"bilsky_grade": "2", "radiosensitive": False},
            True,
        ),
        ("7 <= sins <= 12", {"sins": 13}, False),
        ("fraction % 5 == 0", {"fraction": 10}, True),
        ("grade >= 3", {"grade": 3}, True),
        ("needs_port == true", {"needs_port": True}, True),
    ],
)
def test_clinical_conditions_evaluate_as_a_clinician_reads_them(
    text: str, scope: dict[str, object], value: bool
) -> None:
    assert parse(text).evaluate(scope) is value


def test_a_name_without_a_value_is_an_error_not_false() -> None:
    with pytest.raises(ExpressionError, match="'anc' has no value yet"):
        parse("anc < 1500").evaluate({})


SCOPE = {
    "anc": NameType("number"),
    "cycles": NameType("integer"),
    "needs_port": NameType("boolean"),
    "decision": NameType("string", ("resume", "reduce_dose", "stop")),
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("anc > 'high'", "cannot compare number with string"),
        ("cycles and needs_port", "'and' needs booleans, got integer"),
        ("not cycles", "'not' needs a boolean"),
        ("decision == 'resme'", "'resme' is not one of the values"),
        ("decision < 'stop'", "cannot order string values"),
        ("anc in 3", "'in' needs a list"),
        ("ancc < 3", "unknown name 'ancc'"),
        ("[1, 'a'] == [1]", "a list must hold values of one type"),
        ("anc + needs_port > 1", "'+' needs numbers"),
    ],
)
def test_type_errors_are_found_before_anything_runs(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as found:
        check(parse(text), SCOPE)
    assert message in found.value.message


def test_an_unknown_name_suggests_the_closest_one() -> None:
    with pytest.raises(ExpressionError) as found:
        check(parse("ancc < 3"), SCOPE)
    assert found.value.hint == "did you mean 'anc'?"


def test_conditions_must_be_boolean() -> None:
    with pytest.raises(ExpressionError, match="'when' must be a boolean expression"):
        check_condition(parse("cycles + 1"), SCOPE, "when")
    check_condition(parse("cycles > 1 and needs_port"), SCOPE, "when")


_numbers = st.integers(min_value=-1000, max_value=1000)
_ops = st.sampled_from(["+", "-", "*", "<", "<=", ">", ">=", "==", "!="])


@given(a=_numbers, b=_numbers, c=_numbers, op1=_ops, op2=st.sampled_from(["+", "-", "*"]))
def test_arithmetic_and_comparisons_agree_with_ordinary_arithmetic(
    a: int, b: int, c: int, op1: str, op2: str
) -> None:
    text = f"a {op2} b {op1} c"
    expected = {
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "*": lambda x, y: x * y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
        "==": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
    }
    if op1 == "*":  # * binds tighter than the operator before it: a op2 (b * c)
        want = expected[op2](a, b * c)
    else:  # everything else here applies left to right: (a op2 b) op1 c
        want = expected[op1](expected[op2](a, b), c)
    assert parse(text).evaluate({"a": a, "b": b, "c": c}) == want


@given(st.text(max_size=40))
def test_any_text_either_parses_to_an_allowed_tree_or_is_refused_cleanly(text: str) -> None:
    try:
        expression = parse(text)
    except ExpressionError as refused:
        assert refused.message
        return
    assert all(not name.startswith("_") for name in expression.names)


# -- the compiled evaluator against the tree walk --------------------------------------------


def reference_evaluate(node: ast.expr, scope: Mapping[str, Any]) -> Any:
    """The evaluator as first written, walking the tree at every evaluation: the oracle."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            return node.id == "true"
        if node.id not in scope:
            raise ExpressionError(f"'{node.id}' has no value yet", node.col_offset + 1)
        return scope[node.id]
    if isinstance(node, ast.List):
        return [reference_evaluate(item, scope) for item in node.elts]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(reference_evaluate(value, scope) for value in node.values)
        return any(reference_evaluate(value, scope) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = reference_evaluate(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        left, right = reference_evaluate(node.left, scope), reference_evaluate(node.right, scope)
        if isinstance(node.op, (ast.Div, ast.Mod)) and right == 0:
            raise ExpressionError("division by zero", node.col_offset + 1)
        arithmetic = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
        return _APPLY[arithmetic[type(node.op)]](left, right)
    if isinstance(node, ast.Compare):
        left = reference_evaluate(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = reference_evaluate(comparator, scope)
            if not _APPLY[_COMPARED[type(op)]](left, right):
                return False
            left = right
        return True
    raise ExpressionError("unsupported expression", getattr(node, "col_offset", 0) + 1)


_APPLY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda left, right: left in right,
    "not in": lambda left, right: left not in right,
}
_COMPARED = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_NAMES = ["anc", "platelets", "grade", "term", "stages", "missing"]
_atoms = st.one_of(
    st.sampled_from([*_NAMES, "true", "false", "0", "0.0", "1500", "2.5", "'3'", "'nausea'"]),
    st.integers(-5, 5).map(str),
)
_texts = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([*_APPLY, "and", "or"]), inner).map(
            lambda parts: f"({parts[0]} {parts[1]} {parts[2]})"
        ),
        st.tuples(inner, st.sampled_from(["<", "<=", "=="]), inner, inner).map(
            lambda parts: f"{parts[0]} {parts[1]} {parts[2]} < {parts[3]}"  # a chain
        ),
        inner.map(lambda text: f"not {text}"),
        inner.map(lambda text: f"-{text}"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    ),
    max_leaves=8,
)
_scopes = st.fixed_dictionaries(
    {},
    optional={
        "anc": st.one_of(st.integers(0, 3000), st.floats(0, 3000, allow_nan=False)),
        "platelets": st.integers(0, 300_000),
        "grade": st.integers(0, 5),
        "term": st.sampled_from(["nausea", "3", ""]),
        "stages": st.lists(st.sampled_from(["1a", "1b", "3"]), max_size=3),
    },
)


def _outcome(evaluate: Callable[[], Any]) -> tuple[str, Any]:
    try:
        value = evaluate()
    except ExpressionError as error:
        return "refused", (error.message, error.column)
    except TypeError as error:  # e.g. '<' between a string and a number: the engine's worry
        return "type error", str(error)
    return "value", (type(value), value)


@settings(max_examples=400, deadline=None)
@given(text=_texts, scope=_scopes)
def test_a_parsed_expression_evaluates_exactly_as_walking_its_tree(
    text: str, scope: dict[str, Any]
) -> None:
    try:
        expression = parse(text)
    except ExpressionError:
        return  # refused at parse time either way (e.g. a tuple), nothing is evaluated
    assert _outcome(lambda: expression.evaluate(scope)) == _outcome(
        lambda: reference_evaluate(expression.tree, scope)
    )
