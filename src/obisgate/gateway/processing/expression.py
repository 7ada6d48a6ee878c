"""The expression language of derived signals: tokens, parser and syntax tree (pure).

A small subset of Python's expression grammar, parsed here (never by Python:
no ``eval``, no ``compile``, no ``ast``), with Python's precedence and
associativity, from the loosest to the tightest binding::

    expression  := disjunction ["if" disjunction "else" expression]
    disjunction := conjunction ("or" conjunction)*
    conjunction := inversion ("and" inversion)*
    inversion   := "not" inversion | comparison
    comparison  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*    # chained: a < b < c
    sum         := term (("+" | "-") term)*
    term        := factor (("*" | "/" | "//" | "%") factor)*
    factor      := ("+" | "-") factor | power
    power       := primary ["**" factor]                                  # -2 ** 2 is -4
    primary     := NUMBER | "True" | "False" | NAME | FUNCTION "(" arguments ")" | "(" expression ")"

Numbers are decimal: ``12``, ``0.5``, ``.5``, ``5.``, ``1e3``, ``2.5E-3`` (no
leading zeros in integers, no ``_``, no hex). A name is a signal: ``power`` (of
the derived signal's own device), ``meter2.power`` (signal ``power`` of device
``meter2``), or any alias in backquotes: `` `power-l1` ``, `` `meter-2:1.8.0` ``
(``device:signal``); :mod:`.references` resolves them. The functions are fixed
(:data:`FUNCTIONS`).

Every malformed expression raises :class:`~obisgate.errors.ExpressionError` with
the column (from 1) where it goes wrong; nothing else escapes :func:`parse`.
Expressions are bounded: :data:`MAX_LENGTH` characters, :data:`MAX_DEPTH`
levels of nesting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from obisgate.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "BoolOp",
    "Call",
    "Chain",
    "Compare",
    "Conditional",
    "Expression",
    "Name",
    "Node",
    "Number",
    "Power",
    "Unary",
    "parse",
]

#: The longest expression accepted, in characters.
MAX_LENGTH: Final = 2000
#: The deepest nesting accepted (brackets, unary operators, ``**``, ``if``, calls).
MAX_DEPTH: Final = 40

#: Function name -> (fewest, most) arguments (``None``: no upper bound).
FUNCTIONS: Final[dict[str, tuple[int, int | None]]] = {
    "abs": (1, 1),
    "round": (1, 2),
    "floor": (1, 1),
    "ceil": (1, 1),
    "sqrt": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "sum": (1, None),
    "avg": (1, None),
    "median": (1, None),
    "status_bit": (2, 2),
}

_KEYWORDS = frozenset({"and", "or", "not", "if", "else", "True", "False"})
_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_NUMBER = re.compile(r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
_QUOTED = re.compile(r"`([^`]*)`")
_QUOTED_NAME = re.compile(r"(?:([A-Za-z0-9_-]{1,64}):)?([A-Za-z0-9_.-]{1,64})")
_OPERATORS = ("**", "//", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")", ",")
_BLANKS = " \t\r\n"
_DIGITS = frozenset("0123456789")
_QUOTE_HINT = (
    "; a name with '-', or a part starting with a digit, goes in backquotes: "
    "`meter-2:power`, `1.8.0`"
)
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


@dataclass(frozen=True, slots=True)
class Number:
    """A literal: ``int``, ``float`` or ``bool`` (``True`` / ``False``)."""

    value: int | float | bool
    column: int


@dataclass(frozen=True, slots=True)
class Name:
    """A signal reference as written.

    Attributes:
        text: the name (without backquotes).
        quoted: written in backquotes (then ``device:signal`` splits at the colon).
        column: where it starts.
    """

    text: str
    quoted: bool
    column: int

    @property
    def parts(self) -> tuple[str | None, str]:
        """``(device or None, signal)`` of a quoted name; ``(None, text)`` of a bare one."""
        if self.quoted and ":" in self.text:
            device, _, signal = self.text.partition(":")
            return device, signal
        return None, self.text


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x``, ``+x`` or ``not x``."""

    op: str
    operand: Node
    column: int


@dataclass(frozen=True, slots=True)
class Power:
    """``base ** exponent`` (right-associative)."""

    base: Node
    exponent: Node
    column: int


