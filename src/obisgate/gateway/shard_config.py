"""The configuration as one instance of a sharded deployment sees it.

Every instance loads its part of the same configuration
(:mod:`~obisgate.gateway.config_shard`); what must differ per instance is derived here,
once, so that outputs need not know about shards:

* ``[storage] path`` gets the shard suffix (``history.db`` -> ``history-shard1.db``),
  and with it every file kept beside it (the MQTT outbox);
* an output section with a per-instance identity changes as its spec's
  ``for_shard`` says: the MQTT client id, when it is not set in the
  configuration, gets ``-shard<I>`` (``obisgate-host`` -> ``obisgate-host-shard1``),
  which also names the instance's availability topic. A configured client id is
  kept as written (the operator then sets a distinct one per instance, e.g. from
  the environment).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obisgate.gateway.config_models import GatewayConfig
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.outputs.spec import OutputSpec
from obisgate.gateway.shard import Shard, shard_path

__all__ = ["shard_config"]


def shard_config(
    config: GatewayConfig,
    shard: Shard | None,
    db: Path | None = None,
    specs: Sequence[OutputSpec[Any]] = OUTPUT_SPECS,
) -> GatewayConfig:
    """``config`` for instance ``shard`` (unchanged for ``None``); ``db`` overrides the
    storage path before the suffix is added."""
    if shard is None:
        if db is None:
            return config
        return config.model_copy(update={"storage": config.storage.model_copy(update={"path": db})})
    storage = config.storage.model_copy(
        update={"path": shard_path(db or config.storage.path, shard)}
    )
    sections = dict(config.sections)
    for spec in specs:
        section = config.section(spec)
        if section is not None and spec.for_shard is not None:
            sections[spec.name] = spec.for_shard(section, shard.suffix)
    return config.model_copy(update={"storage": storage, "sections": sections})
