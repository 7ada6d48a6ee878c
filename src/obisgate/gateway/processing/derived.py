"""Derived signals: their graph and their evaluation when a source updates (pure).

A derived signal is computed from other signals (read or derived, of any device)
by an expression (:mod:`.expression`) or an operation over its sources:

=============  ==============================================================
``sum``        the sources added (left to right)
``avg``        their mean
``min``        the smallest
``max``        the largest
``median``     the middle one (the mean of the middle two for an even count)
``delta``      one source: its change since its previous valid reading
``rate``       one source: that change per hour (``kWh`` -> average ``kW``)
=============  ==============================================================

:class:`DerivedSignals` keeps the latest update of every signal a derived signal
uses. When updates come in (:meth:`DerivedSignals.affected`), every derived
signal that depends on them, directly or through other derived signals, is
computed once, in dependency order (:meth:`DerivedSignals.compute`), so a batch
changing three phases computes their sum once.

Quality propagates: a source that is not topical (or never read yet) makes the
result not topical, an invalid or overflowed one makes it invalid, whichever
branch of a conditional uses it. The result is computed from the sources' values
when they all have one (a not-topical source keeps its last value), else it has
none. Its time is the newest source's. An expression that has no result (a
division by zero ...) is invalid, a result too large or not finite overflow, and
:attr:`Derived.error` says why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from obisgate.errors import EvaluationError
from obisgate.gateway.numbers import NumberType, convert_number
from obisgate.gateway.processing.evaluation import Evaluator, Real
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

__all__ = [
    "OPERATIONS",
    "Derived",
    "DerivedSignals",
    "DerivedSpec",
    "Previous",
    "SignalKey",
    "find_cycles",
]

SignalKey = tuple[str, str]
"""``(device_alias, signal_alias)``."""

#: The operations a derived signal may have instead of an expression.
OPERATIONS = ("sum", "avg", "min", "max", "median", "delta", "rate")
#: Operations of one source that remember its previous reading.
_STATEFUL = frozenset({"delta", "rate"})
#: Operations whose result has the sources' unit (when they share one).
_SAME_UNIT = frozenset({"sum", "avg", "min", "max", "median", "delta"})
_SOURCE_BAD = Quality.INVALID | Quality.OVERFLOW
_VALID = Quality.VALID


@dataclass(frozen=True, slots=True, kw_only=True)
class DerivedSpec:
    """One derived signal, resolved.

    Attributes:
        key: the derived signal.
        sources: the signals it uses, each once, in the order ``compute`` gets their values.
        compute: the expression or operation over the sources' values (``None``
            for ``delta`` and ``rate``).
        operation: the operation, or ``None`` for an expression.
        number_type: the type the result is given (:func:`~obisgate.gateway.numbers.convert_number`).
        unit: the configured unit (``None``: the sources' common unit for
            sum/avg/min/max/median/delta, else none).
        log: keep its history.
        text: the expression or ``operation(sources)``, for messages.
    """

    key: SignalKey
    sources: tuple[SignalKey, ...]
    compute: Evaluator | None
    operation: str | None = None
    number_type: NumberType = NumberType.DOUBLE
    unit: str | None = None
    log: bool = False
    text: str = ""


@dataclass(frozen=True, slots=True)
class Derived:
    """A computed update and, when the computation failed, why (for the log)."""

    update: SignalUpdate
    error: str | None = None


Previous = tuple[Real, dt.datetime]
"""A ``delta`` / ``rate`` source's previous valid reading: value and time."""


def find_cycles(specs: Iterable[DerivedSpec]) -> list[list[SignalKey]]:
    """The cycles among derived signals, each as ``[a, b, ..., a]`` (none: ``[]``).

    Each derived signal on a cycle is in exactly one reported cycle.
    """
    uses = {spec.key: list(spec.sources) for spec in specs}
    state: dict[SignalKey, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[SignalKey]] = []
    for start in uses:
        if start in state:
            continue
        path: list[SignalKey] = []
        stack: list[tuple[SignalKey, int]] = [(start, 0)]
        while stack:
            key, index = stack.pop()
            if index == 0:
                state[key] = 1
                path.append(key)
            children = uses[key]
            while index < len(children) and (
                children[index] not in uses or state.get(children[index]) == 2
            ):
                index += 1
            if index == len(children):
                state[key] = 2
                path.pop()
                continue
            child = children[index]
            stack.append((key, index + 1))
            if state.get(child) == 1:
                cycles.append([*path[path.index(child) :], child])
                continue
            stack.append((child, 0))
    return cycles


