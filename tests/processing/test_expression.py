"""The expression language: parse trees, located errors, evaluation (vectors)."""

from __future__ import annotations

import math

import pytest

from obisgate.errors import ConfigError, EvaluationError, ExpressionError
from obisgate.gateway.processing.evaluation import compile_expression
from obisgate.gateway.processing.expression import (
    MAX_DEPTH,
    MAX_LENGTH,
    BoolOp,
    Call,
    Chain,
    Compare,
    Conditional,
    Name,
    Number,
    Power,
    Unary,
    parse,
)


def run(text: str, **values: float) -> object:
    """Evaluate ``text`` with bare names bound to ``values``."""
    expression = parse(text)
    order = list(values)
    compute = compile_expression(expression, lambda name: order.index(name.text))
    return compute([values[n] for n in order])


def test_precedence_and_associativity_as_python() -> None:
    assert parse("1 + 2 * 3").tree == Chain(
        Number(1, 1), (("+", Chain(Number(2, 5), (("*", Number(3, 9)),))),)
    )
    # ** binds tighter than a unary minus on its left, looser than one on its right
    assert parse("-2 ** 2").tree == Unary("-", Power(Number(2, 2), Number(2, 7), 4), 1)
    assert parse("2 ** -1").tree == Power(Number(2, 1), Unary("-", Number(1, 7), 6), 3)
    assert parse("2 ** 3 ** 2").tree == Power(
        Number(2, 1), Power(Number(3, 6), Number(2, 11), 8), 3
    )
    # not is looser than a comparison; and is tighter than or; if-else loosest
    assert parse("not a < b").tree == Unary(
        "not", Compare(Name("a", False, 5), (("<", Name("b", False, 9)),)), 1
    )
    assert parse("a or b and c").tree == BoolOp(
        "or",
        (Name("a", False, 1), BoolOp("and", (Name("b", False, 6), Name("c", False, 12)))),
    )
    assert parse("a if b else c if d else e").tree == Conditional(
        Name("a", False, 1),
        Name("b", False, 6),
        Conditional(Name("c", False, 13), Name("d", False, 18), Name("e", False, 25)),
    )


def test_a_long_sum_stays_flat() -> None:
    text = " + ".join(["x"] * 500)
    tree = parse(text).tree
    assert isinstance(tree, Chain)
    assert len(tree.rest) == 499
    assert run(text, x=2) == 1000


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("energy_import - energy_export", {"energy_import": 12.5, "energy_export": 2.25}, 10.25),
        ("power * -1 if status_bit(flags, 3) else power", {"power": 2.5, "flags": 8}, -2.5),
        ("power * -1 if status_bit(flags, 3) else power", {"power": 2.5, "flags": 7}, 2.5),
        ("sum(power_l1, power_l2, power_l3)", {"power_l1": 1, "power_l2": 2, "power_l3": 4}, 7),
        ("avg(a, b)", {"a": 1, "b": 2}, 1.5),
        ("median(a, b, c, d)", {"a": 4, "b": 1, "c": 3, "d": 2}, 2.5),
        ("median(a, b, c)", {"a": 4, "b": 1, "c": 3}, 3),
        ("min(a, b) + max(a, b)", {"a": 4, "b": 1}, 5),
        ("7 // 2 + -7 % 3", {}, 5),
        ("round(2.5) + round(3.5)", {}, 6),
        ("round(2.675, 2)", {}, 2.67),
        ("floor(-1.5) + ceil(1.2) + abs(-3)", {}, 3),
        ("sqrt(16)", {}, 4.0),
        ("1 < 2 < 3", {}, True),
        ("1 < 3 < 2", {}, False),
        ("0 or 5", {}, 5),
        ("2 and 0", {}, 0),
        ("True + True", {}, 2),
        ("1e3 + .5 + 5.", {}, 1005.5),
        ("2.5E-1", {}, 0.25),
        ("not 0", {}, True),
        ("x != x", {"x": 1}, False),
    ],
)
def test_values(text: str, values: dict[str, float], expected: object) -> None:
    result = run(text, **values)
    assert result == expected
    assert type(result) is type(expected)


