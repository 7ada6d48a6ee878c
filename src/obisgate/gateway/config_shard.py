"""One shard's part of a configuration: its devices only.

``obisgate run --shard I/N`` (each worker of ``run --workers N``) polls only the
lines its shard owns (:mod:`obisgate.gateway.shard`), and keeps only their devices.
:func:`kept_devices` decides which, with the very placement the gateway applies to
its plans (:func:`~obisgate.gateway.shard.select_plans`): lines of enabled devices,
a line placed by the first throttle group its devices name; a line of disabled
devices only is placed the same way by its own devices, so that every device has
one shard. Also kept: the whole lines of the devices that a kept derived signal may
name (its ``source`` / ``sources`` hold the alias as a word; and so on, for their
derived signals), so that it resolves exactly as in the whole configuration; the
gateway does not poll them (the shard's plans leave them out) and warns that such a
signal is not topical, as before.

Two ways to the same part:

* :func:`shard_rows`, while loading a file: from the raw rows, before any device is
  validated, so the other shards' devices never become models in this process. Each
  device row is placed by its connection fields and throttle group alone, validated
  by a model of just those fields of
  :class:`~obisgate.gateway.config_models.DeviceConfig` (recipes set no connection or
  group). Every row is kept where one cannot be placed for sure (an alias given
  twice, a device without a valid alias, connection or group): the load then fails
  with its problems, as without a shard. Checks across shards (a spec's columns
  check over all signals) need the whole file: ``check``, the supervisor of
  ``run --workers``.
* :func:`shard_part`, from a configuration loaded whole (the supervisor's, handed to
  each worker: :mod:`~obisgate.gateway.shard_parts`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from obisgate.gateway.config_cells import alias_key
from obisgate.gateway.config_models import (
    DeviceConfig,
    GatewayConfig,
    connection_problems,
    port_key,
)
from obisgate.gateway.config_rows import RawRow
from obisgate.gateway.shard import Shard, line_placement

__all__ = ["Placed", "Placement", "kept_devices", "placement", "shard_part", "shard_rows"]

_LINE_FIELDS = ("device", "ip", "port", "url", "group", "enable")

#: :class:`DeviceConfig`'s own fields (validators included) that place a device.
_DeviceLine: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "_DeviceLine",
    __config__=ConfigDict(extra="ignore"),
    **{
        name: (DeviceConfig.model_fields[name].annotation, DeviceConfig.model_fields[name])
        for name in _LINE_FIELDS
    },
)

#: Words that may be a device alias in an expression or a ``sources`` entry: with and
#: without ``-`` (a minus sign outside backquotes).
_WORDS = (re.compile(r"[A-Za-z0-9_-]+"), re.compile(r"[A-Za-z0-9_]+"))
_DERIVED_FIELDS = ("source", "sources")


#: A device as placement sees it: alias, line (``port_key``), throttle group, enabled.
Placed = tuple[str, str, str | None, bool]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the raw rows of a file go, for any number of shards (:func:`placement`).

    Attributes:
        placed: each device row's :data:`Placed`, in row order.
        derived: (device, ``source`` or ``sources``) of every derived signal row.
    """

    placed: list[Placed]
    derived: list[tuple[str | None, object]]


def placement(devices: list[RawRow], signals: list[RawRow]) -> Placement | None:
    """Where every row goes; ``None`` when a device row cannot be placed for sure (no
    valid alias, connection or group; an alias given twice): every shard keeps all."""
    placed: list[Placed] = []
    for row in devices:
        where = _line_of(row.fields)
        if where is None:
            return None
        placed.append(where)
    if len({alias for alias, *_ in placed}) < len(placed):
        return None
    derived = [
        (_device_of(row), row.fields[name])
        for row in signals
        for name in _DERIVED_FIELDS
        if row.fields.get(name) is not None
    ]
    return Placement(placed, derived)


