"""A problem that a cross-signal check of an output section found in one signal row."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SignalProblem"]


@dataclass(frozen=True, slots=True)
class SignalProblem:
    """A problem of one signal row found by a cross-signal check.

    Attributes:
        key: ``(device_alias, signal_alias)`` of the signal.
        field: the field at fault.
        message: what is wrong and what is allowed.
    """

    key: tuple[str, str]
    field: str
    message: str
