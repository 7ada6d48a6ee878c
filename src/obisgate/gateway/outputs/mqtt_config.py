"""Configuration of the MQTT output (``[mqtt]``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from obisgate.gateway.outputs.config_problem import SignalProblem

__all__ = ["MqttConfig", "mqtt_signal_problems"]


class MqttConfig(BaseModel):
    """The ``[mqtt]`` section. Present = the output is on."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def mqtt_signal_problems(section: MqttConfig, signals: Sequence[Any]) -> list[SignalProblem]:
    """Problems of the signals' mqtt columns that only show across signals."""
    return []
