"""The Modbus register map as ``obisgate check --show-map`` prints it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obisgate.gateway.outputs.map_text import table_lines
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import slots_from_signals

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig

__all__ = ["modbus_map"]


def modbus_map(config: GatewayConfig, section: ModbusConfig | None) -> list[str]:
    """The served signals (enabled signals of enabled devices) in register order;
    without the section, still listed (marked "output off") when signals carry
    Modbus columns; nothing when neither."""
    slots = slots_from_signals(config.served_signals)
    if section is None and not slots:
        return []
    state = "" if section is not None else " (output off)"
    shown = section or ModbusConfig()
    lines = [
        f"Modbus TCP {shown.listen}, unit {shown.unit_id}, word order "
        f"{shown.word_order}, byte order {shown.byte_order}; holding = input "
        f"registers, 0-based; quality register: 0 valid, IV=1 NT=2 OV=4 (3 until the "
        f"first value); coil = discrete input{state}"
    ]
    rows = [
        (
            "" if slot.address is None else str(slot.address),
            "" if slot.address is None else str(slot.count),
            "" if slot.address is None else slot.kind,
            "" if slot.address is None or slot.scale == 1 else f"{slot.scale:g}",
            slot.key[0],
            slot.key[1],
            slot.unit or "",
            "" if slot.quality_address is None else str(slot.quality_address),
            "" if slot.coil is None else str(slot.coil),
        )
        for slot in slots
    ]
    header = (
        "address", "registers", "type", "scale", "device", "signal", "unit", "quality", "coil",
    )  # fmt: skip
    return lines + (table_lines(header, rows) if rows else ["(no signal has a modbus_address)"])
