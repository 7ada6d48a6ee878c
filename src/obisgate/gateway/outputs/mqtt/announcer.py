"""The announcer: device availability and Home Assistant discovery, published retained.

What to announce is learnt from the readouts by a
:class:`~obisgate.gateway.outputs.mqtt.devices.DeviceTracker`. Within one
broker session (:mod:`.connection`) :meth:`Announcer.announce` publishes every
availability and discovery config that is due, whenever one becomes due, and
:meth:`Announcer.listen` makes everything due again when Home Assistant
announces ``online`` on ``<discovery_prefix>/status`` (its birth message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from obisgate.gateway.outputs.mqtt.config import MqttConfig
from obisgate.gateway.outputs.mqtt.devices import DeviceTracker
from obisgate.gateway.outputs.mqtt.ha_discovery import discovery_messages
from obisgate.gateway.outputs.mqtt.payloads import ONLINE, device_availability_topic
from obisgate.gateway.updates import SignalUpdate

__all__ = ["Announcer"]

_LOGGER = logging.getLogger("obisgate.gateway.outputs.mqtt.output")


class Announcer:
    """Publishes availability and discovery configs when they are due.

    Args:
        section: the ``[mqtt]`` section (prefixes, client id, format, QoS).
        devices: what is known of the devices.
    """

    def __init__(self, section: MqttConfig, devices: DeviceTracker) -> None:
        self._section = section
        self._devices = devices
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
                messages = discovery_messages(
                    devices.discovery(alias),
                    discovery_prefix=section.discovery_prefix,
                    topic_prefix=section.topic_prefix,
                    client_id=section.client_id,
                    fmt=section.format,
                    qos=section.qos,
                )
                await asyncio.gather(
                    *(client.publish(t, p, qos=1, retain=True) for t, p in messages)
                )
            await self._changed.wait()

    async def listen(self, client: Any) -> None:
        """Make every announcement due again when Home Assistant comes online; returns
        when the client's message stream ends."""
        prefix = self._section.discovery_prefix
        async for message in client.messages:
            if prefix and str(message.topic) == f"{prefix}/status" and message.payload == ONLINE:
                _LOGGER.info("mqtt: Home Assistant is online: publishing discovery again")
                self._devices.announce_all()
                self._changed.set()
