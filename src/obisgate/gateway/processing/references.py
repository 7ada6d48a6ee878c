"""Names in expressions resolved to signals of the configuration (pure).

How a name is read (the derived signal's own device is ``own``):

* ``power``: signal ``power`` of ``own``;
* ``meter2.power``: signal ``power`` of device ``meter2`` when there is such a
  device, otherwise signal ``meter2.power`` of ``own`` (signal aliases may hold
  dots); both existing is an error asking for backquotes;
* `` `power-l1` ``: signal ``power-l1`` of ``own``; `` `meter-2:power.l1` ``:
  signal ``power.l1`` of device ``meter-2``. Any alias can be written this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from difflib import get_close_matches

from obisgate.errors import ExpressionError
from obisgate.gateway.processing.expression import Name

__all__ = ["SignalKey", "resolve"]

SignalKey = tuple[str, str]
"""``(device_alias, signal_alias)``."""


def resolve(name: Name, own: str, signals: Mapping[str, Set[str]]) -> SignalKey:
    """The signal ``name`` stands for, seen from a derived signal of device ``own``.

    Args:
        name: the name as parsed.
        own: the derived signal's device.
        signals: device alias -> the aliases of its signals (every device known).

    Raises:
        ExpressionError: no such signal or device, or an ambiguous dotted name
            (located at the name's column).
    """
    device, signal = name.parts
    if device is not None:
        return _existing(name, device, signal, signals)
    if name.quoted or "." not in signal:
        return _existing(name, own, signal, signals)
    prefix, _, rest = signal.partition(".")
    own_has = signal in signals.get(own, ())
    other = signals.get(prefix)
    other_has = other is not None and rest in other
    if own_has and other_has:
        raise ExpressionError(
            f"{signal!r} is ambiguous: signal {signal!r} of {own} or signal {rest!r} of "
            f"device {prefix}; write `{signal}` or `{prefix}:{rest}`",
            name.column,
        )
    if other is not None and not own_has:
        return _existing(name, prefix, rest, signals)
    return _existing(name, own, signal, signals)


def _existing(name: Name, device: str, signal: str, signals: Mapping[str, Set[str]]) -> SignalKey:
    known = signals.get(device)
    if known is None:
        close = get_close_matches(device, sorted(signals), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ExpressionError(f"no device {device!r}{hint}", name.column)
    if signal not in known:
        close = get_close_matches(signal, sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ExpressionError(f"no signal {signal!r} on device {device}{hint}", name.column)
    return (device, signal)