@dataclass(frozen=True, slots=True)
class Chain:
    """Left-associative arithmetic: ``first (op operand)*`` with ``+ - * / // %``.

    Kept flat so that a long sum does not nest (and evaluates in a loop).
    """

    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison chain, as Python's: ``a < b < c`` is ``a < b and b < c``."""

    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``a and b and ...`` / ``a or b or ...`` with Python's results (an operand, not a bool)."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Conditional:
    """``body if test else orelse``."""

    body: Node
    test: Node
    orelse: Node


@dataclass(frozen=True, slots=True)
class Call:
    """One of :data:`FUNCTIONS` with its arguments."""

    function: str
    args: tuple[Node, ...]
    column: int


Node = Number | Name | Unary | Power | Chain | Compare | BoolOp | Conditional | Call


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression.

    Attributes:
        text: the expression as written.
        tree: its syntax tree.
        names: every signal reference, in the order written (repeats included).
    """

    text: str
    tree: Node
    names: tuple[Name, ...]


_Rule = Callable[[], Node]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "name", "quoted", "op", "keyword", "end"
    text: str
    column: int
    value: int | float | None = None


def _tokens(text: str) -> list[_Token]:
    """The tokens of ``text``, ending with an ``end`` token.

    Raises:
        ExpressionError: a character or literal that is not part of the language.
    """
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        column = pos + 1
        if char in _BLANKS:
            pos += 1
            continue
        if char in _DIGITS or (char == "." and text[pos + 1 : pos + 2] in _DIGITS):
            match = _NUMBER.match(text, pos)
            assert match is not None  # a digit, or "." and a digit, always match
            literal = match.group()
            after = text[match.end() : match.end() + 1]
            if after and (after.isalnum() or after in "_.`"):
                raise ExpressionError(f"malformed number {literal + after!r}{_QUOTE_HINT}", column)
            tokens.append(_Token("number", literal, column, _number(literal, column)))
            pos = match.end()
            continue
        if char in _NAME_START:
            match = _NAME.match(text, pos)
            assert match is not None  # a letter or "_" always matches
            word = match.group()
            if text[match.end() : match.end() + 1] == ".":
                raise ExpressionError(f"malformed name {word + '.'!r}{_QUOTE_HINT}", column)
            kind = "keyword" if word in _KEYWORDS else "name"
            tokens.append(_Token(kind, word, column))
            pos = match.end()
            continue
        if char == "`":
            match = _QUOTED.match(text, pos)
            if match is None:
                raise ExpressionError("a backquote is not closed", column)
            inner = match.group(1)
            if not _QUOTED_NAME.fullmatch(inner):
                raise ExpressionError(
                    f"`{inner}` is not a signal: write `signal` or `device:signal` "
                    "(letters, digits, '-', '_'; signals also '.')",
                    column,
                )
            tokens.append(_Token("quoted", inner, column))
            pos = match.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, pos):
                tokens.append(_Token("op", op, column))
                pos += len(op)
                break
        else:
            hint = {"=": "; did you mean '=='?", "&": "; write 'and'", "|": "; write 'or'"}
            if char == "!":
                hint["!"] = "; write 'not' or '!='"
            shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
            raise ExpressionError(f"unexpected character {shown}{hint.get(char, '')}", column)
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _number(literal: str, column: int) -> int | float:
    """The value of a number literal.

    Raises:
        ExpressionError: an integer with leading zeros, or a float beyond a double.
    """
    if literal.isdigit():
        if len(literal) > 1 and literal[0] == "0" and literal.strip("0"):
            raise ExpressionError(f"leading zeros are not allowed in {literal!r}", column)
        return int(literal)
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ExpressionError(f"{literal!r} is too large", column)
    return value


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0
        self.names: list[Name] = []

    @property
    def token(self) -> _Token:
        return self.tokens[self.pos]

    def _is(self, kind: str, *texts: str) -> bool:
        token = self.token
        return token.kind == kind and (not texts or token.text in texts)

    def _take(self) -> _Token:
        token = self.token
        self.pos += 1
        return token

    def _expect_op(self, text: str, what: str) -> _Token:
        if not self._is("op", text):
            raise self._unexpected(f"expected {what}")
        return self._take()

    def _unexpected(self, expected: str) -> ExpressionError:
        token = self.token
        if token.kind == "end":
            return ExpressionError(f"{expected}, but the expression ends", token.column)
        return ExpressionError(f"{expected}, got {token.text!r}", token.column)

    def _deeper(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep", column)

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", 1)
        node = self.expression()
        if self.token.kind != "end":
            raise self._unexpected("expected an operator or the end")
        return node

    def expression(self) -> Node:
        body = self.disjunction()
        if not self._is("keyword", "if"):
            return body
        column = self._take().column
        test = self.disjunction()
        if not self._is("keyword", "else"):
            raise self._unexpected("expected 'else' (every 'if' needs one)")
        self._take()
        self._deeper(column)
        orelse = self.expression()
        self.depth -= 1
        return Conditional(body, test, orelse)

    def disjunction(self) -> Node:
        return self._bool_op("or", self.conjunction)

    def conjunction(self) -> Node:
        return self._bool_op("and", self.inversion)

    def _bool_op(self, op: str, operand: _Rule) -> Node:
        operands = [operand()]
        while self._is("keyword", op):
            self._take()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def inversion(self) -> Node:
        if not self._is("keyword", "not"):
            return self.comparison()
        column = self._take().column
        self._deeper(column)
        operand = self.inversion()
        self.depth -= 1
        return Unary("not", operand, column)

    def comparison(self) -> Node:
        first = self.sum()
        rest: list[tuple[str, Node]] = []
        while self.token.kind == "op" and self.token.text in _COMPARISONS:
            op = self._take().text
            rest.append((op, self.sum()))
        return Compare(first, tuple(rest)) if rest else first

    def sum(self) -> Node:
        return self._chain(("+", "-"), self.term)

    def term(self) -> Node:
        return self._chain(("*", "/", "//", "%"), self.factor)

    def _chain(self, ops: tuple[str, ...], operand: _Rule) -> Node:
        first = operand()
        rest: list[tuple[str, Node]] = []
        while self._is("op", *ops):
            op = self._take().text
            rest.append((op, operand()))
        return Chain(first, tuple(rest)) if rest else first

    def factor(self) -> Node:
        if not self._is("op", "+", "-"):
            return self.power()
        token = self._take()
        self._deeper(token.column)
        operand = self.factor()
        self.depth -= 1
        return Unary(token.text, operand, token.column)

    def power(self) -> Node:
        base = self.primary()
        if not self._is("op", "**"):
            return base
        column = self._take().column
        self._deeper(column)
        exponent = self.factor()
        self.depth -= 1
        return Power(base, exponent, column)

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self._take()
            assert token.value is not None  # numbers carry their value
            return Number(token.value, token.column)
        if token.kind == "keyword" and token.text in ("True", "False"):
            self._take()
            return Number(token.text == "True", token.column)
        if token.kind == "quoted":
            self._take()
            return self._name(Name(token.text, True, token.column))
        if token.kind == "name":
            self._take()
            if self._is("op", "("):
                return self._call(token)
            return self._name(Name(token.text, False, token.column))
        if self._is("op", "("):
            self._take()
            self._deeper(token.column)
            inner = self.expression()
            self.depth -= 1
            self._expect_op(")", "')' to close the '(' at column " + str(token.column))
            return inner
        raise self._unexpected("expected a number, a signal, a function or '('")

    def _name(self, name: Name) -> Name:
        self.names.append(name)
        return name

    def _call(self, name: _Token) -> Call:
        function = name.text
        limits = FUNCTIONS.get(function)
        if limits is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function {function!r}; functions: {known}", name.column)
        opening = self._take()
        self._deeper(opening.column)
        args: list[Node] = []
        while not self._is("op", ")"):
            args.append(self.expression())
            if not self._is("op", ","):
                break
            self._take()
        self._expect_op(")", f"',' or ')' in the call of {function}")
        self.depth -= 1
        fewest, most = limits
        if len(args) < fewest or (most is not None and len(args) > most):
            wanted = (
                f"{fewest} or more"
                if most is None
                else str(fewest)
                if fewest == most
                else f"{fewest} to {most}"
            )
            raise ExpressionError(
                f"{function}() takes {wanted} argument{'s' if wanted != '1' else ''}, "
                f"got {len(args)}",
                name.column,
            )
        return Call(function, tuple(args), name.column)


def parse(text: str) -> Expression:
    """Parse an expression.

    Raises:
        ExpressionError: it is malformed, too long or nested too deeply (the error
            carries the column).
    """
    if not isinstance(text, str):
        raise ExpressionError("an expression is text")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    parser = _Parser(text)
    tree = parser.parse()
    return Expression(text, tree, tuple(parser.names))
