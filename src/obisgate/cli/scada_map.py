"""The register / IOA map that ``obisgate check --show-map CONFIG`` prints for a SCADA engineer.

Two plain-text tables (columns separated by two or more blanks), one per
protocol, listing the served signals (enabled signals of enabled devices) in
address order. A protocol whose section is absent is still listed when
signals carry its columns, marked "(output off)".
"""

from __future__ import annotations

from collections.abc import Sequence

from obisgate.gateway.config import GatewayConfig
from obisgate.gateway.outputs.iec104_map import COUNTER_TYPES, points_from_signals
from obisgate.gateway.outputs.modbus_config import ModbusConfig
from obisgate.gateway.outputs.modbus_map import slots_from_signals

__all__ = ["scada_map"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (header, *rows)
    ]


def _served(config: GatewayConfig) -> list[object]:
    enabled = {d.device_alias for d in config.enabled_devices}
    return [s for s in config.signals if s.enable and s.device_alias in enabled]


def _scale(scale: float) -> str:
    return f"{scale:g}"


def scada_map(config: GatewayConfig) -> str:
    """The Modbus register map and the IEC 104 IOA map as text (empty when neither is used)."""
    signals = _served(config)
    lines: list[str] = []
    slots = slots_from_signals(signals)
    if config.modbus is not None or slots:
        section = config.modbus or ModbusConfig()
        state = "" if config.modbus is not None else " (output off)"
        lines.append(
            f"Modbus TCP {section.listen}, unit {section.unit_id}, word order "
            f"{section.word_order}, byte order {section.byte_order}; holding = input "
            f"registers, 0-based; quality register: 0 valid, IV=1 NT=2 OV=4{state}"
        )
        rows = [
            (
                str(slot.address),
                str(slot.count),
                slot.kind,
                slot.key[0],
                slot.key[1],
                slot.unit or "",
                "" if slot.quality_address is None else str(slot.quality_address),
            )
            for slot in slots
        ]
        header = ("address", "registers", "type", "device", "signal", "unit", "quality")
        lines += _table(header, rows) if rows else ["(no signal has a modbus_address)"]
    points = points_from_signals(signals)
    if config.iec104 is not None or points:
        if lines:
            lines.append("")
        state = "" if config.iec104 is not None else " (output off)"
        if config.iec104 is not None:
            where = f"{config.iec104.listen}, common address {config.iec104.common_address}"
        else:
            where = "defaults"
        lines.append(
            f"IEC 60870-5-104 {where}; general interrogation: M_ME/M_SP, "
            f"counter interrogation: M_IT{state}"
        )
        rows = [
            (
                str(point.ioa),
                point.kind,
                _scale(point.scale) if point.kind != "M_SP_TB_1" else "",
                point.key[0],
                point.key[1],
                point.unit or "",
                "counter" if point.kind in COUNTER_TYPES else "general",
            )
            for point in points
        ]
        header = ("ioa", "type", "scale", "device", "signal", "unit", "interrogation")
        lines += _table(header, rows) if rows else ["(no signal has an ioa)"]
    return "\n".join(lines)
