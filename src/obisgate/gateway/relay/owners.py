"""Which worker of ``run --workers N`` polls each device: what the supervisor needs to
send a priority read to the right worker (:class:`~obisgate.gateway.relay.hub.RelayHub`)."""

from __future__ import annotations

from dataclasses import dataclass

from obisgate import ProtocolMode
from obisgate.gateway.config_models import GatewayConfig
from obisgate.gateway.config_shard import kept_devices
from obisgate.gateway.shard import Shard

__all__ = ["Owners", "device_owners"]


@dataclass(frozen=True, slots=True)
class Owners:
    """Device alias -> the shard that polls it (enabled devices only), and the push meters."""

    shards: dict[str, int]
    push: frozenset[str]


def device_owners(config: GatewayConfig, count: int) -> Owners:
    """The owner of every enabled device of ``config`` among ``count`` shards: the shard
    whose own lines hold it, placed as each worker places them
    (:func:`~obisgate.gateway.config_shard.kept_devices` without derived signals, which
    only add lines a worker keeps but does not poll)."""
    placed = [(d.device_alias, d.port_key, d.group, d.enable) for d in config.devices]
    enabled = {d.device_alias for d in config.devices if d.enable}
    shards: dict[str, int] = {}
    for index in range(count):
        for alias in kept_devices(placed, (), Shard(index, count)):
            if alias in enabled:
                shards[alias] = index
    push = frozenset(
        d.device_alias for d in config.devices if d.enable and d.mode is ProtocolMode.D
    )
    return Owners(shards, push)