class DerivedSignals:
    """The derived signals of a gateway and the latest update of every signal they use.

    Args:
        specs: every derived signal.

    Attributes:
        latest: signal -> its latest update (sources and derived signals).
        previous: ``delta`` / ``rate`` signal -> its source's previous valid reading.
        changed_previous: the keys of ``previous`` changed since the caller last
            cleared it (to store them).

    Raises:
        ValueError: (on construction) the specs have a cycle (:func:`find_cycles`;
            the configuration loader refuses those first).
    """

    def __init__(self, specs: Sequence[DerivedSpec]) -> None:
        cycles = find_cycles(specs)
        if cycles:
            raise ValueError("derived signals in a cycle: " + " -> ".join(map(_name, cycles[0])))
        self.specs = tuple(specs)
        self.latest: dict[SignalKey, SignalUpdate] = {}
        self.previous: dict[SignalKey, Previous] = {}
        self.changed_previous: set[SignalKey] = set()
        ordered = _dependency_order(self.specs)
        self._order = {spec.key: index for index, spec in enumerate(ordered)}
        direct: dict[SignalKey, list[DerivedSpec]] = {}
        for spec in ordered:
            for source in spec.sources:
                direct.setdefault(source, []).append(spec)
        closure: dict[SignalKey, tuple[DerivedSpec, ...]] = {}
        for key, users in direct.items():
            found: dict[SignalKey, DerivedSpec] = {}
            todo = list(users)
            while todo:
                spec = todo.pop()
                if spec.key not in found:
                    found[spec.key] = spec
                    todo.extend(direct.get(spec.key, ()))
            closure[key] = tuple(sorted(found.values(), key=lambda s: self._order[s.key]))
        self._dependents = closure

    def uses(self, key: SignalKey) -> bool:
        """Whether a derived signal depends on ``key``."""
        return key in self._dependents

    def affected(self, keys: Iterable[SignalKey]) -> list[DerivedSpec]:
        """The derived signals to compute after ``keys`` updated, each once, dependencies first."""
        found: dict[SignalKey, DerivedSpec] = {}
        for key in keys:
            for spec in self._dependents.get(key, ()):
                found.setdefault(spec.key, spec)
        if len(found) < 2:
            return list(found.values())
        return sorted(found.values(), key=lambda s: self._order[s.key])

    def record(self, update: SignalUpdate) -> None:
        """Remember ``update`` as its signal's latest (only for signals something uses)."""
        key = (update.device, update.signal)
        if key in self._dependents:
            self.latest[key] = update

    def restore(self, previous: Mapping[SignalKey, Previous]) -> None:
        """Take the ``delta`` / ``rate`` readings remembered by an earlier run."""
        wanted = {spec.key for spec in self.specs if spec.operation in _STATEFUL}
        self.previous.update((k, v) for k, v in previous.items() if k in wanted)

    def compute(self, spec: DerivedSpec) -> Derived | None:
        """``spec``'s update from its sources' latest updates.

        Returns ``None`` when there is nothing new to publish: no source read
        yet, or a ``delta`` / ``rate`` source reading no newer than the previous one.
        """
        sources = [self.latest.get(key) for key in spec.sources]
        flags = Quality.VALID
        values: list[Real] = []
        newest: dt.datetime | None = None
        complete = True
        for update in sources:
            if update is None:
                flags |= Quality.NOT_TOPICAL
                complete = False
                continue
            if newest is None or update.time > newest:
                newest = update.time
            quality = update.quality
            if quality is not _VALID:  # flag operations are slow: only when needed
                if Quality.NOT_TOPICAL in quality:
                    flags |= Quality.NOT_TOPICAL
                if quality & _SOURCE_BAD:
                    flags |= Quality.INVALID
            value = update.value
            if isinstance(value, int | float):
                values.append(value)
            else:
                complete = False
                if value is not None:  # never for a configuration that passed the load
                    flags |= Quality.INVALID
        if newest is None:
            return None
        if spec.operation in _STATEFUL:
            return self._stateful(spec, sources[0], flags, newest)
        if not complete:
            return Derived(self._update(spec, None, flags, newest, sources))
        assert spec.compute is not None  # an expression or a stateless operation
        try:
            number = spec.compute(values)
        except EvaluationError as exc:
            failed = Quality.OVERFLOW if exc.overflow else Quality.INVALID
            return Derived(self._update(spec, None, flags | failed, newest, sources), str(exc))
        return self._typed(spec, number, flags, newest, sources)

    def _stateful(
        self,
        spec: DerivedSpec,
        source: SignalUpdate | None,
        flags: Quality,
        time: dt.datetime,
    ) -> Derived | None:
        """``delta`` / ``rate`` of the one source."""
        assert source is not None  # a stateful operation has one source, read (newest is set)
        value = source.value
        if not flags.is_valid or not isinstance(value, int | float):
            return Derived(self._update(spec, None, flags, time, [source]))
        before = self.previous.get(spec.key)
        if before is not None and time <= before[1]:
            return None
        self.previous[spec.key] = (value, time)
        self.changed_previous.add(spec.key)
        if before is None:
            return Derived(self._update(spec, None, Quality.NOT_TOPICAL, time, [source]))
        hours = (time - before[1]).total_seconds() / 3600
        try:
            change = value - before[0]
            number = change if spec.operation == "delta" else change / hours
        except (ArithmeticError, ValueError) as exc:
            failed = Quality.OVERFLOW if isinstance(exc, OverflowError) else Quality.INVALID
            return Derived(self._update(spec, None, failed, time, [source]), str(exc))
        return self._typed(spec, number, flags, time, [source])

    def _typed(
        self,
        spec: DerivedSpec,
        number: Real,
        flags: Quality,
        time: dt.datetime,
        sources: Sequence[SignalUpdate | None],
    ) -> Derived:
        converted = convert_number(number, spec.number_type)
        quality = flags if converted.quality is _VALID else flags | converted.quality
        update = self._update(spec, converted.value, quality, time, sources)
        return Derived(update, converted.note)

    def _update(
        self,
        spec: DerivedSpec,
        value: object,
        quality: Quality,
        time: dt.datetime,
        sources: Sequence[SignalUpdate | None],
    ) -> SignalUpdate:
        # A not-topical value is the last one again: the history has it already.
        log = spec.log and (
            quality is _VALID or value is None or Quality.NOT_TOPICAL not in quality
        )
        return SignalUpdate(
            spec.key[0], spec.key[1], value, _unit(spec, sources), time, quality, None, log
        )


def _unit(spec: DerivedSpec, sources: Sequence[SignalUpdate | None]) -> str | None:
    if spec.unit is not None or spec.operation not in _SAME_UNIT:
        return spec.unit
    units = {None if update is None else update.unit for update in sources}
    return units.pop() if len(units) == 1 else None


def _dependency_order(specs: Sequence[DerivedSpec]) -> list[DerivedSpec]:
    """``specs`` with every derived signal after the derived signals it uses (no cycles)."""
    by_key = {spec.key: spec for spec in specs}
    done: set[SignalKey] = set()
    ordered: list[DerivedSpec] = []
    for spec in specs:
        stack: list[tuple[DerivedSpec, int]] = [(spec, 0)]
        while stack:
            current, index = stack.pop()
            if current.key in done:
                continue
            sources = current.sources
            while index < len(sources) and (sources[index] not in by_key or sources[index] in done):
                index += 1
            if index == len(sources):
                done.add(current.key)
                ordered.append(current)
                continue
            stack.append((current, index + 1))
            stack.append((by_key[sources[index]], 0))
    return ordered


def _name(key: SignalKey) -> str:
    return f"{key[0]}.{key[1]}"
