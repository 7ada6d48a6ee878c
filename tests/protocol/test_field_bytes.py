"""Field behaviour of the readout core, with byte vectors: nothing received is dropped.

Request echoes before the identification, frames cut after "!" CR LF, bytes
behind a mode B identification or an acknowledgement, and a checksum failure
that survives a closed connection.
"""

from __future__ import annotations

import pytest

from obisgate.errors import (
    ChecksumError,
    ConfigError,
    ConnectionLostError,
    FramingError,
    NoAnswerError,
)
from obisgate.protocol.actions import SetBaud
from obisgate.protocol.client import ReadoutClient, ReadoutOptions
from obisgate.protocol.programming_client import ProgrammingOptions
from obisgate.protocol.readout import BccStatus, parse_readout
from tests.helpers import frame

# A mode C meter (/ABC5 = 9600 Bd proposed) and a mode B meter (/XYZE = 9600 Bd).
IDENT_C = b"/ABC5METER-ONE\r\n"
IDENT_B = b"/XYZEPLAIN B  \r\n"  # E = 9600 Bd; trailing blanks belong to it
BODY = b"1.8.0(000042.5*kWh)\r\n2.8.0(000001.0*kWh)\r\n!\r\n"
FRAMED = frame(BODY)
CUT = b"\x02" + BODY  # STX, data, "!" CR LF: no ETX, no BCC


def addresses(readout_sets: object) -> list[str]:
    return [d.address for d in readout_sets]  # type: ignore[attr-defined]


@pytest.mark.parametrize("echo", [b"/?!\r\n", b"/?12345!\r\n", b"/2!\r\n"])
def test_request_echo_before_the_identification_is_skipped(echo: bytes) -> None:
    readout = parse_readout(echo + IDENT_C + FRAMED)
    assert readout.identification is not None
    assert readout.identification.manufacturer == "ABC"
    assert addresses(readout.datasets) == ["1.8.0", "2.8.0"]
    assert readout.bcc is BccStatus.VALID


def test_echo_without_identification_is_never_an_identification() -> None:
    readout = parse_readout(b"/?Bla0!\r\n" + BODY)
    assert readout.identification is None
    assert addresses(readout.datasets) == ["1.8.0", "2.8.0"]


def test_acknowledgement_echo_and_meter_ack_are_skipped() -> None:
    capture = IDENT_C + b"\x06050\r\n" + b"\x06\r\n" + FRAMED
    readout = parse_readout(capture)
    assert addresses(readout.datasets) == ["1.8.0", "2.8.0"]
    assert readout.bcc is BccStatus.VALID


def test_cut_frame_accepted_without_bcc_check() -> None:
    readout = parse_readout(IDENT_C + CUT, verify_bcc=False)
    assert addresses(readout.datasets) == ["1.8.0", "2.8.0"]
    assert readout.bcc is BccStatus.MISSING


def test_cut_frame_with_bcc_check_says_truncated() -> None:
    with pytest.raises(FramingError, match="truncated"):
        parse_readout(IDENT_C + CUT)


def start(options: ReadoutOptions | None = None) -> ReadoutClient:
    client = ReadoutClient(options or ReadoutOptions(reaction_time_s=0.2))
    client.start()
    return client


def test_mode_b_data_in_the_same_segment_as_the_identification() -> None:
    client = start()
    actions = client.receive_data(IDENT_B + FRAMED)
    assert SetBaud(9600) in actions
    assert not client.done  # held until the driver says how the rate switched
    assert client.rate_switched(discard=False) == []
    assert client.result is not None
    assert client.result.identification.identification == "PLAIN B  "
    assert addresses(client.result.readout.datasets) == ["1.8.0", "2.8.0"]


def test_mode_b_bytes_received_during_a_real_switch_are_discarded_and_counted() -> None:
    client = start()
    client.receive_data(IDENT_B + b"\x7f\x13garbled")
    client.rate_switched(discard=True)
    assert client.discarded == 9
    client.receive_data(FRAMED)
    assert client.result is not None
    assert client.result.identification.identification == "PLAIN B  "
    assert addresses(client.result.readout.datasets) == ["1.8.0", "2.8.0"]
    assert client.result.readout.bcc is BccStatus.VALID


