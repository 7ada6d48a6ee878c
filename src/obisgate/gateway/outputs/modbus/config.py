"""Configuration of the Modbus TCP server (``[modbus]``), its signal columns and their checks.

The fields, their defaults and meanings are in their descriptions (and so in
``docs/configuration.md``); :func:`modbus_signal_problems` finds what only shows
across signals (registers or bits used twice, ranges past 65535, types that
cannot hold the number type, a fractional signal in an integer type without
``modbus_scale``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from obisgate.gateway import config_cells as cells
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.outputs.config_problem import SignalProblem
from obisgate.gateway.outputs.listen import Listen, unauthenticated_warning

if TYPE_CHECKING:
    from obisgate.gateway.config_models import SignalConfig

__all__ = [
    "MODBUS_REGISTERS",
    "MODBUS_TYPES",
    "ModbusColumns",
    "ModbusConfig",
    "modbus_signal_problems",
    "modbus_type_of",
    "modbus_types_allowed",
]

#: Registers taken by a value of each ``modbus_type``.
MODBUS_REGISTERS: dict[str, int] = {
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
    "int64": 4, "uint64": 4, "float64": 4,
}  # fmt: skip

#: ``modbus_type`` values, in the order messages list them.
MODBUS_TYPES = ("float32", "float64", "int16", "uint16", "int32", "uint32", "int64", "uint64")

_DEFAULT_TYPE: dict[NumberType, str] = {
    NumberType.FLOAT: "float32",
    NumberType.DOUBLE: "float32",
    NumberType.DIGITAL: "uint16",
    NumberType.INT8: "int16",
    NumberType.INT16: "int16",
    NumberType.INT32: "int32",
    NumberType.INT64: "int64",
    NumberType.UINT8: "uint16",
    NumberType.UINT16: "uint16",
    NumberType.UINT32: "uint32",
    NumberType.UINT64: "uint64",
    NumberType.HEX: "uint64",
}
_FLOATS = frozenset({NumberType.FLOAT, NumberType.DOUBLE})
_ORDER = cells.choice({"BIG": "big", "LITTLE": "little"}, "big, little")


class ModbusConfig(BaseModel):
    """The ``[modbus]`` section. Present = the output is on.

    Attributes:
        listen: ``HOST:PORT`` to serve on (port 0: any free port).
        unit_id: the unit (slave) id answered; others get exception 11 (0: answer every id).
        word_order: ``big`` (most significant register first) or ``little``.
        byte_order: ``big`` (high byte first in a register) or ``little``.
        max_connections: masters connected at once; a further one is closed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Listen = Field(
        default="127.0.0.1:5020",
        description="`HOST:PORT` to serve on (port 0 picks a free one); Modbus has no "
        "authentication: a non-loopback address is warned about.",
    )
    unit_id: Annotated[int, BeforeValidator(cells.int_range(0, 247))] = Field(
        default=1,
        description="The unit (slave) id answered, 0-247; other ids get exception 11 (0: "
        "answer every id).",
    )
    word_order: Annotated[Literal["big", "little"], BeforeValidator(_ORDER)] = Field(
        default="big",
        description="`big`: the first register holds the most significant word; `little`.",
    )
    byte_order: Annotated[Literal["big", "little"], BeforeValidator(_ORDER)] = Field(
        default="big",
        description="`big`: the high byte of each register first, as Modbus sends; `little`.",
    )
    max_connections: Annotated[int, BeforeValidator(cells.int_range(1, 1000))] = Field(
        default=32,
        description="Masters connected at once, 1-1000; a further connection is closed (one "
        "line in the log).",
    )

    def exposure_warning(self) -> str | None:
        """The warning when :attr:`listen` is reachable from other machines, else ``None``."""
        return unauthenticated_warning(
            "modbus",
            self.listen,
            "Modbus TCP has no authentication: any client that reaches it reads every value",
        )