def shard_rows(
    devices: list[RawRow],
    signals: list[RawRow],
    shard: Shard,
    where: Placement | None = None,
) -> tuple[list[RawRow], list[RawRow]] | None:
    """The device and signal rows ``shard`` keeps, in their order; ``None``: keep all.

    ``where``: these rows' :func:`placement`, when made already (once for all shards).
    A signal row is kept unless it names a device of another shard (one naming no
    known device is kept: its problem is reported).
    """
    where = where or placement(devices, signals)
    if where is None:
        return None
    placed = where.placed
    kept = kept_devices(placed, where.derived, shard)
    others = {alias for alias, *_ in placed} - kept
    return (
        [row for row, (alias, *_) in zip(devices, placed, strict=True) if alias in kept],
        [row for row in signals if _device_of(row) not in others],
    )


def shard_part(config: GatewayConfig, shard: Shard) -> GatewayConfig:
    """The part of a loaded ``config`` that ``shard`` keeps: what
    ``load_config(path, shard=shard)`` gives, without loading again (and without the
    load warnings, shown once already)."""
    placed = [(d.device_alias, d.port_key, d.group, d.enable) for d in config.devices]
    derived = (
        (s.device_alias, value)
        for s in config.signals
        if s.derived
        for value in (s.source, s.sources)
        if value is not None
    )
    return config.restricted(kept_devices(placed, derived, shard))


def kept_devices(
    placed: list[Placed], derived: Iterable[tuple[str | None, object]], shard: Shard
) -> set[str]:
    """The aliases of the devices ``shard`` keeps: those of its lines, and the lines of
    the devices its derived signals may name (``derived``: (device, ``source`` or
    ``sources``) of every derived signal), and so on."""
    owners = _line_owners(placed, shard)
    kept_lines = {line for line, mine in owners.items() if mine}
    line_of = {alias: line for alias, line, *_ in placed}
    kept = {alias for alias, line in line_of.items() if line in kept_lines}
    uses: dict[str, set[str]] = {}
    for device, value in derived:
        if device is not None:
            uses.setdefault(device, set()).update(_words(value) & line_of.keys())
    # Derived signals of the devices taken for others' derived signals need theirs, too.
    while used := {name for device in kept for name in uses.get(device, ())} - kept:
        kept_lines |= {line_of[alias] for alias in used}
        kept = {alias for alias, line in line_of.items() if line in kept_lines}
    return kept


def _line_of(fields: dict[str, Any]) -> Placed | None:
    """(alias, line, group, enabled) of a raw device row; ``None``: not valid."""
    alias = alias_key(fields.get("device_alias"))
    if alias is None:
        return None
    try:
        line = _DeviceLine.model_validate(fields)
    except ValidationError:
        return None
    given = {name for name in ("device", "ip", "port", "url") if getattr(line, name) is not None}
    if connection_problems(given):
        return None
    key = port_key(line.url, line.ip, line.port, line.device)  # type: ignore[attr-defined]
    return alias, key, line.group, bool(line.enable)  # type: ignore[attr-defined]


def _line_owners(placed: list[Placed], shard: Shard) -> dict[str, bool]:
    """Line -> whether ``shard`` owns it: placed by its enabled devices, as the
    gateway's plans are, else (disabled devices only) by all of its devices."""
    enabled: dict[str, list[str | None]] = {}
    every: dict[str, list[str | None]] = {}
    for _alias, line, group, on in placed:
        every.setdefault(line, []).append(group)
        if on:
            enabled.setdefault(line, []).append(group)
    return {
        line: shard.owns(line_placement(line, enabled.get(line, groups)))
        for line, groups in every.items()
    }


def _words(value: object) -> set[str]:
    """Every word of a ``source`` / ``sources`` value that may be a device alias."""
    text = " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return {word for words in _WORDS for word in words.findall(text)}


def _device_of(row: RawRow) -> str | None:
    return alias_key(row.fields.get("device_alias"))
