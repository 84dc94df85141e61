"""The safe expression language of `if`, `when` and `with`: parse, type-check, evaluate.

Expressions are parsed with Python's own parser into an AST, then every node is checked
against an allow-list; the evaluator walks the checked tree. Nothing is passed to eval/exec,
and names resolve only from the mapping the engine supplies.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The types an expression can have. "unknown" is a value whose type cannot be known
# at validation (it is accepted anywhere, and checked at run time).
INTEGER, NUMBER, BOOLEAN, STRING, DATE, DURATION, LIST = (
    "integer",
    "number",
    "boolean",
    "string",
    "date",
    "duration",
    "list",
)
NUMERIC = {INTEGER, NUMBER}


class ExpressionError(Exception):
    """An expression that cannot be used; `column` is 1-based within the expression text."""

    def __init__(self, message: str, column: int = 1, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.hint = hint


_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Call: "calls are",
    ast.Attribute: "attribute access is",
    ast.Subscript: "indexing is",
    ast.Lambda: "lambda is",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.NamedExpr: "assignment is",
    ast.IfExp: "conditional expressions are",
    ast.Starred: "starred values are",
    ast.JoinedStr: "f-strings are",
    ast.Dict: "dictionaries are",
    ast.Set: "sets are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_COMPARISON: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda left, right: left in right,
    ast.NotIn: lambda left, right: left not in right,
}
_KEYWORDS = {"true": True, "false": False}


@dataclass(frozen=True)
class Expression:
    """A parsed, allow-listed expression; `names` are the names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value of the expression with names taken from `scope`."""
        return _evaluate(self.tree, scope)


def parse(text: str) -> Expression:
    """Parse and allow-list an expression, or raise ExpressionError."""
    source = text.strip()
    if not source:
        raise ExpressionError(
            "the expression is empty", 1, "write a condition such as 'anc < 1500'"
        )
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as error:
        column = error.offset or 1
        raise ExpressionError(
            f"expression syntax error: {error.msg}",
            column,
            "expressions use names, literals, comparisons, and/or/not, + - * / % and 'in'",
        ) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        _allow(node)
        if isinstance(node, ast.Name) and node.id not in _KEYWORDS:
            names.add(node.id)
    return Expression(source, tree, frozenset(names))


def _allow(node: ast.AST) -> None:
    column = getattr(node, "col_offset", 0) + 1
    for kind, what in _FORBIDDEN.items():
        if isinstance(node, kind):
            raise ExpressionError(
                f"{what} not part of the expression language",
                column,
                "only names, literals, comparisons, and/or/not, arithmetic and 'in' are allowed",
            )
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise ExpressionError(
            f"name '{node.id}' is not allowed: names cannot start with '_'", column
        )
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
        raise ExpressionError(f"the literal {node.value!r} is not allowed", column)
    if isinstance(node, ast.BinOp) and type(node.op) not in _ARITHMETIC:
        raise ExpressionError(
            "that operator is not part of the expression language",
            column,
            "use + - * / or %",
        )
    if isinstance(node, ast.UnaryOp) and not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        raise ExpressionError("that operator is not part of the expression language", column)
    if isinstance(node, ast.Compare) and any(type(op) not in _COMPARISON for op in node.ops):
        raise ExpressionError("'is' is not part of the expression language", column, "use == or !=")
    if isinstance(node, (ast.Tuple,)):
        raise ExpressionError(
            "tuples are not part of the expression language",
            column,
            "write a list in square brackets: ['1a', '1b']",
        )


def _evaluate(node: ast.expr, scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _KEYWORDS:
            return _KEYWORDS[node.id]
        if node.id not in scope:
            raise ExpressionError(f"'{node.id}' has no value yet", node.col_offset + 1)
        return scope[node.id]
    if isinstance(node, ast.List):
        return [_evaluate(item, scope) for item in node.elts]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_evaluate(value, scope) for value in node.values)
        return any(_evaluate(value, scope) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, scope), _evaluate(node.right, scope)
        if isinstance(node.op, (ast.Div, ast.Mod)) and right == 0:
            raise ExpressionError("division by zero", node.col_offset + 1)
        return _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, scope)
            if not _COMPARISON[type(op)](left, right):
                return False
            left = right
        return True
    raise ExpressionError("unsupported expression", getattr(node, "col_offset", 0) + 1)
