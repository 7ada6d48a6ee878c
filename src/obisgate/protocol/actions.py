"""What the sans-IO core asks its driver to do, and what it reports.

The core never touches a port, a clock or a timer: it returns these values and
the driver (``obisgate.session``) carries them out in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from obisgate.protocol.identification import Identification


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` to the line.

    Attributes:
        data: the bytes to send.
        shown: what traces and logs show instead of ``data`` (passwords masked);
            ``None`` means ``data`` may be shown as it is.
    """

    data: bytes
    shown: bytes | None = None

    @property
    def printable(self) -> bytes:
        """The bytes a trace may show."""
        return self.data if self.shown is None else self.shown


@dataclass(frozen=True, slots=True)
class Drain:
    """Wait until everything written has left the UART."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` before the next action (a reaction or settling time)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class SetBaud:
    """Switch the line to ``baud`` (the meter switches too)."""

    baud: int


@dataclass(frozen=True, slots=True)
class SetFraming:
    """Switch the character format, e.g. to 8N1 after the mode E opening (7E1 before)."""

    bytesize: int
    parity: str


@dataclass(frozen=True, slots=True)
class IdentificationReceived:
    """The meter identified itself."""

    identification: Identification


@dataclass(frozen=True, slots=True)
class RecipesApplied:
    """Recipes matched the identification and changed these settings.

    Attributes:
        names: the recipes, in the order they applied.
        changes: ``(option field, new value)`` of every setting they changed.
        kept: option fields they name that were given explicitly, left as given.
    """

    names: tuple[str, ...]
    changes: tuple[tuple[str, object], ...]
    kept: tuple[str, ...] = ()


Action = Send | Drain | Sleep | SetBaud | SetFraming
Event = IdentificationReceived | RecipesApplied
