"""One object for equal values: a configuration of many meters repeats the same ones
(signal plans, line settings, addresses, discovery data), and each kept once saves
memory per device."""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["shared_equal"]

T = TypeVar("T")


def shared_equal(value: T, pool: dict[object, Any]) -> T:
    """The equal object put in ``pool`` before, else ``value`` (put there for later).

    ``value`` must be hashable; ``pool`` is the caller's, one per configuration.
    """
    return pool.setdefault(value, value)  # type: ignore[no-any-return]
