"""The mode E opening (IEC 62056-21 §6.4.5, Annex E): ACK 2Z2, both confirmations, failures."""

from __future__ import annotations

import pytest

from obisgate.errors import FramingError, NoAnswerError, UnexpectedMessageError
from obisgate.protocol.actions import Action, Drain, Send, SetBaud, SetFraming, Sleep
from obisgate.protocol.client import ReadoutClient, ReadoutOptions
from obisgate.protocol.identification import ProtocolMode
from tests.helpers import bytewise, feed

IDENT = b"/LGZ5\\2ZMD4054459.B40\r\n"
OPTION_SELECT = bytes.fromhex("063235320D0A")  # ACK 2 5 2 CR LF, docs §10.5
CONFIRM_8N1 = bytes.fromhex("06B235B28D0A")  # the same with the even-parity bit set


def opened(**options: object) -> tuple[ReadoutClient, list[Action]]:
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.E, **options))  # type: ignore[arg-type]
    assert client.start() == [Send(b"/?!\r\n")]
    actions = client.receive_data(IDENT)
    return client, actions


def test_ack_2z2_then_switch() -> None:
    client, actions = opened()
    assert actions == [Sleep(0.2), Send(OPTION_SELECT), Drain(), SetBaud(9600)]
    assert client.waiting_for == "mode E confirmation ACK 2Z2"


@pytest.mark.parametrize("confirm", [OPTION_SELECT, CONFIRM_8N1])
@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_both_confirmations_end_in_8n1(confirm: bytes, chunking: str) -> None:
    client, _ = opened()
    chunks = [confirm] if chunking == "whole" else bytewise(confirm)
    actions, rest = feed(client, chunks)
    assert actions == [SetFraming(8, "N")]
    assert rest == b""
    assert client.done
    result = client.result
    assert result is not None
    assert (result.mode, result.baud) == (ProtocolMode.E, 9600)
    assert result.identification.enhanced == "\\2"


def test_echo_and_confirmation_together() -> None:
    client, _ = opened()
    actions, _ = feed(client, [OPTION_SELECT + CONFIRM_8N1])
    assert actions == [SetFraming(8, "N")]
    assert client.done


def test_max_baud_lowers_the_rate_asked_for() -> None:
    _client, actions = opened(max_baud=4800)
    assert Send(bytes.fromhex("063234320D0A")) in actions
    assert SetBaud(4800) in actions


def test_readout_instead_of_confirmation_is_named() -> None:
    client, _ = opened()
    with pytest.raises(UnexpectedMessageError, match="ignored the mode E request"):
        client.receive_data(b"\x02F.F(00)\r\n!\r\n\x03")


def test_nak_and_other_answers() -> None:
    client, _ = opened()
    with pytest.raises(UnexpectedMessageError, match="NAK"):
        client.receive_data(b"\x15")
    client, _ = opened()
    with pytest.raises(UnexpectedMessageError, match="instead of confirming"):
        client.receive_data(b"\x06050\r\n")
    client, _ = opened()
    with pytest.raises(FramingError):
        client.receive_data(b"\x06" + b"9" * 20)


def test_silence_after_ack_2z2() -> None:
    client, _ = opened()
    with pytest.raises(NoAnswerError, match="mode E confirmation"):
        client.timeout()


def test_auto_mode_still_reads_mode_c() -> None:
    client = ReadoutClient(ReadoutOptions())
    client.start()
    actions = client.receive_data(IDENT)
    assert Send(bytes.fromhex("063035300D0A")) in actions
