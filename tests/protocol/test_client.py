"""ReadoutClient: the sans-IO readout state machine (§5, §7, §11, §12.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obisgate.errors import (
    ChecksumError,
    ConfigError,
    FramingError,
    NoAnswerError,
    ProtocolError,
)
from obisgate.protocol.actions import (
    Action,
    Drain,
    IdentificationReceived,
    Send,
    SetBaud,
    Sleep,
)
from obisgate.protocol.client import (
    ReadoutClient,
    ReadoutOptions,
    ReadResult,
    option_select_message,
    request_message,
)
from obisgate.protocol.dataset import DataSet, Value
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.readout import BccStatus, Readout
from tests.helpers import (
    bytewise,
    chunkings,
    feed,
    random_chunks,
    readout_frame,
    split_at,
    to_7e1,
)

REQUEST = bytes.fromhex("2F 3F 21 0D 0A")  # /?!CR LF, §10.1
LGZ_IDENT = b"/LGZ4ZMF100AC.M23\r\n"
LGZ = Identification("LGZ", "4", "", "ZMF100AC.M23")
ACK_040 = bytes.fromhex("06 30 34 30 0D 0A")  # §10.1
ACK_050 = bytes.fromhex("06 30 35 30 0D 0A")
ACK_000 = bytes.fromhex("06 30 30 30 0D 0A")
DATA_10_1 = bytes.fromhex(
    "02 46 2E 46 28 30 30 29 0D 0A 43 2E 31 2E 30 28 31 32 33 31 34 33 33 30 29 0D 0A"
    "30 2E 30 2E 30 28 30 30 31 38 38 31 32 33 29 0D 0A 31 2E 38 2E 30 28 30 30 31 32"
    "33 34 2E 31 32 30 2A 6B 57 68 29 0D 0A 32 2E 38 2E 30 28 30 30 30 30 30 30 2E 30"
    "30 30 2A 6B 57 68 29 0D 0A 33 32 2E 37 28 32 32 39 2A 56 29 0D 0A 33 31 2E 37 28"
    "30 30 30 2E 30 33 2A 41 29 0D 0A 30 2E 39 2E 31 28 31 33 31 35 31 39 29 0D 0A 30"
    "2E 39 2E 32 28 32 34 30 33 31 35 29 0D 0A 21 0D 0A 03 43"
)
DATA_BAD_BCC = DATA_10_1[:-1] + b"\x42"
SMALL = readout_frame(["1.8.0(001234.120*kWh)", "1.6.0(02.468*kW)(2511180930)"])
SMALL_SETS = (
    DataSet("1.8.0", (Value("001234.120*kWh", "001234.120", "kWh"),)),
    DataSet(
        "1.6.0",
        (Value("02.468*kW", "02.468", "kW"), Value("2511180930", "2511180930", None)),
    ),
)

Chunker = Callable[[bytes], list[bytes]]
CHUNKERS: dict[str, Chunker] = {
    "whole": lambda d: [d],
    "bytewise": bytewise,
    "random0": lambda d: random_chunks(d, 0),
    "random1": lambda d: random_chunks(d, 1, 3),
}


@pytest.fixture(params=list(CHUNKERS))
def chunker(request: pytest.FixtureRequest) -> Chunker:
    fn: Chunker = CHUNKERS[request.param]
    return fn


def run(
    options: ReadoutOptions | None, messages: list[bytes], chunker: Chunker = CHUNKERS["whole"]
) -> tuple[ReadoutClient, list[list[Action]]]:
    """start(), then feed each message in turn; returns the actions per step."""
    client = ReadoutClient(options)
    steps: list[list[Action]] = [client.start()]
    for message in messages:
        actions, rest = feed(client, chunker(message))
        assert rest == b""
        steps.append(actions)
    return client, steps


# -- messages the client sends --------------------------------------------------------


def test_request_messages() -> None:
    assert request_message() == b"/?!\r\n" == REQUEST
    assert request_message("12345678") == b"/?12345678!\r\n"
    assert request_message("", "/2") == b"/2!\r\n"
    assert request_message("", "/#") == b"/#!\r\n"
    assert request_message("00 ab", "/4") == b"/400 ab!\r\n"


def test_option_select_messages() -> None:
    assert option_select_message("4") == ACK_040
    assert option_select_message("5", "0") == ACK_050
    assert option_select_message("4", "1") == bytes.fromhex("06 30 34 31 0D 0A")
    assert option_select_message("5", "2", "2") == bytes.fromhex("06 32 35 32 0D 0A")


@pytest.mark.parametrize(
    ("options", "request_bytes"),
    [
        (ReadoutOptions(), b"/?!\r\n"),
        (ReadoutOptions(address="12345678"), b"/?12345678!\r\n"),
        (ReadoutOptions(address="A b 0"), b"/?A b 0!\r\n"),
        (ReadoutOptions(address="1" * 32), b"/?" + b"1" * 32 + b"!\r\n"),
        (ReadoutOptions(request_start="/2"), b"/2!\r\n"),
        (ReadoutOptions(request_start="/#"), b"/#!\r\n"),
        (ReadoutOptions(request_start="/4", address="007"), b"/4007!\r\n"),
    ],
)
def test_start_sends_the_request(options: ReadoutOptions, request_bytes: bytes) -> None:
    client = ReadoutClient(options)
    assert client.start() == [Send(request_bytes)]
    assert client.baud == 300
    assert client.waiting_for == "identification"
    assert not client.done


def test_nul_wakeup() -> None:
    client = ReadoutClient(ReadoutOptions(wakeup_nuls=66))
    assert client.start() == [Send(b"\x00" * 66), Drain(), Sleep(1.6), Send(REQUEST)]
    client = ReadoutClient(ReadoutOptions(wakeup_nuls=40, wakeup_delay_s=0.0, request_start="/#"))
    assert client.start() == [Send(bytes(40)), Drain(), Sleep(0.0), Send(b"/#!\r\n")]


def test_send_printable() -> None:
    assert Send(b"abc").printable == b"abc"
    assert Send(b"secret", shown=b"******").printable == b"******"


# -- mode C --------------------------------------------------------------------------


def test_mode_c_transcript_10_1(chunker: Chunker) -> None:
    client, steps = run(None, [LGZ_IDENT, DATA_10_1], chunker)
    assert steps == [
        [Send(REQUEST)],
        [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)],
        [],
    ]
    assert client.done
    assert client.events == [IdentificationReceived(LGZ)]
    result = client.result
    assert result is not None
    assert result.identification == LGZ
    assert result.mode is ProtocolMode.C
    assert result.baud == 4800
    assert result.readout.bcc is BccStatus.VALID
    assert result.readout.identification == LGZ
    assert [d.address for d in result.readout.datasets] == [
        "F.F", "C.1.0", "0.0.0", "1.8.0", "2.8.0", "32.7", "31.7", "0.9.1", "0.9.2",
    ]  # fmt: skip
    assert result.readout.get("1.8.0") == DataSet(
        "1.8.0", (Value("001234.120*kWh", "001234.120", "kWh"),)
    )
    assert client.bytes_received == len(LGZ_IDENT) + len(DATA_10_1)


def test_mode_c_actions_come_on_the_last_identification_byte() -> None:
    client = ReadoutClient()
    client.start()
    for b in bytewise(LGZ_IDENT[:-1]):
        assert client.receive_data(b) == []
    assert client.waiting_for == "identification"
    assert client.receive_data(b"\n") == [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)]
    assert client.waiting_for == "data message"
    assert client.baud == 4800


@pytest.mark.parametrize(
    ("ident", "sleep", "ack", "baud"),
    [
        (b"/ISk5MT174-0001\r\n", 0.02, ACK_050, 9600),  # lower-case 3rd letter: 20 ms
        (b"/nzr4SEM16_S_v1.12\r\n", 0.02, b"\x06040\r\n", 4800),
        (b"/EMH5\\@D4EM4TWII001--\r\n", 0.2, ACK_050, 9600),
        (b"/AUX5\\2SX330SKH10F10013\r\n", 0.2, ACK_050, 9600),  # mode E read as C
        (b"/XYZ6abc\r\n", 0.2, b"\x06060\r\n", 19200),
        (b"/XYZ0abc\r\n", 0.2, ACK_000, None),
        (b"/XYZ7abc\r\n", 0.2, ACK_000, None),  # reserved Z: stay at 300
    ],
)
def test_mode_c_variants(ident: bytes, sleep: float, ack: bytes, baud: int | None) -> None:
    client, steps = run(None, [ident, SMALL])
    switch = [SetBaud(baud)] if baud else []
    assert steps[1] == [Sleep(sleep), Send(ack), Drain(), *switch]
    assert client.result is not None
    assert client.result.mode is ProtocolMode.C
    assert client.result.baud == (baud or 300)
    assert client.result.readout.datasets == SMALL_SETS


def test_fast_reaction_can_be_ignored_and_reaction_time_set() -> None:
    ident = b"/ISk5MT174-0001\r\n"
    _, steps = run(ReadoutOptions(honour_fast_reaction=False), [ident])
    assert steps[1][0] == Sleep(0.2)
    _, steps = run(ReadoutOptions(reaction_time_s=1.5), [LGZ_IDENT])
    assert steps[1][0] == Sleep(1.5)
    _, steps = run(ReadoutOptions(reaction_time_s=1.5), [ident])
    assert steps[1][0] == Sleep(0.02)
    _, steps = run(ReadoutOptions(reaction_time_s=0.01), [ident])
    assert steps[1][0] == Sleep(0.01)


def test_baud_change_delay() -> None:
    _, steps = run(ReadoutOptions(baud_change_delay_s=0.25), [LGZ_IDENT])
    assert steps[1] == [Sleep(0.2), Send(ACK_040), Drain(), Sleep(0.25), SetBaud(4800)]


def test_programming_option_character() -> None:
    _, steps = run(ReadoutOptions(option="1"), [LGZ_IDENT])
    assert steps[1][1] == Send(bytes.fromhex("06 30 34 31 0D 0A"))


# -- baud policies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "ident", "ack", "baud"),
    [
        (ReadoutOptions(max_baud=2400), LGZ_IDENT, b"\x06030\r\n", 2400),
        (ReadoutOptions(max_baud=9600), LGZ_IDENT, ACK_040, 4800),
        (ReadoutOptions(max_baud=4800), LGZ_IDENT, ACK_040, 4800),
        (ReadoutOptions(max_baud=300), LGZ_IDENT, ACK_000, 300),
        (ReadoutOptions(force_baud=19200), LGZ_IDENT, b"\x06060\r\n", 19200),
        (ReadoutOptions(force_baud=1200, max_baud=600), LGZ_IDENT, b"\x06020\r\n", 1200),
        (ReadoutOptions(force_baud=300), LGZ_IDENT, ACK_000, 300),
        (ReadoutOptions(switch_baud=False), LGZ_IDENT, ACK_000, 300),
        (ReadoutOptions(switch_baud=False, force_baud=9600), LGZ_IDENT, ACK_000, 300),
        # forced mode C on a mode B meter: its letter's rate as a mode C digit
        (ReadoutOptions(mode=ProtocolMode.C), b"/HAgE2WR5\r\n", ACK_050, 9600),
        # forced mode C on a mode A meter: stay at 300
        (ReadoutOptions(mode=ProtocolMode.C), b"/KAM 685-382-QR-10\r\n", ACK_000, 300),
        # non-standard initial rate (RS-485 at 9600): no switch needed
        (ReadoutOptions(initial_baud=9600), b"/XYZ5abc\r\n", ACK_050, 9600),
    ],
)
def test_mode_c_baud_policies(options: ReadoutOptions, ident: bytes, ack: bytes, baud: int) -> None:
    client, steps = run(options, [ident, SMALL])
    start_baud = options.start_baud
    switch = [SetBaud(baud)] if baud != start_baud else []
    delay = 0.02 if ident.startswith(b"/HAg") else 0.2
    assert steps[1] == [Sleep(delay), Send(ack), Drain(), *switch]
    assert steps[2] == []
    assert client.result is not None
    assert client.result.baud == baud
    assert client.result.mode is ProtocolMode.C


def test_switch_baud_false_sends_ack_0_0_0() -> None:
    _, steps = run(ReadoutOptions(switch_baud=False), [b"/ISk5MT174-0001\r\n"])
    assert steps[1] == [Sleep(0.02), Send(bytes.fromhex("06 30 30 30 0D 0A")), Drain()]


# -- modes A, B, D ------------------------------------------------------------------


def test_mode_a(chunker: Chunker) -> None:
    ident = b"/KAM 685-382-QR-10\r\n"
    # mode A: the data message follows the identification directly
    client, steps = run(None, [ident + SMALL], chunker)
    assert steps == [[Send(REQUEST)], []]
    assert client.result == ReadResult(
        Identification("KAM", " ", "", "685-382-QR-10"),
        ProtocolMode.A,
        300,
        Readout(SMALL_SETS, BccStatus.VALID, Identification("KAM", " ", "", "685-382-QR-10")),
    )


def test_mode_a_unframed_readout(chunker: Chunker) -> None:
    data = b"/KAM 685-382-QR-10\r\n1.8.0(001234.120*kWh)\r\n1.6.0(02.468*kW)(2511180930)!\r\n"
    client, _ = run(None, [data], chunker)
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.ABSENT
    assert client.result.readout.datasets == SMALL_SETS


def test_mode_b(chunker: Chunker) -> None:
    client, steps = run(None, [b"/HAgE2WR5\r\n", SMALL], chunker)
    assert steps == [[Send(REQUEST)], [SetBaud(9600)], []]
    assert client.result is not None
    assert client.result.mode is ProtocolMode.B
    assert client.result.baud == 9600
    assert client.result.readout.datasets == SMALL_SETS


@pytest.mark.parametrize(
    ("options", "ident", "actions", "baud"),
    [
        # no acknowledgement in mode B: the meter switches to its own rate, so we follow
        (ReadoutOptions(max_baud=2400), b"/ELSF\r\n", [SetBaud(19200)], 19200),
        (ReadoutOptions(switch_baud=False), b"/ELSF\r\n", [], 300),
        (ReadoutOptions(force_baud=600), b"/ELSF\r\n", [SetBaud(19200)], 19200),
        (ReadoutOptions(), b"/XYZGabc\r\n", [], 300),  # reserved letter: no switch
        (ReadoutOptions(), b"/HAgE2WR5 @ 1/x y\r\n", [SetBaud(9600)], 9600),
        # forced mode B on a mode C meter: switch at once, no acknowledgement
        (ReadoutOptions(mode=ProtocolMode.B), b"/XYZ5abc\r\n", [SetBaud(9600)], 9600),
    ],
)
def test_mode_b_baud_policies(
    options: ReadoutOptions, ident: bytes, actions: list[Action], baud: int
) -> None:
    client, steps = run(options, [ident, SMALL])
    assert steps[1] == actions
    assert client.result is not None
    assert client.result.mode is ProtocolMode.B
    assert client.result.baud == baud


def test_forced_mode_a_on_a_mode_c_meter() -> None:
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.A))
    client.start()
    assert client.read_timeout_s == 2.5
    assert client.receive_data(LGZ_IDENT) == []  # no acknowledgement, no switch
    # the meter waits tt (up to 2.2 s) for an option select, then sends at 300
    assert client.read_timeout_s == pytest.approx(2.5 + 2.2)
    assert client.receive_data(DATA_10_1[:1]) == []
    assert client.read_timeout_s == 1.5
    assert client.receive_data(DATA_10_1[1:]) == []
    assert client.result is not None
    assert client.result.mode is ProtocolMode.A
    assert client.result.baud == 300


def test_forced_mode_a_on_a_mode_a_meter_has_no_extra_wait() -> None:
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.A))
    client.start()
    client.receive_data(b"/KAM 685-382-QR-10\r\n")
    assert client.read_timeout_s == 2.5


def test_mode_d_push(chunker: Chunker) -> None:
    data = b"/ESY3EasyMeter\r\n\r\n1-0:1.8.0*255(00012345.6789*kWh)\r\n0.0.0(1ESY1160)\r\n!\r\n"
    client, steps = run(ReadoutOptions(mode=ProtocolMode.D), [data], chunker)
    assert steps == [[], []]  # nothing is ever sent to a mode D meter
    assert client.baud == 2400
    assert client.result is not None
    assert client.result.mode is ProtocolMode.D
    assert client.result.baud == 2400
    assert client.result.readout.bcc is BccStatus.ABSENT
    assert [d.address for d in client.result.readout.datasets] == ["1-0:1.8.0*255", "0.0.0"]


# -- echo, junk, parity -----------------------------------------------------------------


def test_request_and_ack_echo(chunker: Chunker) -> None:
    client, steps = run(None, [REQUEST + LGZ_IDENT, ACK_040 + DATA_10_1], chunker)
    assert steps[1] == [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)]
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID
    assert len(client.result.readout.datasets) == 9
    # every byte counts as received, echoes included
    assert client.bytes_received == len(REQUEST + LGZ_IDENT + ACK_040 + DATA_10_1)


def test_echo_of_an_addressed_request() -> None:
    options = ReadoutOptions(address="12345678")
    req = b"/?12345678!\r\n"
    for cuts in ([3], [1, 5, 13], [13], [14]):
        client, _ = run(options, [])
        actions, _ = feed(client, split_at(req + LGZ_IDENT, cuts))
        assert actions[1] == Send(ACK_040)
        assert client.events == [IdentificationReceived(LGZ)]


@pytest.mark.parametrize(
    "chunks",
    [
        [b"/?", b"!\r", b"\n/LGZ4ZMF100AC.M23\r\n"],
        [b"/", b"?!\r\n/", b"LGZ4ZMF100AC.M23\r\n"],
        [b"/?!\r\n", b"/LGZ4ZMF100AC.M23\r", b"\n"],
        [b"/?!\r\n/LGZ4ZMF100AC.M23\r\n"],
    ],
)
def test_echo_split_across_chunks(chunks: list[bytes]) -> None:
    client, _ = run(None, [])
    actions, _ = feed(client, chunks)
    assert actions == [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)]
    assert client.events == [IdentificationReceived(LGZ)]


def test_ack_echo_split_across_chunks() -> None:
    client, _ = run(None, [LGZ_IDENT])
    data = ACK_040 + DATA_10_1
    actions, rest = feed(client, [data[:1], data[1:4], data[4:7], data[7:]])
    assert (actions, rest) == ([], b"")
    assert client.result is not None
    assert len(client.result.readout.datasets) == 9


def test_identification_that_starts_like_the_echo_is_not_swallowed() -> None:
    # No echo on this line: the identification's "/" matches the request's first
    # byte, and must still reach the parser when the next byte differs.
    client, _ = run(None, [])
    actions, _ = feed(client, bytewise(LGZ_IDENT))
    assert Send(ACK_040) in actions
    assert client.events == [IdentificationReceived(LGZ)]


def test_echo_not_stripped_when_disabled() -> None:
    # The request echo is skipped as a foreign request; the ACK echo is skipped
    # as an acknowledgement line, and the data behind it is kept.
    client, _ = run(ReadoutOptions(strip_echo=False), [REQUEST + LGZ_IDENT])
    assert client.events == [IdentificationReceived(LGZ)]
    client.receive_data(ACK_040 + DATA_10_1)
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID


@pytest.mark.parametrize("request_start", ["/2", "/#"])
def test_echo_of_a_request_variant_is_not_an_identification(request_start: str) -> None:
    options = ReadoutOptions(request_start=request_start, strip_echo=False)
    client, _ = run(options, [request_start.encode() + b"!\r\n" + LGZ_IDENT])
    assert client.events == [IdentificationReceived(LGZ)]


@pytest.mark.parametrize(
    ("request_start", "address"), [("/2", "12345678"), ("/4", "007"), ("/?", "A1")]
)
def test_echo_behind_a_wakeup_echo_is_not_an_identification(
    request_start: str, address: str
) -> None:
    # On an echoing 2-wire loop the NUL wake-up comes back first, so the echo is
    # not a prefix of what arrives; the echoed request must still be skipped.
    options = ReadoutOptions(request_start=request_start, address=address, wakeup_nuls=5)
    req = f"{request_start}{address}!\r\n".encode()
    client, _ = run(options, [b"\x00" * 5 + req + LGZ_IDENT])
    assert client.events == [IdentificationReceived(LGZ)]


@pytest.mark.parametrize("junk", [b"\x7f", b"\x00" * 10, b"\x7f\x00\xff\r\n", b"?!\r\n"])
def test_junk_before_identification(junk: bytes, chunker: Chunker) -> None:
    client, steps = run(None, [junk + LGZ_IDENT, DATA_10_1], chunker)
    assert steps[1] == [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)]
    assert client.result is not None
    assert client.result.identification == LGZ
    assert client.result.readout.bcc is BccStatus.VALID
    assert len(client.result.readout.datasets) == 9
    assert client.result.readout.get("1.8.0") == SMALL_SETS[0]


def test_bit7_set_on_every_byte(chunker: Chunker) -> None:
    ident = to_7e1(LGZ_IDENT)
    assert ident[0] == 0xAF
    client, steps = run(None, [to_7e1(REQUEST) + ident, to_7e1(ACK_040 + DATA_10_1)], chunker)
    assert steps[1] == [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)]
    assert client.result is not None
    assert client.result.identification == LGZ
    assert client.result.readout.bcc is BccStatus.VALID
    assert len(client.result.readout.datasets) == 9


def test_trailing_bytes_after_the_bcc_are_left_alone() -> None:
    trailer = b"/MCS5\\@V0050710000051\r\n"
    client, _ = run(None, [LGZ_IDENT, DATA_10_1 + trailer])
    assert client.done
    client, _ = run(None, [LGZ_IDENT])
    actions, rest = feed(client, bytewise(DATA_10_1 + trailer))
    assert actions == []
    assert rest == trailer  # done at the BCC, the rest was never needed
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID


def test_bcc_equal_to_etx_in_the_client(chunker: Chunker) -> None:
    data = readout_frame(["C.1.0(aab)"])
    assert data[-1] == 0x03
    client, _ = run(None, [LGZ_IDENT, data], chunker)
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID


def test_slash_inside_a_value(chunker: Chunker) -> None:
    data = readout_frame(["0.2.0(/SX330)", "1.8.0(1)"])
    client, _ = run(None, [b"/AUX5\\2SX330SKH10F10013\r\n", data], chunker)
    assert client.result is not None
    assert client.result.readout.datasets[0] == DataSet("0.2.0", (Value.from_raw("/SX330"),))


# -- repeat request on a wrong BCC ------------------------------------------------------


def test_wrong_bcc_then_good_repeat(chunker: Chunker) -> None:
    client, steps = run(ReadoutOptions(repeat_requests=1), [LGZ_IDENT, DATA_BAD_BCC], chunker)
    assert steps[2] == [Sleep(0.2), Send(b"\x15")]
    assert not client.done
    assert client.read_timeout_s == 2.5
    actions, rest = feed(client, chunker(DATA_10_1))
    assert (actions, rest) == ([], b"")
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID


def test_nak_waits_the_meters_reaction_time() -> None:
    _, steps = run(None, [b"/ISk5MT174-0001\r\n", DATA_BAD_BCC])
    assert steps[2] == [Sleep(0.02), Send(b"\x15")]


def test_nak_echo_is_stripped() -> None:
    client, _ = run(None, [LGZ_IDENT, DATA_BAD_BCC])
    for chunk in bytewise(b"\x15" + DATA_10_1):
        client.receive_data(chunk)
    assert client.done


def test_second_wrong_bcc_raises() -> None:
    client, _ = run(None, [LGZ_IDENT, DATA_BAD_BCC])
    with pytest.raises(ChecksumError, match="checksum") as info:
        client.receive_data(DATA_BAD_BCC)
    assert info.value.attempts == 2
    assert (info.value.expected, info.value.received) == (0x43, 0x42)
    assert "after 2 attempts" in str(info.value)
    with pytest.raises(RuntimeError):
        client.receive_data(DATA_10_1)


def test_timeout_after_nak_is_a_checksum_error() -> None:
    client, _ = run(None, [LGZ_IDENT, DATA_BAD_BCC])
    with pytest.raises(ChecksumError, match="checksum") as info:
        client.timeout()
    assert not isinstance(info.value, NoAnswerError)
    assert info.value.attempts == 1


def test_timeout_after_part_of_the_repeat_is_a_checksum_error() -> None:
    client, _ = run(None, [LGZ_IDENT, DATA_BAD_BCC])
    client.receive_data(DATA_10_1[:10])
    with pytest.raises(ChecksumError):
        client.timeout()


def test_no_repeat_requests() -> None:
    client, _ = run(ReadoutOptions(repeat_requests=0), [LGZ_IDENT])
    with pytest.raises(ChecksumError) as info:
        client.receive_data(DATA_BAD_BCC)
    assert info.value.attempts == 1


def test_three_repeat_requests() -> None:
    client, _ = run(ReadoutOptions(repeat_requests=3), [LGZ_IDENT])
    for _ in range(3):
        assert client.receive_data(DATA_BAD_BCC) == [Sleep(0.2), Send(b"\x15")]
    with pytest.raises(ChecksumError) as info:
        client.receive_data(DATA_BAD_BCC)
    assert info.value.attempts == 4


def test_verify_bcc_off_and_sum7() -> None:
    client, _ = run(ReadoutOptions(verify_bcc=False), [LGZ_IDENT, DATA_BAD_BCC])
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.NOT_CHECKED
    data = readout_frame(["ET0PE(0012345.67)"], method="sum7")
    client, _ = run(ReadoutOptions(bcc_method="sum7"), [LGZ_IDENT, data])  # type: ignore[arg-type]
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID
    with pytest.raises(ChecksumError):
        run(ReadoutOptions(repeat_requests=0), [LGZ_IDENT, data])


# -- timeouts ---------------------------------------------------------------------------


def test_timeout_waiting_for_the_identification() -> None:
    client, _ = run(None, [])
    with pytest.raises(NoAnswerError) as info:
        client.timeout()
    assert info.value.waiting_for == "identification"
    assert info.value.received == 0
    assert info.value.timeout_s == 2.5
    assert isinstance(info.value, TimeoutError)
    assert "no answer" in str(info.value)


def test_timeout_inside_the_identification() -> None:
    client, _ = run(ReadoutOptions(inter_byte_timeout_s=1.2), [b"\x00/LGZ4"])
    with pytest.raises(NoAnswerError) as info:
        client.timeout()
    assert info.value.waiting_for == "identification"
    assert info.value.received == 6
    assert info.value.timeout_s == 1.2
    assert "6 bytes received" in str(info.value)


def test_echo_is_not_counted_as_an_answer() -> None:
    client, _ = run(None, [REQUEST])
    assert client.read_timeout_s == 2.5
    with pytest.raises(NoAnswerError) as info:
        client.timeout()
    assert info.value.received == 0
    assert info.value.waiting_for == "identification"


def test_timeout_waiting_for_data() -> None:
    client, _ = run(ReadoutOptions(response_timeout_s=3.0), [LGZ_IDENT])
    with pytest.raises(NoAnswerError) as info:
        client.timeout()
    assert info.value.waiting_for == "data message"
    assert info.value.received == 0
    assert info.value.timeout_s == 3.0


def test_timeout_inside_the_data() -> None:
    client, _ = run(None, [LGZ_IDENT, DATA_10_1[:40]])
    with pytest.raises(NoAnswerError) as info:
        client.timeout()
    assert info.value.waiting_for == "data message"
    assert info.value.received == 40
    assert info.value.timeout_s == 1.5


def test_read_timeout_switches_to_inter_byte_once_bytes_arrived() -> None:
    options = ReadoutOptions(response_timeout_s=4.0, inter_byte_timeout_s=0.5)
    client = ReadoutClient(options)
    client.start()
    assert client.read_timeout_s == 4.0
    client.receive_data(b"/LG")
    assert client.read_timeout_s == 0.5
    client.receive_data(b"Z4ZMF100AC.M23\r\n")
    assert client.read_timeout_s == 4.0  # a new message: the meter reacts first
    client.receive_data(DATA_10_1[:1])
    assert client.read_timeout_s == 0.5


def test_timeout_ends_the_client() -> None:
    client, _ = run(None, [])
    with pytest.raises(NoAnswerError):
        client.timeout()
    with pytest.raises(RuntimeError):
        client.receive_data(LGZ_IDENT)
    with pytest.raises(RuntimeError):
        client.timeout()


# -- framing errors ---------------------------------------------------------------------


def test_oversize_message() -> None:
    client, _ = run(ReadoutOptions(max_message_bytes=100), [LGZ_IDENT])
    client.receive_data(b"\x02" + b"1.8.0(1)\r\n" * 9)
    with pytest.raises(FramingError, match="100 bytes"):
        client.receive_data(b"1.8.0(1)\r\n")


def test_oversize_unframed_message() -> None:
    client, _ = run(ReadoutOptions(max_message_bytes=100), [b"/KAM 685\r\n"])
    with pytest.raises(FramingError, match="exceeds"):
        client.receive_data(b"1.8.0(1)\r\n" * 11)


def test_junk_without_identification() -> None:
    client, _ = run(None, [])
    junk = bytes(range(0x30, 0x7F)) * 10  # no "/" (0x2F) in it
    client.receive_data(junk[:500] * 8)  # 4000 bytes: still waiting
    assert not client.done
    for chunk in bytewise(junk[:96]):  # up to 4096 bytes: still waiting
        assert client.receive_data(chunk) == []
    with pytest.raises(FramingError, match="junk"):
        client.receive_data(junk[:100])


def test_identification_line_without_end() -> None:
    client, _ = run(None, [])
    with pytest.raises(FramingError, match="too long"):
        client.receive_data(b"/LGZ4" + b"X" * 400)


@pytest.mark.parametrize(
    "data",
    [b"\x06\x15", b"\x06\x02", b"\x15", b"\x01P0\x02(12314330)\x03e", b"\x03C", b"\x04", b"\x1b"],
)
def test_control_byte_where_data_is_expected(data: bytes) -> None:
    client, _ = run(ReadoutOptions(strip_echo=False), [LGZ_IDENT])
    with pytest.raises(FramingError):
        client.receive_data(data)
    with pytest.raises(RuntimeError):
        client.receive_data(DATA_10_1)


def test_control_byte_that_only_starts_like_the_ack_echo() -> None:
    client, _ = run(None, [LGZ_IDENT])
    assert client.receive_data(b"\x06") == []  # may still be the echo of our ACK
    with pytest.raises(FramingError, match="0x06"):
        client.receive_data(b"\x15")


def test_second_identification_where_data_is_expected() -> None:
    client, _ = run(None, [LGZ_IDENT])
    with pytest.raises(FramingError, match="identification"):
        client.receive_data(LGZ_IDENT)


# -- options and states -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"address": "1" * 33},
        {"address": "1234-5678"},
        {"address": "12345678\r"},
        {"address": "ä"},
        {"request_start": "?"},
        {"request_start": ""},
        {"request_start": "/?!"},
        {"request_start": "//"},
        {"request_start": "/\r"},
        {"reaction_time_s": 1.6},
        {"reaction_time_s": -0.1},
        {"reaction_time_s": float("nan")},
        {"max_baud": 115200},
        {"max_baud": 500},
        {"force_baud": 1000},
        {"option": ""},
        {"option": "01"},
        {"response_timeout_s": 0},
        {"inter_byte_timeout_s": -1},
        {"repeat_requests": -1},
        {"wakeup_nuls": -1},
    ],
)
def test_invalid_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ReadoutOptions(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # ConfigError is also a ValueError
        ReadoutOptions(**kwargs)  # type: ignore[arg-type]


def test_valid_edge_options() -> None:
    assert ReadoutOptions(address="0" * 32).address == "0" * 32
    assert ReadoutOptions(reaction_time_s=0.0).reaction_time_s == 0.0
    assert ReadoutOptions(reaction_time_s=1.5).reaction_time_s == 1.5
    assert ReadoutOptions(max_baud=19200).max_baud == 19200
    assert ReadoutOptions(mode=ProtocolMode.D).start_baud == 2400
    assert ReadoutOptions(initial_baud=9600, mode=ProtocolMode.D).start_baud == 9600
    assert ReadoutOptions().start_baud == 300


def test_wrong_state() -> None:
    client = ReadoutClient()
    with pytest.raises(RuntimeError):
        client.receive_data(LGZ_IDENT)
    with pytest.raises(RuntimeError):
        client.timeout()
    client.start()
    with pytest.raises(RuntimeError):
        client.start()
    client.receive_data(b"/KAM 685\r\n" + SMALL)
    assert client.done
    with pytest.raises(RuntimeError):
        client.receive_data(b"x")
    with pytest.raises(RuntimeError):
        client.timeout()
    with pytest.raises(RuntimeError):
        client.start()
    assert client.done  # misuse does not spoil the result
    assert client.result is not None
    assert client.result.readout.datasets == SMALL_SETS


def test_error_state_after_protocol_error() -> None:
    client, _ = run(None, [LGZ_IDENT])
    with pytest.raises(ProtocolError):
        client.receive_data(b"\x15")
    assert not client.done
    assert client.result is None
    with pytest.raises(RuntimeError):
        client.start()


def test_whole_exchange_in_every_chunking() -> None:
    # The helper's own chunkings, including the three random ones.
    for name, chunks in chunkings(REQUEST + LGZ_IDENT):
        client, _ = run(None, [])
        actions, _ = feed(client, chunks)
        assert actions == [Sleep(0.2), Send(ACK_040), Drain(), SetBaud(4800)], name


def test_noise_before_stx_is_skipped_and_the_bcc_checked() -> None:
    message = readout_frame(["1.8.0(001234.120*kWh)"])
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.A))
    client.start()
    feed(client, [b"/KAM 685\r\n", b"x\x00", b"\xf8" + message[:5], message[5:]])
    assert client.result is not None
    assert client.result.readout.bcc is BccStatus.VALID
    assert client.result.readout.datasets[0].address == "1.8.0"


def test_noise_before_stx_and_a_wrong_bcc_is_a_repeat_request_then_checksum_error() -> None:
    message = readout_frame(["1.8.0(001234.120*kWh)"])
    bad = message[:-1] + bytes((message[-1] ^ 1,))
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.A, repeat_requests=1))
    client.start()
    actions, _ = feed(client, [b"/KAM 685\r\n", b"A\x00\x00" + bad])
    assert [type(a).__name__ for a in actions] == ["Sleep", "Send"]
    with pytest.raises(ChecksumError):
        feed(client, [b"A" + bad])
