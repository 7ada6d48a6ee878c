"""ProgrammingClient: the sans-IO programming-mode state machine (§6, §10.2, §12.2)."""

from __future__ import annotations

import pytest

from obisgate.errors import (
    AccessDeniedError,
    ChecksumError,
    ConfigError,
    FramingError,
    MeterError,
    NoAnswerError,
    UnexpectedMessageError,
)
from obisgate.protocol.actions import Send, Sleep
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.commands import command_message, data_message, password_message
from obisgate.protocol.identification import ProtocolMode
from obisgate.protocol.passwords import ComputedPassword, ElsterPassword, NoPassword, PlainPassword
from obisgate.protocol.programming_client import (
    CommandRejectedError,
    ProgrammingClient,
    ProgrammingOptions,
    SessionEndedError,
)
from tests.helpers import to_7e1
from tests.programming.support import (
    ACK,
    B0,
    IDENT,
    NAK,
    P0,
    P1_ZEROS,
    feed,
    options,
    sends,
    signed_on,
)

R1_180 = bytes.fromhex("01 52 31 02 31 2E 38 2E 30 28 29 03 5A")
ANSWER_180 = bytes.fromhex(
    "02 31 2E 38 2E 30 28 30 30 31 32 33 34 2E 31 32 30 2A 6B 57 68 29 03 5C"
)
W1_091 = bytes.fromhex("01 57 31 02 30 2E 39 2E 31 28 31 33 31 36 30 30 29 03 5B")
ERROR_ER04 = bytes.fromhex("02 28 45 52 30 34 29 03 11")

CHUNKINGS = ["whole", "bytewise"]


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_transcript_10_2_read_write_nak_error(chunking: str) -> None:
    client = signed_on(chunking=chunking)
    assert client.identification is not None
    assert client.operand == "12314330"
    assert client.baud == 4800

    assert sends(client.read("1.8.0")) == [R1_180]
    assert not client.done
    assert client.waiting_for == "answer to R1 1.8.0"
    assert feed(client, ANSWER_180, chunking) == []
    answer = client.result
    assert answer is not None
    assert answer.value is not None
    assert (answer.value.value, answer.value.unit) == ("001234.120", "kWh")
    assert answer.text == "1.8.0(001234.120*kWh)"
    assert answer.blocks == 1

    assert sends(client.write("0.9.1", "131600")) == [W1_091]
    assert feed(client, ACK, chunking) == []
    assert client.result is not None
    assert client.result.acknowledged

    # NAK from the meter: the same frame again.
    assert sends(client.read("1.8.0")) == [R1_180]
    assert sends(feed(client, NAK, chunking)) == [R1_180]
    feed(client, ANSWER_180, chunking)
    assert client.ready

    client.read("99.99.99")
    with pytest.raises(MeterError) as info:
        feed(client, ERROR_ER04, chunking)
    assert info.value.text == "ER04"
    assert "R1 99.99.99" in str(info.value)
    assert client.ready  # an error answer does not end the session

    assert sends(client.sign_off()) == [B0]
    assert client.ended
    assert client.sign_off() == []


def test_password_message_is_shown_masked() -> None:
    client = ProgrammingClient(options(), PlainPassword("s3cr3t#x"))
    client.start()
    feed(client, IDENT)
    (send,) = [a for a in feed(client, P0) if isinstance(a, Send)]
    assert send.data == password_message("P1", "s3cr3t#x")
    assert send.shown == command_message("P1", "(********)")
    assert b"s3cr3t" not in send.printable
    assert b"s3cr3t#x" in client.secrets


def test_elster_p2_and_the_computed_response_is_a_secret() -> None:
    client = ProgrammingClient(options(), ElsterPassword("FEDC0003"))
    client.start()
    feed(client, IDENT)
    actions = feed(client, b"\x01P0\x02(FD2BA0E29731D230)\x03m")
    (send,) = [a for a in actions if isinstance(a, Send)]
    assert send.data == b"\x01P2\x02(BE2C10B158593B3E)\x03\x60"
    assert b"BE2C10B158593B3E" not in send.printable
    assert b"BE2C10B158593B3E" in client.secrets
    assert b"FEDC0003" in client.secrets
    feed(client, ACK)
    assert client.ready


