"""The register / IOA map that ``obisgate check --show-map CONFIG`` prints for a SCADA engineer.

Plain-text tables (columns separated by two or more blanks), one per protocol,
listing the served signals (enabled signals of enabled devices) in address
order. A protocol whose section is absent is still listed when signals carry
its columns, marked "(output off)". OPC UA (no per-signal columns: every
served signal is a variable) is listed when ``[opcua]`` is present.
"""

from __future__ import annotations

from collections.abc import Sequence

from obisgate.gateway.config import GatewayConfig
from obisgate.gateway.outputs.iec104.mapping import COUNTER_TYPES, points_from_signals
from obisgate.gateway.outputs.listen import split_listen
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import slots_from_signals
from obisgate.gateway.outputs.opcua.mapping import variant_kind
from obisgate.gateway.outputs.opcua.output import ENDPOINT_PATH, NAMESPACE
from obisgate.gateway.updates import STATUS_SIGNAL

__all__ = ["scada_map"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (header, *rows)
    ]


def _served(config: GatewayConfig) -> list[object]:
    return list(config.served_signals)


def _scale(scale: float) -> str:
    return f"{scale:g}"


def _opcua_lines(config: GatewayConfig) -> list[str]:
    if config.opcua is None:
        return []
    host, port = split_listen(config.opcua.listen)
    shown = f"[{host}]" if ":" in host else host
    lines = [
        f"OPC UA opc.tcp://{shown}:{port}{ENDPOINT_PATH}, namespace {NAMESPACE}: node id "
        f"ns=<index of {NAMESPACE}>;s=DEVICE.SIGNAL, read-only, no security"
    ]
    rows: list[tuple[str, ...]] = []
    for device in config.enabled_devices:
        alias = device.device_alias
        rows += [
            (f"{alias}.{s.signal_alias}", variant_kind(s.number_type), alias, s.signal_alias,
             s.unit or "")
            for s in config.signals_for(alias)
        ]  # fmt: skip
        rows.append((f"{alias}.{STATUS_SIGNAL}", "String", alias, STATUS_SIGNAL, ""))
    header = ("identifier", "type", "device", "signal", "unit")
    return lines + (_table(header, rows) if rows else ["(no enabled device)"])


def scada_map(config: GatewayConfig) -> str:
    """The Modbus register map, the IEC 104 IOA map and the OPC UA variables as text
    (empty when none is used)."""
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
    if opcua := _opcua_lines(config):
        lines += ["", *opcua] if lines else opcua
    return "\n".join(lines)
