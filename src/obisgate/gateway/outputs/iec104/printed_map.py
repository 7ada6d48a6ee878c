"""The IEC 104 information object map as ``obisgate check --show-map`` prints it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.iec104.mapping import COUNTER_TYPES, points_from_signals
from obisgate.gateway.outputs.map_text import table_lines

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig
    from obisgate.gateway.outputs.iec104.config import Iec104Config

__all__ = ["iec104_map"]


def iec104_map(config: GatewayConfig, section: Iec104Config | None) -> list[str]:
    """The served signals with an ``ioa``, in IOA order; without the section, still
    listed (marked "output off") when signals carry IEC 104 columns; nothing when
    neither."""
    points = points_from_signals(config.served_signals)
    if section is None and not points:
        return []
    if section is not None:
        where, state = f"{section.listen}, common address {section.common_address}", ""
    else:
        where, state = "defaults", " (output off)"
    answered = (
        "M_ME_NC_1/M_SP_NA_1 (gi_without_time)"
        if section is not None and section.gi_without_time
        else "M_ME/M_SP as typed"
    )
    lines = [
        f"IEC 60870-5-104 {where}; general interrogation: {answered}, "
        f"counter interrogation: M_IT{state}"
    ]
    rows = [
        (
            str(point.ioa),
            point.kind,
            f"{point.scale:g}" if point.kind != "M_SP_TB_1" else "",
            point.key[0],
            point.key[1],
            point.unit or "",
            "counter" if point.kind in COUNTER_TYPES else "general",
        )
        for point in points
    ]
    header = ("ioa", "type", "scale", "device", "signal", "unit", "interrogation")
    return lines + (table_lines(header, rows) if rows else ["(no signal has an ioa)"])