def test_computed_p2_gets_the_operand() -> None:
    client = ProgrammingClient(options(), ComputedPassword(lambda op: op[::-1]))
    client.start()
    feed(client, IDENT)
    assert sends(feed(client, P0)) == [password_message("P2", "03341321")]


def test_no_password_is_ready_right_after_p0() -> None:
    client = ProgrammingClient(options(), NoPassword())
    client.start()
    feed(client, IDENT)
    assert feed(client, P0) == []
    assert client.ready
    assert client.operand == "12314330"


def test_empty_operand() -> None:
    client = ProgrammingClient(options(), NoPassword())
    client.start()
    feed(client, IDENT)
    feed(client, command_message("P0", "()"))
    assert client.operand == ""


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_wrong_password_break_is_access_denied(chunking: str) -> None:
    client = ProgrammingClient(options(), PlainPassword("wrong123"))
    client.start()
    feed(client, IDENT)
    feed(client, P0)
    with pytest.raises(AccessDeniedError) as info:
        feed(client, B0, chunking)
    assert "wrong123" not in str(info.value)
    assert "wrong123" not in repr(info.value)
    assert client.ended
    assert client.sign_off() == []  # the meter already broke off


def test_password_error_answer_is_access_denied() -> None:
    client = ProgrammingClient(options(), PlainPassword("x"))
    client.start()
    feed(client, IDENT)
    feed(client, P0)
    with pytest.raises(AccessDeniedError, match="ER01"):
        feed(client, data_message("(ER01)"))


def test_password_nak_repeats_then_gives_up() -> None:
    client = ProgrammingClient(options(retries=2), PlainPassword("00000000"))
    client.start()
    feed(client, IDENT)
    feed(client, P0)
    assert sends(feed(client, NAK)) == [P1_ZEROS]
    assert sends(feed(client, NAK)) == [P1_ZEROS]
    with pytest.raises(CommandRejectedError) as info:
        feed(client, NAK)
    assert info.value.attempts == 3
    assert "00000000" not in str(info.value)
    assert sends(client.sign_off()) == [B0]


def test_bad_bcc_in_p0_raises_and_sign_off_follows() -> None:
    client = ProgrammingClient(options(), PlainPassword("00000000"))
    client.start()
    feed(client, IDENT)
    with pytest.raises(ChecksumError):
        feed(client, P0[:-1] + b"\x00")
    assert not client.ended
    assert sends(client.sign_off()) == [B0]  # Annex A: break on a bad operand


def test_readout_instead_of_p0_is_reported() -> None:
    client = ProgrammingClient(options(), PlainPassword("00000000"))
    client.start()
    feed(client, IDENT)
    with pytest.raises(UnexpectedMessageError, match="readout"):
        feed(client, data_message("1.8.0(1)\r\n!\r\n"))


def test_mode_b_meter_cannot_enter_programming_mode() -> None:
    client = ProgrammingClient(options(), PlainPassword("00000000"))
    client.start()
    with pytest.raises(UnexpectedMessageError, match="mode B"):
        feed(client, b"/LGZC100\r\n")


def test_forced_mode_a_is_refused() -> None:
    sign_on = ReadoutOptions(option="1", mode=ProtocolMode.A)
    client = ProgrammingClient(options(sign_on=sign_on))
    client.start()
    with pytest.raises(UnexpectedMessageError, match="mode A"):
        feed(client, IDENT)


def test_sign_on_option_is_forced_to_programming() -> None:
    opts = ProgrammingOptions(sign_on=ReadoutOptions(option="0"))
    assert opts.sign_on.option == "1"


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_nak_retries_are_bounded(chunking: str) -> None:
    client = signed_on(retries=3, chunking=chunking)
    client.read("1.8.0")
    for _ in range(3):
        assert sends(feed(client, NAK, chunking)) == [R1_180]
    with pytest.raises(CommandRejectedError) as info:
        feed(client, NAK, chunking)
    assert info.value.attempts == 4
    assert "R1 1.8.0" in str(info.value)
    assert not client.done or not client.ready
    assert sends(client.sign_off()) == [B0]


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_bad_bcc_answer_is_naked_and_the_repeat_accepted(chunking: str) -> None:
    client = signed_on(chunking=chunking)
    client.read("1.8.0")
    assert sends(feed(client, ANSWER_180[:-1] + b"\x00", chunking)) == [NAK]
    assert not client.done
    feed(client, ANSWER_180, chunking)
    assert client.ready
    assert client.result is not None
    assert client.result.text == "1.8.0(001234.120*kWh)"


