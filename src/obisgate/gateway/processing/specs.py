"""Derived signals as configured -> resolved, compiled specs, or every problem found (pure).

The configuration loader calls :func:`derived_specs` to report problems with
their rows (an unknown signal at its column, a text signal used in arithmetic,
a cycle); the gateway calls it again to get the specs it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from obisgate.errors import ExpressionError
from obisgate.gateway.numbers import NUMERIC_TYPES, NumberType
from obisgate.gateway.processing.derived import OPERATIONS, DerivedSpec, SignalKey, find_cycles
from obisgate.gateway.processing.evaluation import Evaluator, compile_expression, function
from obisgate.gateway.processing.expression import Name, parse
from obisgate.gateway.processing.references import resolve

__all__ = ["Definition", "DefinitionProblem", "derived_specs", "operation_function"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Definition:
    """A derived signal as the configuration gives it.

    Attributes:
        key: ``(device_alias, signal_alias)``.
        source: the expression, or ``None`` with ``operation``.
        operation: one of :data:`~obisgate.gateway.processing.derived.OPERATIONS`, or ``None``.
        sources: the names the operation takes (in the expression's name syntax).
        number_type: the result's type.
        unit: the configured unit, if any.
        log: keep its history.
    """

    key: SignalKey
    source: str | None = None
    operation: str | None = None
    sources: tuple[str, ...] = ()
    number_type: NumberType = NumberType.DOUBLE
    unit: str | None = None
    log: bool = False


@dataclass(frozen=True, slots=True)
class DefinitionProblem:
    """What is wrong with one derived signal.

    Attributes:
        key: the derived signal.
        field: ``source``, ``operation`` or ``sources``.
        message: what is wrong (``column N: ...`` inside an expression).
    """

    key: SignalKey
    field: str
    message: str


def derived_specs(
    definitions: Sequence[Definition],
    signals: Mapping[str, Mapping[str, NumberType]],
    served: Set[SignalKey] | None = None,
    unchecked: Set[SignalKey] = frozenset(),
) -> tuple[list[DerivedSpec], list[DefinitionProblem]]:
    """Resolve and compile every derived signal.

    Args:
        definitions: the derived signals (enabled, of enabled devices).
        signals: device -> signal -> number type, for every signal of the
            configuration (derived ones included).
        served: the signals that update (enabled, of enabled devices); a derived
            signal using another one is a problem (``None``: all of ``signals``).
        unchecked: signals whose rows have problems of their own: a derived signal
            using one is left out without a problem of its own.

    Returns:
        The specs of the derived signals without problems, and the problems (a
        derived signal on a cycle gets one, naming the cycle).
    """
    names = {device: set(by_signal) for device, by_signal in signals.items()}
    for device, signal in unchecked:
        names.setdefault(device, set()).add(signal)
    specs: list[DerivedSpec] = []
    problems: list[DefinitionProblem] = []
    for definition in definitions:
        try:
            specs.append(_spec(definition, names, signals, served))
        except _Problem as exc:
            problems.append(DefinitionProblem(definition.key, exc.field, exc.message))
        except _Unchecked:
            pass
    cyclic: dict[SignalKey, list[SignalKey]] = {}
    for cycle in find_cycles(specs):
        for key in cycle[:-1]:
            cyclic.setdefault(key, cycle)
    for spec in specs:
        found = cyclic.get(spec.key)
        if found is not None:
            field = "sources" if spec.operation else "source"
            path = " -> ".join(f"{d}.{s}" for d, s in found)
            problems.append(DefinitionProblem(spec.key, field, f"a cycle: {path}"))
    return [s for s in specs if s.key not in cyclic], problems


class _Unchecked(Exception):
    """A source's own row has problems: nothing to say about the derived signal."""


class _Problem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _spec(
    definition: Definition,
    names: Mapping[str, set[str]],
    types: Mapping[str, Mapping[str, NumberType]],
    served: Set[SignalKey] | None,
) -> DerivedSpec:
    own = definition.key[0]
    if definition.operation is not None:
        return _operation_spec(definition, names, types, served)
    text = definition.source or ""
    try:
        expression = parse(text)
        order: dict[SignalKey, int] = {}
        located: dict[SignalKey, Name] = {}
        for name in expression.names:
            key = resolve(name, own, names)
            located.setdefault(key, name)
            order.setdefault(key, len(order))
            _check_source(definition, key, name, types, served)
        compute = compile_expression(expression, lambda n: order[resolve(n, own, names)])
    except ExpressionError as exc:
        raise _Problem("source", str(exc)) from None
    return DerivedSpec(
        key=definition.key,
        sources=tuple(order),
        compute=compute,
        number_type=definition.number_type,
        unit=definition.unit,
        log=definition.log,
        text=text,
    )


def _operation_spec(
    definition: Definition,
    names: Mapping[str, set[str]],
    types: Mapping[str, Mapping[str, NumberType]],
    served: Set[SignalKey] | None,
) -> DerivedSpec:
    operation = definition.operation
    if operation not in OPERATIONS:
        raise _Problem(
            "operation", f"unknown operation {operation!r}; allowed: {', '.join(OPERATIONS)}"
        )
    if not definition.sources:
        raise _Problem("sources", f"{operation} needs sources")
    if operation in ("delta", "rate") and len(definition.sources) != 1:
        raise _Problem(
            "sources", f"{operation} takes exactly one source, got {len(definition.sources)}"
        )
    keys: list[SignalKey] = []
    for text in definition.sources:
        try:
            name = _one_name(text)
            key = resolve(name, definition.key[0], names)
            _check_source(definition, key, name, types, served)
        except ExpressionError as exc:
            raise _Problem("sources", f"{text!r}: {exc.reason}") from None
        if key in keys:
            raise _Problem("sources", f"{text!r} is given twice")
        keys.append(key)
    shown = f"{operation}({', '.join(definition.sources)})"
    return DerivedSpec(
        key=definition.key,
        sources=tuple(keys),
        compute=operation_function(operation),
        operation=operation,
        number_type=definition.number_type,
        unit=definition.unit,
        log=definition.log,
        text=shown,
    )


def _one_name(text: str) -> Name:
    """The one signal name ``text`` is.

    Raises:
        ExpressionError: it is not one name.
    """
    tree = parse(text).tree
    if not isinstance(tree, Name):
        raise ExpressionError("a source is one signal's name")
    return tree


def _check_source(
    definition: Definition,
    key: SignalKey,
    name: Name,
    types: Mapping[str, Mapping[str, NumberType]],
    served: Set[SignalKey] | None,
) -> None:
    if key == definition.key:
        raise ExpressionError("a derived signal cannot use itself", name.column)
    number_type = types.get(key[0], {}).get(key[1])
    if number_type is None:
        raise _Unchecked
    if served is not None and key not in served:
        raise ExpressionError(
            f"signal {key[0]}.{key[1]} is disabled (enable = 0, or its device's): it never updates",
            name.column,
        )
    if number_type not in NUMERIC_TYPES:
        raise ExpressionError(
            f"signal {key[0]}.{key[1]} is {number_type.value}: expressions compute with numbers",
            name.column,
        )


def operation_function(operation: str) -> Evaluator | None:
    """The function of a stateless operation over its sources' values (``None`` for
    ``delta`` and ``rate``, which the derived signals compute with their state): the
    expression function of the same name.

    Raises:
        ValueError: not an operation.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    if operation in ("delta", "rate"):
        return None
    call = function(operation)
    return lambda values: call(list(values))
