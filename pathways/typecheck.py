"""Type-checks parsed expressions against the names a step can see."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from pathways.expressions import (
    BOOLEAN,
    NUMBER,
    NUMERIC,
    STRING,
    Expression,
    ExpressionError,
)
from pathways.problems import did_you_mean

_ORDERED = {"date", "duration"}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}


@dataclass(frozen=True)
class NameType:
    """What a name in scope holds: its type, and its allowed values when it is an enum."""

    type: str
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Typed:
    type: str
    enum: tuple[str, ...] = ()
    element: str = ""


def check(expression: Expression, scope: Mapping[str, NameType]) -> str:
    """The type of the expression, or ExpressionError naming what is wrong."""
    return _infer(expression.tree, scope).type


def check_condition(expression: Expression, scope: Mapping[str, NameType], key: str) -> None:
    """Check an `if`/`when` expression, which must be boolean."""
    found = check(expression, scope)
    if found != BOOLEAN:
        raise ExpressionError(
            f"'{key}' must be a boolean expression, got {found}",
            1,
            "compare the value, e.g. 'cycles > 1'",
        )


def _column(node: ast.AST) -> int:
    return getattr(node, "col_offset", 0) + 1


def _infer(node: ast.expr, scope: Mapping[str, NameType]) -> _Typed:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            raise ExpressionError(f"write {str(node.value).lower()} in lower case", _column(node))
        if isinstance(node.value, int):
            return _Typed("integer")
        return _Typed(NUMBER if isinstance(node.value, float) else STRING)
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            return _Typed(BOOLEAN)
        if node.id not in scope:
            hint = did_you_mean(node.id, set(scope)) if scope else "no names are in scope here"
            raise ExpressionError(f"unknown name '{node.id}'", _column(node), hint)
        found = scope[node.id]
        return _Typed(found.type, found.enum)
    if isinstance(node, ast.List):
        elements = [_infer(item, scope) for item in node.elts]
        kinds = {_family(element.type) for element in elements}
        if len(kinds) > 1:
            raise ExpressionError("a list must hold values of one type", _column(node))
        return _Typed("list", element=elements[0].type if elements else "")
    if isinstance(node, ast.BoolOp):
        word = "and" if isinstance(node.op, ast.And) else "or"
        for value in node.values:
            operand = _infer(value, scope)
            if operand.type != BOOLEAN:
                raise ExpressionError(
                    f"'{word}' needs booleans, got {operand.type}",
                    _column(value),
                    "compare the value first, e.g. 'anc < anc_min'",
                )
        return _Typed(BOOLEAN)
    if isinstance(node, ast.UnaryOp):
        operand = _infer(node.operand, scope)
        if isinstance(node.op, ast.Not):
            if operand.type != BOOLEAN:
                raise ExpressionError(f"'not' needs a boolean, got {operand.type}", _column(node))
            return _Typed(BOOLEAN)
        if operand.type not in NUMERIC:
            raise ExpressionError(f"a sign needs a number, got {operand.type}", _column(node))
        return operand
    if isinstance(node, ast.BinOp):
        return _arithmetic(node, _infer(node.left, scope), _infer(node.right, scope))
    if isinstance(node, ast.Compare):
        left_node: ast.expr = node.left
        left = _infer(left_node, scope)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _infer(right_node, scope)
            _compare(op, left, right, left_node, right_node, node)
            left, left_node = right, right_node
        return _Typed(BOOLEAN)
    raise ExpressionError("unsupported expression", _column(node))


def _family(type_name: str) -> str:
    return NUMBER if type_name in NUMERIC else type_name


def _arithmetic(node: ast.BinOp, left: _Typed, right: _Typed) -> _Typed:
    symbol = _SYMBOLS[type(node.op)]
    if symbol == "+" and left.type == STRING and right.type == STRING:
        return _Typed(STRING)
    if left.type not in NUMERIC or right.type not in NUMERIC:
        raise ExpressionError(
            f"'{symbol}' needs numbers, got {left.type} and {right.type}", _column(node)
        )
    if left.type == right.type == "integer" and symbol != "/":
        return _Typed("integer")
    return _Typed(NUMBER)


def _compare(
    op: ast.cmpop,
    left: _Typed,
    right: _Typed,
    left_node: ast.expr,
    right_node: ast.expr,
    whole: ast.Compare,
) -> None:
    if isinstance(op, (ast.In, ast.NotIn)):
        if right.type != "list":
            raise ExpressionError(
                f"'in' needs a list on its right, got {right.type}",
                _column(right_node),
                "write a list: grade in [3, 4]",
            )
        if right.element and _family(left.type) != _family(right.element):
            raise ExpressionError(
                f"cannot compare {left.type} with {right.element}", _column(whole)
            )
        _check_enum_literals(left, right_node)
        return
    if _family(left.type) != _family(right.type):
        raise ExpressionError(f"cannot compare {left.type} with {right.type}", _column(whole))
    if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and not (
        left.type in NUMERIC or left.type in _ORDERED
    ):
        raise ExpressionError(
            f"cannot order {left.type} values with <, <=, > or >=",
            _column(whole),
            "use == or != or 'in'",
        )
    _check_enum_literals(left, right_node)
    _check_enum_literals(right, left_node)


def _check_enum_literals(typed: _Typed, other: ast.expr) -> None:
    if not typed.enum:
        return
    literals = other.elts if isinstance(other, ast.List) else [other]
    for literal in literals:
        if isinstance(literal, ast.Constant) and literal.value not in typed.enum:
            allowed = ", ".join(typed.enum)
            raise ExpressionError(
                f"'{literal.value!s}' is not one of the values it can take ({allowed})",
                _column(literal),
            )
