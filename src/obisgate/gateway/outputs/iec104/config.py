"""Configuration of the IEC 60870-5-104 outstation (``[iec104]``), its signal columns and checks.

The fields, their defaults and meanings are in their descriptions (and so in
``docs/configuration.md``); the protocol timers and windows stay at the
standard's defaults unless set. :func:`iec104_signal_problems` finds what only
shows across signals (IOAs used twice, types that cannot carry the number type).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from obisgate.gateway import config_cells as cells
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.outputs.config_problem import SignalProblem
from obisgate.gateway.outputs.listen import Listen

if TYPE_CHECKING:
    from obisgate.gateway.config_models import SignalConfig

__all__ = [
    "IEC104_TYPES",
    "Iec104Columns",
    "Iec104Config",
    "iec104_signal_problems",
    "iec104_type_of",
    "iec104_types_allowed",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NUMBERS = frozenset(
    {
        NumberType.FLOAT, NumberType.DOUBLE, NumberType.HEX,
        NumberType.INT8, NumberType.INT16, NumberType.INT32, NumberType.INT64,
        NumberType.UINT8, NumberType.UINT16, NumberType.UINT32, NumberType.UINT64,
    }
)  # fmt: skip


def _networks(value: object) -> tuple[Network, ...]:
    items: list[object]
    if isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [p for p in re.split(r"[\s,;]+", cells.as_text(value)) if p]
    networks: list[Network] = []
    for item in items:
        text = cells.as_text(item)
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"{text!r} is not an IP address or network (e.g. 10.0.0.5 or 10.1.0.0/16)"
            ) from None
    return tuple(networks)


_GROUP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
Groups = tuple[tuple[str, tuple[Network, ...]], ...]


def _groups(value: object) -> Groups:
    """``"cc1 = 10.0.0.5 10.0.0.6; cc2 = 10.1.0.0/24"`` (or a table of name -> addresses)."""
    pairs: list[tuple[str, object]]
    if isinstance(value, dict):
        pairs = [(str(name), addresses) for name, addresses in value.items()]
    else:
        pairs = []
        for part in cells.as_text(value).split(";"):
            if not part.strip():
                continue
            name, equals, text = part.partition("=")
            if not equals:
                raise ValueError(
                    f"{part.strip()!r}: expected NAME = ADDRESSES "
                    '(e.g. "cc1 = 10.0.0.5 10.0.0.6; cc2 = 10.1.0.0/24")'
                )
            pairs.append((name.strip(), text))
    groups: list[tuple[str, tuple[Network, ...]]] = []
    for name, cell in pairs:
        if not _GROUP_NAME.fullmatch(name):
            raise ValueError(f"group name {name!r}: letters, digits, '_', '.', '-' (1-64)")
        if any(name == other for other, _ in groups):
            raise ValueError(f"group {name!r} is given twice")
        networks = _networks(cell)
        if not networks:
            raise ValueError(f"group {name!r} has no address")
        for other, others in groups:
            for network in networks:
                if any(network.overlaps(o) for o in others if o.version == network.version):
                    raise ValueError(f"{network} of group {name!r} is in group {other!r} too")
        groups.append((name, networks))
    return tuple(groups)


def _optional_range(low: int, high: int, unit: str = "") -> Any:
    return BeforeValidator(cells.optional(cells.int_range(low, high, unit)))


class Iec104Config(BaseModel):
    """The ``[iec104]`` section. Present = the output is on.

    Attributes:
        listen: ``HOST:PORT`` to serve on (port 0: any free port).
        common_address: the station's common address (ASDU address).
        max_connections: masters connected at once.
        allowed_clients: client addresses or networks that may connect;
            empty: loopback only, unless ``allow_any``.
        allow_any: accept a client from any address.
        redundancy_groups: ``(name, networks)`` of each control centre whose
            connections form one redundancy group.
        event_buffer: events kept per group while it has no active connection.
        cyclic_s: seconds between cyclic transmissions; 0: none.
        gi_without_time: general interrogation answers without time tags.
        clock_sync: ``accept`` or ``refuse`` clock synchronisation commands.
        t1, t2, t3, k, w: protocol parameters; ``None`` = the standard default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Listen = Field(
        default="127.0.0.1:2404", description="`HOST:PORT` to serve on (port 0 picks a free one)."
    )
    common_address: Annotated[int, BeforeValidator(cells.int_range(1, 65534))] = Field(
        default=1, description="The station's common address (ASDU address), 1-65534."
    )
    max_connections: Annotated[int, BeforeValidator(cells.int_range(1, 255))] = Field(
        default=4,
        description="Connections open at once, 1-255. A new connection from an allowed address "
        "that finds them all taken closes one that has not started data transfer and is "
        "silent, or one whose master is gone (silent for t3, or no answer to a test frame).",
    )
    allowed_clients: Annotated[tuple[Network, ...], BeforeValidator(_networks)] = Field(
        default=(),
        description="The addresses or networks masters may connect from (`10.1.0.0/16`): a "
        "list, or text separated by commas or blanks. The addresses of `redundancy_groups` "
        "may connect too.",
        json_schema_extra={"shown": "loopback only"},
    )
    allow_any: cells.Switch = Field(
        default=False, description="1: accept a master from any address."
    )
    redundancy_groups: Annotated[Groups, BeforeValidator(_groups)] = Field(
        default=(),
        description="Redundancy groups, `NAME = ADDRESSES; NAME = ADDRESSES` (or a TOML table "
        "of name -> addresses): the connections from one group's addresses are one control "
        "centre's; the one that started data transfer last gets the data, and the group has "
        "its own event buffer. Connections outside every group are independent masters.",
    )
    event_buffer: Annotated[int, BeforeValidator(cells.int_range(1, 1_000_000))] = Field(
        default=10_000,
        description="Events kept for a group while none of its connections has started data "
        "transfer, sent when one does; beyond this the oldest are dropped and counted.",
    )
    cyclic_s: Annotated[int, BeforeValidator(cells.int_range(0, 86_400, " s"))] = Field(
        default=0,
        description="Seconds between cyclic transmissions of every measured value as "
        "`M_ME_NC_1` (cause 1), 0-86400; 0: none.",
    )
    gi_without_time: cells.Switch = Field(
        default=False,
        description="1: general interrogation answers with the types without time tag "
        "(`M_ME_NC_1`, `M_SP_NA_1`), for masters that refuse time-tagged types there.",
    )
    clock_sync: Annotated[
        Literal["accept", "refuse"],
        BeforeValidator(cells.choice({"ACCEPT": "accept", "REFUSE": "refuse"}, "accept, refuse")),
    ] = Field(
        default="accept",
        description="Clock synchronisation commands: `accept` (confirmed; the master's time "
        "and its offset are logged, the host clock is never changed) or `refuse` (negative "
        "confirmation).",
    )
    t1: Annotated[int | None, _optional_range(1, 255, " s")] = Field(
        default=None,
        description="The protocol's t1 in seconds, 1-255.",
        json_schema_extra={"shown": "15"},
    )
    t2: Annotated[int | None, _optional_range(1, 255, " s")] = Field(
        default=None, description="t2 in seconds, less than t1.", json_schema_extra={"shown": "10"}
    )
    t3: Annotated[int | None, _optional_range(1, 172_800, " s")] = Field(
        default=None, description="t3 in seconds, 1-172800.", json_schema_extra={"shown": "20"}
    )
    k: Annotated[int | None, _optional_range(1, 32_767)] = Field(
        default=None,
        description="Unacknowledged messages sent, at most.",
        json_schema_extra={"shown": "12"},
    )
    w: Annotated[int | None, _optional_range(1, 32_767)] = Field(
        default=None,
        description="Messages received before acknowledging, at most k.",
        json_schema_extra={"shown": "8"},
    )

    @model_validator(mode="after")
    def _check_parameters(self) -> Iec104Config:
        t1, t2 = self.t1 or 15, self.t2 or 10
        if (self.t1 is not None or self.t2 is not None) and t2 >= t1:
            raise ValueError(f"t2 ({t2} s) must be less than t1 ({t1} s)")
        k, w = self.k or 12, self.w or 8
        if (self.k is not None or self.w is not None) and w > k:
            raise ValueError(f"w ({w}) must not exceed k ({k})")
        return self

    def allows(self, client: str) -> bool:
        """Whether a master connecting from ``client`` (an IP address) is accepted."""
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if self.allow_any:
            return True
        if any(address in net for _name, nets in self.redundancy_groups for net in nets):
            return True
        if not self.allowed_clients:
            return address.is_loopback
        return any(address in network for network in self.allowed_clients)


