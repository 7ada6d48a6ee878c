"""Read commands on MQTT without a broker: which topics are commands, what is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from obisgate.gateway.outputs.mqtt.commands import ReadCommands, read_command_topic
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.updates import SignalUpdate

RequestRead = Callable[[str], asyncio.Future[list[SignalUpdate]]]


def refusing(reason: str) -> Callable[[], RequestRead]:
    def request_read(alias: str) -> asyncio.Future[list[SignalUpdate]]:
        raise ReadRequestError(f"{alias}: {reason}", reason)

    return lambda: request_read


def test_only_a_device_level_read_set_topic_is_a_command() -> None:
    commands = ReadCommands("obisgate", refusing("unknown"))
    assert commands.topic_filter == "obisgate/+/read/set"
    assert read_command_topic("obisgate", "m1") == "obisgate/m1/read/set"
    assert not commands.take("obisgate/m1/state")
    assert not commands.take("other/m1/read/set")
    assert not commands.take("obisgate/a/b/read/set")
    assert not commands.take("obisgate//read/set")
    assert commands.take("obisgate/m1/read/set")


@pytest.mark.parametrize(
    ("sharded", "reason", "refused"),
    [
        (False, "unknown", 1),
        (True, "unknown", 0),  # another shard's device: that shard reads it
        (True, "push", 1),
        (True, "stopped", 1),
    ],
)
def test_a_refused_command_is_counted_unless_another_shard_owns_the_device(
    sharded: bool, reason: str, refused: int
) -> None:
    commands = ReadCommands("obisgate", refusing(reason), sharded=sharded)
    assert commands.take("obisgate/m1/read/set")
    assert commands.refused == refused
    assert commands.asked == 0