def test_bad_bcc_too_often_is_a_checksum_error() -> None:
    client = signed_on(retries=2)
    client.read("1.8.0")
    bad = ANSWER_180[:-1] + b"\x00"
    assert sends(feed(client, bad)) == [NAK]
    assert sends(feed(client, bad)) == [NAK]
    with pytest.raises(ChecksumError) as info:
        feed(client, bad)
    assert info.value.attempts == 3


def test_silence_after_a_nak_for_a_bad_bcc_reports_the_checksum() -> None:
    client = signed_on()
    client.read("1.8.0")
    feed(client, ANSWER_180[:-1] + b"\x00")
    with pytest.raises(ChecksumError):
        client.timeout()


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_partial_blocks_are_acknowledged_one_by_one(chunking: str) -> None:
    # §10.4: the BCCs of these two blocks are 0x02 and 0x03.
    client = signed_on(chunking=chunking)
    client.read("0000", "20", command="R3")
    block1 = data_message("0000(0123456789ABCDEF)\r\n0010(0123456789ABCDEF)", partial=True)
    block2 = data_message("0020(0123456789ABCDEF)\r\n0030(01234567)")
    assert block1[-1] == 0x02
    assert block2[-1] == 0x03
    assert sends(feed(client, block1, chunking)) == [ACK]
    assert not client.done
    assert sends(feed(client, block1[:-1] + b"\x7f", chunking)) == [NAK]  # corrupted repeat
    assert feed(client, block2, chunking) == []
    answer = client.result
    assert answer is not None
    assert answer.blocks == 2
    assert [d.address for d in answer.datasets] == ["0000", "0010", "0020", "0030"]


def test_partial_write_waits_for_an_ack_per_block() -> None:
    client = signed_on(write_block_size=4)
    first = sends(client.write("FFFF", "0123456789", command="W3"))
    assert first == [command_message("W3", "FFFF(0123)", partial=True)]
    assert sends(feed(client, ACK)) == [command_message("W3", "(4567)", partial=True)]
    assert sends(feed(client, NAK)) == [command_message("W3", "(4567)", partial=True)]
    assert sends(feed(client, ACK)) == [command_message("W3", "(89)")]
    feed(client, ACK)
    assert client.ready
    assert client.result is not None
    assert client.result.acknowledged


def test_error_during_partial_write() -> None:
    client = signed_on(write_block_size=4)
    client.write("FFFF", "0123456789", command="W3")
    with pytest.raises(MeterError):
        feed(client, data_message("(ER03)"))
    assert client.ready


def test_break_after_a_command_ends_the_session() -> None:
    client = signed_on()
    client.read("1.8.0")
    with pytest.raises(SessionEndedError, match=r"R1 1\.8\.0"):
        feed(client, B0)
    assert client.ended
    assert client.sign_off() == []


def test_keep_alive_accepts_an_error_answer() -> None:
    client = signed_on(keepalive_address="C.1.0")
    assert sends(client.keep_alive()) == [command_message("R1", "C.1.0()")]
    assert client.waiting_for == "answer to keep-alive"
    feed(client, ERROR_ER04)
    assert client.ready


def test_execute_and_generic_command() -> None:
    client = signed_on()
    assert sends(client.execute("F001", "01")) == [command_message("E2", "F001(01)")]
    feed(client, ACK)
    assert client.ready
    assert sends(client.command("R5", "P.01(;)")) == [
        bytes.fromhex("01 52 35 02 50 2E 30 31 28 3B 29 03 23")
    ]
    feed(client, data_message("(1)"))
    assert client.result is not None
    assert client.result.address == "P.01"
    with pytest.raises(ConfigError):
        client.command("B0", None)