def test_names() -> None:
    names = parse("a + meter2.power - `meter-2:1.8.0` * `p-l1` + x.y.z").names
    assert [(n.text, n.quoted, n.column) for n in names] == [
        ("a", False, 1),
        ("meter2.power", False, 5),
        ("meter-2:1.8.0", True, 20),
        ("p-l1", True, 38),
        ("x.y.z", False, 47),
    ]
    assert [n.parts for n in names] == [
        (None, "a"),
        (None, "meter2.power"),
        ("meter-2", "1.8.0"),
        (None, "p-l1"),
        (None, "x.y.z"),
    ]
    assert parse("sum").names == (Name("sum", False, 1),)  # a signal named like a function
    assert parse("sum(sum)").tree == Call("sum", (Name("sum", False, 5),), 1)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 1, "the expression is empty"),
        ("   ", 1, "the expression is empty"),
        ("1 +", 4, "expected a number, a signal, a function or '(', but the expression ends"),
        ("(1", 3, "expected ')' to close the '(' at column 1, but the expression ends"),
        ("1)", 2, "expected an operator or the end, got ')'"),
        ("a b", 3, "expected an operator or the end, got 'b'"),
        ("foo(1)", 1, "unknown function 'foo'"),
        ("a.b(1)", 1, "unknown function 'a.b'"),
        ("a = 1", 3, "unexpected character '='; did you mean '=='?"),
        ("a & b", 3, "unexpected character '&'; write 'and'"),
        ("!a", 1, "unexpected character '!'; write 'not' or '!='"),
        ("a ^ 2", 3, "unexpected character '^'"),
        ("x\x00", 2, "unexpected character U+0000"),
        ("sum()", 1, "sum() takes 1 or more arguments, got 0"),
        ("abs(1, 2)", 1, "abs() takes 1 argument, got 2"),
        ("round(1, 2, 3)", 1, "round() takes 1 to 2 arguments, got 3"),
        ("status_bit(1)", 1, "status_bit() takes 2 arguments, got 1"),
        ("max(1,", 7, "expected a number, a signal, a function or '(', but the expression ends"),
        ("max(1 2)", 7, "expected ',' or ')' in the call of max, got '2'"),
        ("01", 1, "leading zeros are not allowed in '01'"),
        ("1.2.3", 1, "malformed number '1.2.'"),
        ("2x", 1, "malformed number '2x'"),
        ("1e999", 1, "'1e999' is too large"),
        ("a.", 1, "malformed name 'a.'"),
        ("a if b", 7, "expected 'else' (every 'if' needs one), but the expression ends"),
        ("a < not b", 5, "expected a number, a signal, a function or '(', got 'not'"),
        ("- not a", 3, "expected a number, a signal, a function or '(', got 'not'"),
        ("`power", 1, "a backquote is not closed"),
        ("`a:b:c`", 1, "`a:b:c` is not a signal"),
        ("``", 1, "`` is not a signal"),
        ("é + 1", 1, "unexpected character 'é'"),
        ("1 ٣", 3, "unexpected character '٣'"),
    ],
)
def test_every_error_is_located(text: str, column: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.column == column
    assert message in caught.value.reason
    assert str(caught.value) == f"column {column}: {caught.value.reason}"


def test_limits() -> None:
    deep = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    assert run(deep) == 1
    with pytest.raises(ExpressionError, match="nested more than 40 levels deep") as caught:
        parse("(" + deep + ")")
    assert caught.value.column == MAX_DEPTH + 1
    with pytest.raises(ExpressionError, match="nested more than"):
        parse("-" * (MAX_DEPTH + 1) + "1")
    with pytest.raises(ExpressionError, match="nested more than"):
        parse("not " * (MAX_DEPTH + 1) + "1")
    assert run("-" * MAX_DEPTH + "1") == 1
    assert len(parse("1" + " + 1" * ((MAX_LENGTH - 1) // 4)).text) <= MAX_LENGTH
    with pytest.raises(ExpressionError, match=f"longer than {MAX_LENGTH}") as long:
        parse("1" + " " * MAX_LENGTH)
    assert long.value.column == MAX_LENGTH + 1
    with pytest.raises(ExpressionError, match="an expression is text"):
        parse(12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "overflow", "message"),
    [
        ("1 / 0", False, "division by zero (/)"),
        ("1 // 0.0", False, "division by zero (//)"),
        ("5 % 0", False, "division by zero (%)"),
        ("0 ** -1", False, "division by zero (0 raised to a negative power)"),
        ("avg(x, x) / (x - x)", False, "division by zero"),
        ("(-8) ** 0.5", False, "no real result"),
        ("sqrt(-1)", False, "sqrt() of a negative number"),
        ("10 ** 10 ** 10", True, "integer beyond 1024 bits"),
        ("2 ** 1025", True, "integer beyond 1024 bits"),
        ("10.0 ** 400", True, "result of ** too large"),
        ("2 ** 1024 * 2", True, "integer beyond 1024 bits"),
        ("(2 ** 1023 + (2 ** 1023 - 1)) * 1.0", True, "result of * too large"),
        ("round(1e308 * 10)", True, "round() of an infinite number"),
        ("floor(1e308 * 10 - 1e308 * 10)", False, "floor() of a number that is not a number"),
        ("status_bit(2.5, 1)", False, "status_bit()'s value must be a whole number, got 2.5"),
        ("status_bit(-1, 1)", False, "status_bit() of a negative number (-1)"),
        ("status_bit(1, 64)", False, "status_bit()'s bit must be 0-63, got 64"),
        ("round(1.5, 0.5)", False, "round()'s digits must be a whole number"),
    ],
)
def test_evaluation_errors(text: str, overflow: bool, message: str) -> None:
    with pytest.raises(EvaluationError) as caught:
        run(text, x=3)
    assert caught.value.overflow is overflow
    assert message in str(caught.value)


def test_a_float_overflow_is_left_to_the_caller() -> None:
    assert run("1e308 * 10") == math.inf
    assert math.isnan(run("1e308 * 10 - 1e308 * 10"))  # type: ignore[arg-type]
    assert run("status_bit(2 ** 63, 63)") is True
    assert run("status_bit(8.0, 3)") is True
