"""Configuration of the IEC 60870-5-104 outstation (``[iec104]``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from obisgate.gateway.outputs.config_problem import SignalProblem

__all__ = ["Iec104Config", "iec104_signal_problems"]


class Iec104Config(BaseModel):
    """The ``[iec104]`` section. Present = the output is on."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def iec104_signal_problems(section: Iec104Config, signals: Sequence[Any]) -> list[SignalProblem]:
    """Problems of the signals' iec104 columns that only show across signals."""
    return []