def test_read_command_and_argument_options() -> None:
    client = signed_on(read_command="R5", read_argument="1")
    assert sends(client.read("1.8.0")) == [command_message("R5", "1.8.0(1)")]


def test_commands_need_the_ready_state() -> None:
    client = ProgrammingClient(options())
    with pytest.raises(RuntimeError):
        client.read("1.8.0")
    client = signed_on()
    client.read("1.8.0")
    with pytest.raises(RuntimeError):
        client.read("1.8.0")
    with pytest.raises(RuntimeError):
        client.start()


def test_timeouts() -> None:
    client = signed_on(answer_timeout_s=1.5, inter_byte_timeout_s=1.0)
    client.read("1.8.0")
    assert client.read_timeout_s == 1.5
    feed(client, ANSWER_180[:5])
    assert client.read_timeout_s == 1.0
    with pytest.raises(NoAnswerError) as info:
        client.timeout()
    assert info.value.waiting_for == "answer to R1 1.8.0"
    assert info.value.received == 5
    assert sends(client.sign_off()) == [B0]


def test_timeout_waiting_for_p0() -> None:
    client = ProgrammingClient(options(), PlainPassword("pw"))
    client.start()
    feed(client, IDENT)
    assert client.waiting_for == "password prompt (P0)"
    with pytest.raises(NoAnswerError, match="P0"):
        client.timeout()


def test_timeout_during_sign_on_delegates_to_the_readout_client() -> None:
    client = ProgrammingClient(options())
    client.start()
    assert client.waiting_for == "identification"
    with pytest.raises(NoAnswerError, match="identification"):
        client.timeout()


def test_echo_of_our_messages_is_dropped() -> None:
    client = ProgrammingClient(options(), PlainPassword("00000000"))
    client.start()
    feed(client, b"/?!\r\n" + IDENT)
    feed(client, b"\x06041\r\n" + P0)
    assert sends(feed(client, P1_ZEROS + ACK)) == []
    assert client.ready
    client.read("1.8.0")
    for b in R1_180 + ANSWER_180:
        client.receive_data(bytes((b,)))
    assert client.result is not None
    assert client.result.text == "1.8.0(001234.120*kWh)"  # our echoed R1 was not taken for it


def test_parity_bits_are_ignored() -> None:
    client = signed_on()
    client.read("1.8.0")
    feed(client, to_7e1(ANSWER_180))
    assert client.result is not None
    assert client.result.text == "1.8.0(001234.120*kWh)"


def test_junk_is_a_framing_error() -> None:
    client = signed_on()
    client.read("1.8.0")
    with pytest.raises(FramingError):
        feed(client, b"zz")


def test_unexpected_command_frame() -> None:
    client = signed_on()
    client.read("1.8.0")
    with pytest.raises(UnexpectedMessageError, match="W1"):
        feed(client, W1_091)  # (a copy of our own R1 would be taken for an echo)


def test_bare_ack_answers_a_read() -> None:
    client = signed_on()
    client.read("1.8.0")
    feed(client, ACK)
    assert client.result is not None
    assert client.result.acknowledged
    assert client.result.value is None


def test_reaction_delay_before_every_message() -> None:
    client = ProgrammingClient(
        ProgrammingOptions(sign_on=ReadoutOptions(option="1", reaction_time_s=0.0)),
        PlainPassword("00000000"),
    )
    client.start()
    feed(client, IDENT)
    actions = feed(client, P0)
    assert actions[0] == Sleep(0.2)  # upper-case 3rd letter: tr min 200 ms
    feed(client, ACK)
    fast = ProgrammingClient(options(command_delay_s=0.05))
    fast.start()
    feed(fast, IDENT)
    feed(fast, P0)
    assert fast.read("1.8.0")[0] == Sleep(0.05)


@pytest.mark.parametrize(
    "kw",
    [
        {"read_command": "R9"},
        {"write_command": "R1"},
        {"answer_timeout_s": 0},
        {"retries": -1},
        {"command_delay_s": 2.0},
    ],
)
def test_option_validation(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ProgrammingOptions(**kw)  # type: ignore[arg-type]
