"""The meter's door into programming mode, found lazily.

Programming mode itself lives in ``obisgate.simulator.programming_meter`` (the meter
side of the programming session). This module holds what the meter state machine needs
from it and looks the session class up by name, so ``meter.py`` does not import it; were
the module missing, an option select with Y = 1 would be treated as an unsupported option
and answered with a 300 Bd readout, as the standard says.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["ProgrammingSession", "programming_session_factory"]

_MODULE = "obisgate.simulator.programming_meter"


class ProgrammingSession(Protocol):
    """What the meter needs from a programming-mode session.

    Attributes:
        ended: true once the session signed off or broke off; the meter
            then returns to idle at 300 Bd.
        idle_timeout_s: with nothing received for this long the meter goes
            idle silently.
    """

    @property
    def ended(self) -> bool: ...

    @property
    def idle_timeout_s(self) -> float: ...

    def opening(self) -> bytes:
        """The P0 message, sent tr after the option select."""
        ...

    def feed(self, data: bytes) -> list[bytes]:
        """Take received bytes (bit 7 cleared); return the answers, each sent after tr."""
        ...


SessionFactory = Callable[[Any], ProgrammingSession]


def programming_session_factory() -> SessionFactory | None:
    """``MeterProgrammingSession`` from the programming module, or ``None`` if absent."""
    try:
        module = importlib.import_module(_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _MODULE:
            raise
        return None
    factory: SessionFactory | None = getattr(module, "MeterProgrammingSession", None)
    return factory
