"""The announcer: device availability and Home Assistant discovery, published retained.

What to announce is learnt from the readouts by a
:class:`~obisgate.gateway.outputs.mqtt.devices.DeviceTracker`. Within one
broker session (:mod:`.connection`) :meth:`Announcer.announce` publishes every
availability and discovery config that is due, whenever one becomes due, and
:meth:`Announcer.handle` makes everything due again when Home Assistant
announces ``online`` on ``<discovery_prefix>/status`` (its birth message).
The first time a device is announced in this process, the discovery configs
of its old node (:func:`~.ha_discovery.legacy_removals`) are removed first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from obisgate.gateway.outputs.mqtt.config import MqttConfig
from obisgate.gateway.outputs.mqtt.devices import DeviceTracker
from obisgate.gateway.outputs.mqtt.ha_discovery import discovery_messages, legacy_removals
from obisgate.gateway.outputs.mqtt.payloads import ONLINE, device_availability_topic
from obisgate.gateway.updates import SignalUpdate

__all__ = ["Announcer"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.mqtt.output")


class Announcer:
    """Publishes availability and discovery configs when they are due.

    Args:
        section: the ``[mqtt]`` section (prefixes, format, QoS).
        devices: what is known of the devices.
        client_id: the client id the gateway connects with (its availability topic).
        legacy_client_id: the client id whose old discovery configs are removed
            (:func:`~.ha_discovery.legacy_removals`).
    """

    def __init__(
        self,
        section: MqttConfig,
        devices: DeviceTracker,
        *,
        client_id: str,
        legacy_client_id: str,
    ) -> None:
        self._section = section
        self._devices = devices
        self._client_id = client_id
        self._legacy_client_id = legacy_client_id
        #: Devices whose old discovery configs were removed in this process.
        self._migrated: set[str] = set()
        self._changed = asyncio.Event()

    def learn(self, updates: Sequence[SignalUpdate]) -> None:
        """Take a readout's updates; wake the announcer when something became due."""
        if self._devices.learn(updates):
            self._changed.set()

    async def subscribe(self, client: Any) -> None:
        """Subscribe to Home Assistant's status (when discovery is on) and make every
        known availability and discovery config due: a new session starts afresh."""
        prefix = self._section.discovery_prefix
        if prefix:
            await client.subscribe(f"{prefix}/status", qos=1)
        self._devices.announce_all()

    async def announce(self, client: Any) -> None:
        """Publish what is due, then wait until more is; never returns.

        Raises:
            Exception: a publish failed (``aiomqtt.MqttError`` ...); the session ends.
        """
        section = self._section
        devices = self._devices
        while True:
            self._changed.clear()
            while devices.dirty_availability:
                alias = devices.dirty_availability.pop()
                topic = device_availability_topic(section.topic_prefix, alias)
                await client.publish(topic, devices.availability[alias], qos=1, retain=True)
            while devices.to_announce:
                alias = devices.to_announce.pop()
                described = devices.discovery(alias)
                messages = discovery_messages(
                    described,
                    discovery_prefix=section.discovery_prefix,
                    topic_prefix=section.topic_prefix,
                    client_id=self._client_id,
                    fmt=section.format,
                    qos=section.qos,
                )
                if alias not in self._migrated:
                    removals = legacy_removals(
                        described,
                        discovery_prefix=section.discovery_prefix,
                        legacy_client_id=self._legacy_client_id,
                    )
                    await asyncio.gather(
                        *(client.publish(t, p, qos=1, retain=True) for t, p in removals)
                    )
                    self._migrated.add(alias)
                await asyncio.gather(
                    *(client.publish(t, p, qos=1, retain=True) for t, p in messages)
                )
            await self._changed.wait()

    def wants(self, topic: str) -> bool:
        """Whether a message on ``topic`` is for the announcer (Home Assistant's status)."""
        prefix = self._section.discovery_prefix
        return bool(prefix) and topic == f"{prefix}/status"

    def handle(self, payload: bytes) -> None:
        """Make every announcement due again when Home Assistant comes online."""
        if payload == ONLINE:
            _LOGGER.info("mqtt: Home Assistant is online: publishing discovery again")
            self._devices.announce_all()
            self._changed.set()
