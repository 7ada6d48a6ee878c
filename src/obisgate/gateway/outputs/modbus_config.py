"""Configuration of the Modbus TCP server (``[modbus]``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from obisgate.gateway.outputs.config_problem import SignalProblem

__all__ = ["ModbusConfig", "modbus_signal_problems"]


class ModbusConfig(BaseModel):
    """The ``[modbus]`` section. Present = the output is on."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def modbus_signal_problems(section: ModbusConfig, signals: Sequence[Any]) -> list[SignalProblem]:
    """Problems of the signals' modbus columns that only show across signals."""
    return []