class ModbusColumns(BaseModel):
    """The signal columns of the Modbus output (empty: the signal is not served)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modbus_address: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(0, 65535)))
    ] = Field(
        default=None,
        description="The signal's first holding register, 0-based (0-65535); the same value "
        "is readable as an input register. Registers used twice (value or quality) and ranges "
        "past 65535 are errors.",
    )
    modbus_type: Annotated[
        str | None, BeforeValidator(cells.optional(cells.named(MODBUS_TYPES)))
    ] = Field(
        default=None,
        description="float32, float64, int16, uint16, int32, uint32, int64 or uint64. An "
        "integer type on a FLOAT or DOUBLE signal needs `modbus_scale`; STRING, TIME, DATE, "
        "DATETIME cannot be served.",
        json_schema_extra={
            "shown": "float32 for FLOAT and DOUBLE, int16/int32/int64 for INT8-16/INT32/INT64, "
            "uint16/uint32/uint64 for UINT8-16/UINT32/UINT64, uint64 for HEX, uint16 for DIGITAL"
        },
    )
    modbus_scale: Annotated[float | None, BeforeValidator(cells.optional(cells.as_finite))] = Field(
        default=None,
        description="The value is multiplied by it before it is encoded (integer types round "
        "half away from zero); an integer type on a FLOAT or DOUBLE signal needs it, e.g. "
        "`1000` for Wh in an int32 from kWh (`1` rounds). Not 0.",
        json_schema_extra={"shown": "`1`"},
    )
    modbus_quality_address: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(0, 65535)))
    ] = Field(
        default=None,
        description="A register holding the value's quality: 0 valid, else the bits IV=1, "
        "NT=2, OV=4; IV+NT (3) until the signal's first value. Needs `modbus_address` or "
        "`modbus_coil`.",
    )
    modbus_coil: Annotated[
        int | None, BeforeValidator(cells.optional(cells.int_range(0, 65535)))
    ] = Field(
        default=None,
        description="DIGITAL signals: a bit, 0-based (0-65535), read as a coil (function 1) "
        "and as a discrete input (function 2); bits used twice are errors.",
    )


def modbus_types_allowed(number_type: NumberType) -> tuple[str, ...]:
    """The ``modbus_type`` values a signal of ``number_type`` may use (none: not servable).

    Every number type, HEX and DIGITAL may use any type (a value outside an
    integer type's range sets OV); fractional numbers (FLOAT, DOUBLE) in an
    integer type need a ``modbus_scale`` (see :func:`modbus_signal_problems`).
    """
    if number_type in _DEFAULT_TYPE:
        return MODBUS_TYPES
    return ()


def modbus_type_of(signal: SignalConfig) -> str:
    """The signal's ``modbus_type``, or the default for its ``number_type``.

    Raises:
        KeyError: the number type has no Modbus representation (STRING, TIME ...).
    """
    explicit = signal.columns(ModbusColumns).modbus_type
    return explicit if explicit is not None else _DEFAULT_TYPE[signal.number_type]


def modbus_signal_problems(
    section: ModbusConfig, signals: Sequence[SignalConfig]
) -> list[SignalProblem]:
    """Problems of the signals' modbus columns that only show across signals.

    Every signal with a Modbus column is checked (also disabled ones: the map
    stays the same when they are turned on): types that cannot hold the number
    type, a fractional signal in an integer type without ``modbus_scale``, a
    scale of 0, coils on signals that are not DIGITAL, ranges past 65535, and
    registers or bits used twice (value and quality registers share one space).
    """
    del section
    problems: list[SignalProblem] = []
    owner: dict[int, tuple[str, str, str]] = {}
    bits: dict[int, tuple[str, str]] = {}

    def claim(signal: SignalConfig, field: str, first: int, count: int) -> None:
        last = first + count - 1
        if last > 65535:
            problems.append(
                SignalProblem(
                    signal.key,
                    field,
                    f"registers {first}-{last} run past 65535",
                )
            )
            return
        taken = sorted({owner[r] for r in range(first, last + 1) if r in owner})
        if taken:
            others = "; ".join(f"{d}/{s} {f}" for d, s, f in taken)
            span = (
                f"register {first} overlaps" if count == 1 else f"registers {first}-{last} overlap"
            )
            problems.append(SignalProblem(signal.key, field, f"{span} {others}"))
            return
        for register in range(first, last + 1):
            owner[register] = (*signal.key, field)

    for signal in signals:
        columns = signal.columns(ModbusColumns)
        if columns.modbus_coil is not None:
            if signal.number_type is not NumberType.DIGITAL:
                problems.append(
                    SignalProblem(signal.key, "modbus_coil", "only DIGITAL signals have a bit")
                )
            elif columns.modbus_coil in bits:
                device, alias = bits[columns.modbus_coil]
                problems.append(
                    SignalProblem(
                        signal.key,
                        "modbus_coil",
                        f"bit {columns.modbus_coil} is already used by {device}/{alias}",
                    )
                )
            else:
                bits[columns.modbus_coil] = signal.key
        if columns.modbus_scale == 0:
            problems.append(SignalProblem(signal.key, "modbus_scale", "must not be 0"))
        if columns.modbus_address is None and columns.modbus_quality_address is None:
            for field in ("modbus_type", "modbus_scale"):
                if getattr(columns, field) is not None:
                    problems.append(SignalProblem(signal.key, field, "needs a modbus_address"))
            continue
        allowed = modbus_types_allowed(signal.number_type)
        if not allowed:
            field = (
                "modbus_address" if columns.modbus_address is not None else "modbus_quality_address"
            )
            problems.append(
                SignalProblem(
                    signal.key,
                    field,
                    f"a {signal.number_type.value} signal cannot be served over Modbus "
                    "(numbers, HEX and DIGITAL only)",
                )
            )
            continue
        kind = modbus_type_of(signal)
        if kind not in allowed:
            problems.append(
                SignalProblem(
                    signal.key,
                    "modbus_type",
                    f"{kind} cannot hold {signal.number_type.value} values; allowed: "
                    + ", ".join(allowed),
                )
            )
            continue
        if (
            signal.number_type in _FLOATS
            and kind not in ("float32", "float64")
            and columns.modbus_scale is None
        ):
            problems.append(
                SignalProblem(
                    signal.key,
                    "modbus_type",
                    f"{kind} holds whole numbers: give modbus_scale (e.g. 1000 for Wh from "
                    f"kWh; 1 rounds the {signal.number_type.value} value)",
                )
            )
            continue
        if columns.modbus_address is None:
            if columns.modbus_coil is None:
                problems.append(
                    SignalProblem(
                        signal.key, "modbus_address", "required with modbus_quality_address"
                    )
                )
                continue
        else:
            claim(signal, "modbus_address", columns.modbus_address, MODBUS_REGISTERS[kind])
        if columns.modbus_quality_address is not None:
            claim(signal, "modbus_quality_address", columns.modbus_quality_address, 1)
    return problems
