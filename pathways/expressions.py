"""The safe expression language of `if`, `when` and `with`: parse, type-check, evaluate.

Expressions are parsed with Python's own parser into an AST, then every node is checked
against an allow-list; the evaluator walks the checked tree. Nothing is passed to eval/exec,
and names resolve only from the mapping the engine supplies.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


Evaluator = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Expression:
    """A parsed, allow-listed expression; `names` are the names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]
    # The tree turned into nested closures once, at parse time: evaluating walks no node
    # types (a count gate is evaluated at every cycle of every patient).
    run: Evaluator = field(compare=False, repr=False)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value of the expression with names taken from `scope`."""
        return self.run(scope)


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
    return Expression(source, tree, frozenset(names), _compile(tree))


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


def _compile(node: ast.expr) -> Evaluator:
    """The evaluator of an allow-listed tree: the same values, and the same errors at the
    same columns, as walking the tree at every evaluation would give."""
    column = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda scope: value
    if isinstance(node, ast.Name):
        return _name(node.id, column)
    if isinstance(node, ast.List):
        items = [_compile(item) for item in node.elts]
        return lambda scope: [item(scope) for item in items]
    if isinstance(node, ast.BoolOp):
        values = [_compile(value) for value in node.values]
        if isinstance(node.op, ast.And):
            return lambda scope: all(value(scope) for value in values)
        return lambda scope: any(value(scope) for value in values)
    if isinstance(node, ast.UnaryOp):
        return _unary(node.op, _compile(node.operand))
    if isinstance(node, ast.BinOp):
        return _binary(node.op, _compile(node.left), _compile(node.right), column)
    if isinstance(node, ast.Compare):
        return _comparison(node, column)
    return _refuse(column)


def _name(name: str, column: int) -> Evaluator:
    if name in _KEYWORDS:
        keyword = _KEYWORDS[name]
        return lambda scope: keyword

    def read(scope: Mapping[str, Any]) -> Any:
        if name not in scope:
            raise ExpressionError(f"'{name}' has no value yet", column)
        return scope[name]

    return read


def _unary(op: ast.unaryop, operand: Evaluator) -> Evaluator:
    if isinstance(op, ast.Not):
        return lambda scope: not operand(scope)
    if isinstance(op, ast.USub):
        return lambda scope: -operand(scope)
    return lambda scope: +operand(scope)


def _binary(op: ast.operator, left: Evaluator, right: Evaluator, column: int) -> Evaluator:
    apply = _ARITHMETIC[type(op)]
    dividing = isinstance(op, (ast.Div, ast.Mod))

    def binary(scope: Mapping[str, Any]) -> Any:
        first, second = left(scope), right(scope)
        if dividing and second == 0:
            raise ExpressionError("division by zero", column)
        return apply(first, second)

    return binary


def _comparison(node: ast.Compare, column: int) -> Evaluator:
    first = _compile(node.left)
    if len(node.ops) == 1:  # by far the most common: one comparison, no chain
        test, other = _COMPARISON[type(node.ops[0])], _compile(node.comparators[0])
        return lambda scope: bool(test(first(scope), other(scope)))
    links = [
        (_COMPARISON[type(op)], _compile(comparator))
        for op, comparator in zip(node.ops, node.comparators, strict=True)
    ]

    def chain(scope: Mapping[str, Any]) -> bool:
        left = first(scope)
        for test, comparator in links:
            right = comparator(scope)
            if not test(left, right):
                return False
            left = right
        return True

    return chain


def _refuse(column: int) -> Evaluator:
    def refuse(scope: Mapping[str, Any]) -> Any:
        raise ExpressionError("unsupported expression", column)

    return refuse
