"""The configuration as one instance of a sharded deployment sees it.

Every instance loads the same configuration; what must differ per instance is
derived here, once, so that outputs need not know about shards:

* ``[storage] path`` gets the shard suffix (``history.db`` -> ``history-shard1.db``),
  and with it every file kept beside it (the MQTT outbox);
* ``[mqtt] client_id``, when it is not set in the configuration, gets ``-shard<I>``
  (``obisgate-host`` -> ``obisgate-host-shard1``), which also names the instance's
  availability topic. A configured client id is kept as written (the operator
  then sets a distinct one per instance, e.g. from the environment).
"""

from __future__ import annotations

from pathlib import Path

from obisgate.gateway.config_models import GatewayConfig
from obisgate.gateway.shard import Shard, shard_path

__all__ = ["shard_config"]


def shard_config(
    config: GatewayConfig, shard: Shard | None, db: Path | None = None
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
    update: dict[str, object] = {"storage": storage}
    mqtt = getattr(config, "mqtt", None)
    client_id = getattr(mqtt, "client_id", None)
    if mqtt is not None and client_id and "client_id" not in mqtt.model_fields_set:
        update["mqtt"] = mqtt.model_copy(update={"client_id": f"{client_id}-{shard.suffix}"})
    return config.model_copy(update=update)