#: ``iec104_type`` values: the ASDU type of an information object.
IEC104_TYPES = ("M_ME_TF_1", "M_ME_NC_1", "M_IT_TB_1", "M_SP_TB_1")


class Iec104Columns(BaseModel):
    """The signal columns of the IEC 104 output (no ``ioa``: the signal is not served)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ioa: Annotated[int | None, BeforeValidator(cells.optional(cells.int_range(1, 16_777_215)))] = (
        Field(
            default=None,
            description="The information object address, 1-16777215, unique; the signal is "
            "served when it has one.",
        )
    )
    iec104_type: Annotated[
        str | None, BeforeValidator(cells.optional(cells.named(IEC104_TYPES, upper=True)))
    ] = Field(
        default=None,
        description="`M_ME_TF_1` short float with time, `M_ME_NC_1` short float, `M_IT_TB_1` "
        "integrated total with time (not for DIGITAL), `M_SP_TB_1` single point with time "
        "(only for DIGITAL).",
        json_schema_extra={"shown": "M_SP_TB_1 for DIGITAL, M_ME_TF_1 for other numbers"},
    )
    iec104_scale: cells.Finite = Field(
        default=1.0,
        description="The value is multiplied by it; an integrated total is a 32-bit integer, so "
        "1000 sends Wh from kWh. Not 0.",
    )


def iec104_types_allowed(number_type: NumberType) -> tuple[str, ...]:
    """The ``iec104_type`` values a signal of ``number_type`` may use (none: not servable)."""
    if number_type is NumberType.DIGITAL:
        return ("M_SP_TB_1", "M_ME_TF_1", "M_ME_NC_1")
    if number_type in _NUMBERS:
        return ("M_ME_TF_1", "M_ME_NC_1", "M_IT_TB_1")
    return ()


def iec104_type_of(signal: SignalConfig) -> str:
    """The signal's ``iec104_type``, or the default for its ``number_type``."""
    explicit = signal.columns(Iec104Columns).iec104_type
    if explicit is not None:
        return explicit
    return "M_SP_TB_1" if signal.number_type is NumberType.DIGITAL else "M_ME_TF_1"


