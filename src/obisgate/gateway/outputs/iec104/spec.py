"""The IEC 60870-5-104 outstation as the configuration knows it: ``[iec104]`` and its columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.iec104.config import (
    Iec104Columns,
    Iec104Config,
    iec104_signal_problems,
)
from obisgate.gateway.outputs.iec104.printed_map import iec104_map
from obisgate.gateway.outputs.spec import OutputSpec, SignalColumns

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["IEC104"]


def _create(config: GatewayConfig, section: Iec104Config, context: OutputContext) -> Output:
    from obisgate.gateway.outputs.iec104.output import create  # noqa: PLC0415 - when turned on

    return create(config, section, context)


IEC104: OutputSpec[Iec104Config] = OutputSpec(
    name="iec104",
    title="IEC 60870-5-104",
    summary=(
        "Present = obisgate's own IEC 60870-5-104 outstation serves every signal with an "
        "`ioa`: events on change, general and counter interrogation, redundancy groups, "
        "a bounded buffer while no master has started data transfer."
    ),
    model=Iec104Config,
    create=_create,
    columns=SignalColumns(
        model=Iec104Columns,
        check=iec104_signal_problems,
        checked_without_section=("ioa", "iec104_type"),
        title="the information objects",
    ),
    show_map=iec104_map,
    shared=True,  # one server for every worker (run --workers: in the supervisor)
)
