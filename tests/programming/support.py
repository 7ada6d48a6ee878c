"""Helpers for the programming-mode tests: drive the sans-IO client byte-exactly."""

from __future__ import annotations

from collections.abc import Iterable

from obisgate.protocol.actions import Action, Send, SetBaud, Sleep
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.passwords import PasswordScheme, PlainPassword
from obisgate.protocol.programming_client import ProgrammingClient, ProgrammingOptions
from tests.helpers import bytewise

IDENT = b"/LGZ4ZMF100AC.M23\r\n"
P0 = bytes.fromhex("01 50 30 02 28 31 32 33 31 34 33 33 30 29 03 65")  # (12314330)
P1_ZEROS = bytes.fromhex("01 50 31 02 28 30 30 30 30 30 30 30 30 29 03 61")
ACK = b"\x06"
NAK = b"\x15"
B0 = b"\x01B0\x03q"


def sends(actions: Iterable[Action]) -> list[bytes]:
    """The bytes of every Send, in order."""
    return [a.data for a in actions if isinstance(a, Send)]


def feed(client: ProgrammingClient, data: bytes, chunking: str = "whole") -> list[Action]:
    """Feed ``data`` whole or one byte at a time; returns all actions."""
    chunks = [data] if chunking == "whole" else bytewise(data)
    actions: list[Action] = []
    for chunk in chunks:
        actions += client.receive_data(chunk)
    return actions


def options(**kw: object) -> ProgrammingOptions:
    """Options without reaction delays unless asked (actions stay easy to compare)."""
    kw.setdefault("command_delay_s", 0.0)
    sign_on = kw.pop("sign_on", None) or ReadoutOptions(option="1", reaction_time_s=0.0)
    return ProgrammingOptions(sign_on=sign_on, **kw)  # type: ignore[arg-type]


def signed_on(
    scheme: PasswordScheme | None = None, chunking: str = "whole", **kw: object
) -> ProgrammingClient:
    """A client that went through request, identification, P0, P1, ACK."""
    client = ProgrammingClient(options(**kw), scheme or PlainPassword("00000000"))
    assert sends(client.start()) == [b"/?!\r\n"]
    actions = feed(client, IDENT, chunking)
    assert sends(actions) == [b"\x06041\r\n"]
    assert SetBaud(4800) in actions
    actions = feed(client, P0, chunking)
    assert sends(actions) == [P1_ZEROS]
    assert feed(client, ACK, chunking) == []
    assert client.ready
    assert client.done
    return client


__all__ = ["ACK", "B0", "IDENT", "NAK", "P0", "P1_ZEROS", "Sleep", "feed", "options", "sends"]
