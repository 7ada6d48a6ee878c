"""An expression turned into a function of its sources' values (pure).

:func:`compile_expression` walks the syntax tree of :mod:`.expression` once and
builds nested closures; evaluating them is plain Python arithmetic on ``int``,
``float`` and ``bool`` with Python's results (``7 // 2`` is 3, ``-7 % 3`` is 2,
``True + 1`` is 2, ``0 or 5`` is 5, ``round`` rounds half to even). Where Python
would raise, an :class:`~obisgate.errors.EvaluationError` is raised instead:

* a division by zero (``/``, ``//``, ``%``, ``0 ** -1``);
* a result that is no real number (``(-8) ** 0.5``, ``sqrt(-1)``);
* a result too large: an integer beyond :data:`MAX_INT_BITS` bits (checked
  before computing a power, so ``10 ** 10 ** 10`` costs nothing) or a float
  that overflows (``overflow`` is then set on the error);
* a function given an argument it cannot take (``status_bit(2.5, 1)``).

A float result may still be ``inf`` or ``nan`` (``1e308 * 10``); the caller
decides (derived signals publish it as ``overflow``). Functions beyond Python's
builtins: ``sum``, ``avg`` and ``median`` of their arguments (``sum`` adds left
to right, ``median`` of an even count is the mean of the middle two),
``status_bit(x, n)``: bit ``n`` (0 = least significant, up to 63) of the
non-negative integer ``x``, as a bool.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Final

from obisgate.errors import EvaluationError
from obisgate.gateway.processing.expression import (
    BoolOp,
    Call,
    Chain,
    Compare,
    Conditional,
    Expression,
    Name,
    Node,
    Number,
    Power,
    Unary,
)

__all__ = ["MAX_INT_BITS", "Evaluator", "Real", "compile_expression", "function"]

Real = int | float | bool
"""What an expression computes with and returns."""

Evaluator = Callable[[Sequence[Real]], Real]
"""A compiled expression: the sources' values (in the order the resolver numbered
them) -> the result. Raises :class:`~obisgate.errors.EvaluationError`."""

#: The largest integer an expression may compute, in bits (a double's range).
MAX_INT_BITS: Final = 1024

_ARITHMETIC: Final[dict[str, Callable[[Real, Real], Real]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}
_COMPARE: Final[dict[str, Callable[[Real, Real], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def compile_expression(expression: Expression, index_of: Callable[[Name], int]) -> Evaluator:
    """The function computing ``expression``.

    Args:
        expression: a parsed expression.
        index_of: the position of a name's value in the sequence the evaluator
            is called with (the caller resolves names, see :mod:`.references`).
    """
    return _compile(expression.tree, index_of)


def _compile(node: Node, index_of: Callable[[Name], int]) -> Evaluator:
    match node:
        case Number(value=value):
            return lambda values: value
        case Name():
            index = index_of(node)
            return lambda values: values[index]
        case Unary(op="not", operand=operand):
            inner = _compile(operand, index_of)
            return lambda values: not inner(values)
        case Unary(op=op, operand=operand):
            inner = _compile(operand, index_of)
            if op == "-":
                return lambda values: -inner(values)
            return lambda values: +inner(values)
        case Power(base=base, exponent=exponent):
            left, right = _compile(base, index_of), _compile(exponent, index_of)
            return lambda values: _power(left(values), right(values))
        case Chain(first=first, rest=rest):
            return _chain(first, rest, index_of)
        case Compare(first=first, rest=rest):
            return _comparison(first, rest, index_of)
        case BoolOp(op=op, operands=operands):
            parts = tuple(_compile(o, index_of) for o in operands)
            return _any_true(parts) if op == "or" else _all_true(parts)
        case Conditional(body=body, test=test, orelse=orelse):
            yes, cond, no = (_compile(n, index_of) for n in (body, test, orelse))
            return lambda values: yes(values) if cond(values) else no(values)
        case Call(function=function, args=args):
            compiled = tuple(_compile(a, index_of) for a in args)
            call = _FUNCTIONS[function]
            return lambda values: call([arg(values) for arg in compiled])
    raise AssertionError(f"unknown node {node!r}")  # the parser makes no other nodes


def _chain(
    first: Node, rest: tuple[tuple[str, Node], ...], index_of: Callable[[Name], int]
) -> Evaluator:
    head = _compile(first, index_of)
    steps = tuple((op, _ARITHMETIC[op], _compile(n, index_of)) for op, n in rest)

    def run(values: Sequence[Real]) -> Real:
        result = head(values)
        for op, apply, operand in steps:
            result = _arithmetic(op, apply, result, operand(values))
        return result

    return run


def _arithmetic(op: str, apply: Callable[[Real, Real], Real], left: Real, right: Real) -> Real:
    try:
        result = apply(left, right)
    except ZeroDivisionError:
        raise EvaluationError(f"division by zero ({op})") from None
    except OverflowError:
        raise EvaluationError(f"result of {op} too large", overflow=True) from None
    return _bounded(result)


def _bounded(result: Real) -> Real:
    if type(result) is int and result.bit_length() > MAX_INT_BITS:
        raise EvaluationError(f"integer beyond {MAX_INT_BITS} bits", overflow=True)
    return result


def _power(base: Real, exponent: Real) -> Real:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_INT_BITS
    ):
        raise EvaluationError(f"integer beyond {MAX_INT_BITS} bits", overflow=True)
    try:
        result = base**exponent
    except ZeroDivisionError:
        raise EvaluationError("division by zero (0 raised to a negative power)") from None
    except OverflowError:
        raise EvaluationError("result of ** too large", overflow=True) from None
    if isinstance(result, complex):
        raise EvaluationError("no real result (a negative number raised to a fraction)")
    return _bounded(result)


def _comparison(
    first: Node, rest: tuple[tuple[str, Node], ...], index_of: Callable[[Name], int]
) -> Evaluator:
    head = _compile(first, index_of)
    steps = tuple((_COMPARE[op], _compile(n, index_of)) for op, n in rest)

    def run(values: Sequence[Real]) -> Real:
        left = head(values)
        for compare, operand in steps:
            right = operand(values)
            if not compare(left, right):
                return False
            left = right
        return True

    return run


def _any_true(parts: tuple[Evaluator, ...]) -> Evaluator:
    def run(values: Sequence[Real]) -> Real:
        result: Real = False
        for part in parts:
            result = part(values)
            if result:
                return result
        return result

    return run


def _all_true(parts: tuple[Evaluator, ...]) -> Evaluator:
    def run(values: Sequence[Real]) -> Real:
        result: Real = True
        for part in parts:
            result = part(values)
            if not result:
                return result
        return result

    return run


def _sum(args: list[Real]) -> Real:
    total = args[0]
    for arg in args[1:]:
        total = _arithmetic("+", operator.add, total, arg)
    return total


def _avg(args: list[Real]) -> Real:
    return _arithmetic("/", operator.truediv, _sum(args), len(args))


def _median(args: list[Real]) -> Real:
    ordered = sorted(args)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    pair = _arithmetic("+", operator.add, ordered[middle - 1], ordered[middle])
    return _arithmetic("/", operator.truediv, pair, 2)


def _integral(value: Real, what: str) -> int:
    if isinstance(value, int):
        return int(value)
    if math.isfinite(value) and value == int(value):
        return int(value)
    raise EvaluationError(f"{what} must be a whole number, got {value!r}")


def _round(args: list[Real]) -> Real:
    try:
        if len(args) == 1:
            return round(args[0])
        return _bounded(round(args[0], _integral(args[1], "round()'s digits")))
    except OverflowError:
        raise EvaluationError("round() of an infinite number", overflow=True) from None
    except ValueError:
        raise EvaluationError("round() of a number that is not a number (nan)") from None


def _rounding(function: Callable[[float], int], name: str) -> Callable[[list[Real]], Real]:
    def run(args: list[Real]) -> Real:
        try:
            return function(args[0])
        except OverflowError:
            raise EvaluationError(f"{name}() of an infinite number", overflow=True) from None
        except ValueError:
            raise EvaluationError(f"{name}() of a number that is not a number (nan)") from None

    return run


def _sqrt(args: list[Real]) -> Real:
    try:
        return math.sqrt(args[0])
    except OverflowError:
        raise EvaluationError("sqrt() of a number too large", overflow=True) from None
    except ValueError:
        raise EvaluationError("sqrt() of a negative number") from None


def _status_bit(args: list[Real]) -> Real:
    word = _integral(args[0], "status_bit()'s value")
    bit = _integral(args[1], "status_bit()'s bit")
    if word < 0:
        raise EvaluationError(f"status_bit() of a negative number ({word})")
    if not 0 <= bit <= 63:
        raise EvaluationError(f"status_bit()'s bit must be 0-63, got {bit}")
    return bool(word >> bit & 1)


_FUNCTIONS: Final[dict[str, Callable[[list[Real]], Real]]] = {
    "abs": lambda args: abs(args[0]),
    "round": _round,
    "floor": _rounding(math.floor, "floor"),
    "ceil": _rounding(math.ceil, "ceil"),
    "sqrt": _sqrt,
    "min": min,
    "max": max,
    "sum": _sum,
    "avg": _avg,
    "median": _median,
    "status_bit": _status_bit,
}


def function(name: str) -> Callable[[list[Real]], Real]:
    """The expression function ``name`` (one of ``FUNCTIONS``), taking its arguments as a list.

    Raises:
        KeyError: no such function.
    """
    return _FUNCTIONS[name]
