"""How the probe names what went wrong in a try, from the bytes of the exchange."""

from __future__ import annotations

import pytest

from obisgate.errors import ChecksumError, NoAnswerError, ObisgateError
from obisgate.probe import Finding, diagnose
from obisgate.probe.diagnosis import looks_garbled
from obisgate.simulator.uart import retime
from tests.helpers import frame, to_7e1

REQUEST = b"/?!\r\n"
IDENT = b"/LGZ4ZMF100AC.M23\r\n"
ACK = b"\x06040\r\n"
DATA = frame(b"1.8.0(001234.120*kWh)\r\n0.9.1(131519)\r\n!\r\n")
SILENCE = NoAnswerError("data message", 2.5, 0)


def test_nothing_came() -> None:
    d = diagnose([(">", REQUEST)], NoAnswerError("identification", 2.5, 0))
    assert d.finding is Finding.NO_ANSWER
    assert d.words == "no answer at all (check the head's position and the port)"
    assert not d.answered


def test_only_our_own_request_came_back() -> None:
    d = diagnose([(">", REQUEST), ("<", REQUEST)], NoAnswerError("identification", 2.5, 0))
    assert (d.finding, d.echo, d.answered) == (Finding.ECHO, True, False)
    assert d.words.startswith("our own request came back (echo)")


def test_bytes_with_the_parity_bit_in_bit_7() -> None:
    d = diagnose([(">", REQUEST), ("<", to_7e1(IDENT))], SILENCE)
    assert (d.finding, d.bit7) == (Finding.PARITY, True)
    assert d.words == "bytes with every 8th bit wrong (parity: the link is 8N1)"
    assert d.identification is not None and d.identification.manufacturer == "LGZ"
    # sent with the parity bit already: not the explanation
    sent_parity = diagnose([(">", REQUEST), ("<", to_7e1(IDENT))], SILENCE, software_parity=True)
    assert sent_parity.finding is Finding.NO_DATA


def test_identification_then_nothing() -> None:
    d = diagnose([(">", REQUEST), ("<", IDENT), (">", ACK)], SILENCE)
    assert d.finding is Finding.NO_DATA
    assert d.words.startswith("identified itself, then sent no data")


def test_answer_garbled_after_the_switch() -> None:
    garbage = retime(DATA, 300, 4800)  # the meter stayed at 300 Bd, we listened at 4800
    events = [(">", REQUEST), ("<", IDENT), (">", ACK), ("<", garbage)]
    d = diagnose(events, SILENCE)
    assert d.finding is Finding.GARBLED
    assert d.words == (
        "answer garbled after the switch (the meter needs a longer delay before changing rate)"
    )
    tcp = diagnose(events, SILENCE, can_switch=False)
    assert tcp.words == (
        "answer garbled after the switch (the converter keeps its own rate: no switch)"
    )


def test_data_right_after_the_identification_is_mode_a() -> None:
    head, tail = DATA[:14], DATA[14:]
    events = [(">", REQUEST), ("<", IDENT + head), (">", ACK), ("<", retime(tail, 300, 4800))]
    d = diagnose(events, SILENCE)
    assert (d.finding, d.words) == (Finding.MODE_A, "answered as mode A")


def test_checksum_and_other_errors() -> None:
    events = [(">", REQUEST), ("<", IDENT + DATA)]
    assert diagnose(events, ChecksumError(0x41, 0x42)).words == "checksum wrong"
    other = diagnose([(">", REQUEST), ("<", IDENT + b"1.8.0(1)\r\n")], ObisgateError("odd"))
    assert (other.finding, other.words) == (Finding.OTHER, "odd")
    ok = diagnose([(">", REQUEST), ("<", IDENT + DATA)], None)
    assert (ok.finding, ok.answered, ok.echo) == (Finding.OK, True, False)


def test_a_wake_up_echo_is_still_only_an_echo() -> None:
    sent = bytes(66) + REQUEST
    d = diagnose([(">", bytes(66)), (">", REQUEST), ("<", sent)], SILENCE)
    assert d.finding is Finding.ECHO


def test_bytes_but_no_identification() -> None:
    d = diagnose([(">", REQUEST), ("<", b"x3$ no slash here\r\n")], SILENCE)
    assert d.finding is Finding.GARBAGE


@pytest.mark.parametrize(
    ("data", "garbled"),
    [
        (DATA, False),
        (IDENT, False),
        (retime(DATA, 300, 9600), True),
        (retime(DATA, 9600, 300), True),
        (bytes(20), True),
        (b"", False),
    ],
)
def test_garbage_looks_garbled(data: bytes, garbled: bool) -> None:
    assert looks_garbled(data) is garbled