def test_mode_b_held_bytes_are_parsed_at_silence_if_the_driver_never_reports() -> None:
    client = start()
    client.receive_data(IDENT_B + FRAMED)
    client.timeout()
    assert client.result is not None
    assert client.result.identification.identification == "PLAIN B  "
    assert addresses(client.result.readout.datasets) == ["1.8.0", "2.8.0"]
    assert client.result.readout.bcc is BccStatus.VALID


def test_bytes_behind_the_ack_echo_are_kept() -> None:
    client = start(ReadoutOptions(reaction_time_s=0.2, strip_echo=True))
    client.receive_data(IDENT_C)
    client.receive_data(b"\x06050\r\n" + FRAMED[:10])
    client.receive_data(FRAMED[10:])
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID


@pytest.mark.parametrize("split", [1, 2, 3])
def test_meter_ack_before_the_data_is_skipped(split: int) -> None:
    client = start()
    client.receive_data(IDENT_C)
    stream = b"\x06050\r\n" + b"\x06\r\n" + FRAMED
    client.receive_data(stream[: 6 + split])
    client.receive_data(stream[6 + split :])
    assert client.result is not None
    assert addresses(client.result.readout.datasets) == ["1.8.0", "2.8.0"]
    assert [v.raw for d in client.result.readout.datasets for v in d.values] == [
        "000042.5*kWh",
        "000001.0*kWh",
    ]
    assert client.result.readout.bcc is BccStatus.VALID
    assert client.result.readout.unparsed == ()  # the meter's ACK line is not data


def test_checksum_failure_survives_a_closed_connection() -> None:
    client = start()
    client.receive_data(IDENT_C)
    client.receive_data(b"\x06050\r\n" + FRAMED[:-1] + bytes((FRAMED[-1] ^ 1,)))  # NAK sent
    lost = ConnectionLostError("tcp://meter: connection closed")
    with pytest.raises(ChecksumError) as caught:
        client.connection_lost(lost)
    assert caught.value.__cause__ is lost


def test_checksum_failure_survives_silence_after_the_repeat_request() -> None:
    client = start()
    client.receive_data(IDENT_C + FRAMED[:-1] + b"\x00")
    with pytest.raises(ChecksumError):
        client.timeout()


def test_closed_connection_without_checksum_failure_stays_connection_lost() -> None:
    client = start()
    client.receive_data(IDENT_C)
    lost = ConnectionLostError("closed")
    with pytest.raises(ConnectionLostError):
        client.connection_lost(lost)


def test_live_cut_frame_without_bcc_check_completes_at_end_of_stream() -> None:
    client = start(ReadoutOptions(reaction_time_s=0.2, verify_bcc=False))
    client.receive_data(IDENT_C)
    client.receive_data(CUT)
    assert client.connection_lost(ConnectionLostError("closed")) == []
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.MISSING


def test_live_cut_frame_with_bcc_check_is_truncated_not_a_timeout() -> None:
    client = start()
    client.receive_data(IDENT_C)
    client.receive_data(CUT)
    with pytest.raises(FramingError, match="truncated"):
        client.timeout()


def test_silence_in_the_middle_of_a_frame_is_still_no_answer() -> None:
    client = start()
    client.receive_data(IDENT_C)
    client.receive_data(CUT[:12])
    with pytest.raises(NoAnswerError):
        client.timeout()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("response_timeout_s", float("inf"), "response timeout inf s"),
        ("response_timeout_s", float("nan"), "response timeout nan s"),
        ("inter_byte_timeout_s", 0.0, "inter-byte timeout 0 s"),
        ("inter_byte_timeout_s", -1.0, "inter-byte timeout -1 s"),
        ("baud_change_delay_s", -0.005, "baud change delay -0.005 s"),
        ("wakeup_delay_s", float("inf"), "wake-up delay inf s"),
    ],
)
def test_times_must_be_finite_and_not_negative(field: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ReadoutOptions(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0, -2.0])
def test_programming_timeouts_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(ConfigError, match="answer timeout"):
        ProgrammingOptions(answer_timeout_s=value)