def iec104_signal_problems(
    section: Iec104Config, signals: Sequence[SignalConfig]
) -> list[SignalProblem]:
    """Problems of the signals' iec104 columns that only show across signals.

    Every signal with an ``ioa`` is checked (also disabled ones): a type that
    cannot carry the number type, a scale of 0, and IOAs used twice.
    """
    del section
    problems: list[SignalProblem] = []
    first: dict[int, tuple[str, str]] = {}
    for signal in signals:
        columns = signal.columns(Iec104Columns)
        if columns.ioa is None:
            if columns.iec104_type is not None:
                problems.append(SignalProblem(signal.key, "iec104_type", "needs an ioa"))
            continue
        allowed = iec104_types_allowed(signal.number_type)
        kind = iec104_type_of(signal)
        if not allowed:
            problems.append(
                SignalProblem(
                    signal.key,
                    "ioa",
                    f"a {signal.number_type.value} signal cannot be served over IEC 104 "
                    "(numbers, HEX and DIGITAL only)",
                )
            )
        elif kind not in allowed:
            problems.append(
                SignalProblem(
                    signal.key,
                    "iec104_type",
                    f"{kind} cannot carry {signal.number_type.value} values; allowed: "
                    + ", ".join(allowed),
                )
            )
        if columns.iec104_scale == 0:
            problems.append(SignalProblem(signal.key, "iec104_scale", "must not be 0"))
        if columns.ioa in first:
            device, alias = first[columns.ioa]
            problems.append(
                SignalProblem(
                    signal.key, "ioa", f"ioa {columns.ioa} is already used by {device}/{alias}"
                )
            )
        else:
            first[columns.ioa] = signal.key
    return problems
