"""The simulated meter's side of programming mode: byte-exact answers and fault knobs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from obisgate.errors import ConfigError
from obisgate.protocol.commands import (
    command_message,
    data_message,
    error_message,
    password_message,
    profile_request,
    read_message,
    write_messages,
)
from obisgate.protocol.passwords import elster_password
from obisgate.simulator.programming_meter import (
    MeterProgrammingSession,
    ProfileRecord,
    ProgrammingProfile,
)
from tests.helpers import bytewise

ACK = b"\x06"
NAK = b"\x15"
B0 = b"\x01B0\x03q"
P1_OK = password_message("P1", "00000000")


def make(**kw: object) -> MeterProgrammingSession:
    kw.setdefault("registers", {"1.8.0": "001234.120*kWh", "0.9.1": "131600"})
    kw.setdefault("writable", {"0.9.1"})
    return MeterProgrammingSession(ProgrammingProfile(**kw))  # type: ignore[arg-type]


def feed(session: MeterProgrammingSession, data: bytes, chunking: str) -> list[bytes]:
    replies: list[bytes] = []
    for chunk in [data] if chunking == "whole" else bytewise(data):
        replies += session.feed(chunk)
    return replies


def ready(chunking: str = "whole", **kw: object) -> MeterProgrammingSession:
    session = make(**kw)
    assert feed(session, P1_OK, chunking) == [ACK]
    assert session.authenticated
    return session


CHUNKINGS = ["whole", "bytewise"]


def test_opening_is_the_p0_message() -> None:
    assert make(operand="12314330").opening() == bytes.fromhex(
        "01 50 30 02 28 31 32 33 31 34 33 33 30 29 03 65"
    )
    assert make().opening() == command_message("P0", "(12345678)")


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_read_write_and_errors_byte_exact(chunking: str) -> None:
    session = ready(chunking)
    assert feed(session, read_message("1.8.0"), chunking) == [
        bytes.fromhex("02 31 2E 38 2E 30 28 30 30 31 32 33 34 2E 31 32 30 2A 6B 57 68 29 03 5C")
    ]
    assert feed(session, read_message("99.99.99"), chunking) == [
        bytes.fromhex("02 28 45 52 30 34 29 03 11")
    ]
    assert feed(session, write_messages("0.9.1", "120000")[0], chunking) == [ACK]
    assert session.profile.registers["0.9.1"] == "120000"
    assert session.writes == [("0.9.1", "120000")]
    assert feed(session, write_messages("1.8.0", "0")[0], chunking) == [error_message("ER03")]
    assert feed(session, write_messages("7.7.7", "0")[0], chunking) == [error_message("ER04")]
    assert session.commands == ["P1", "R1 1.8.0", "R1 99.99.99", "W1 0.9.1", "W1 1.8.0", "W1 7.7.7"]
    assert feed(session, B0, chunking) == []
    assert session.ended
    assert session.feed(read_message("1.8.0")) == []


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_wrong_password_breaks_off(chunking: str) -> None:
    session = make()
    assert feed(session, password_message("P1", "11111111"), chunking) == [B0]
    assert session.ended
    assert not session.authenticated


def test_p2_is_refused_by_a_p1_meter() -> None:
    session = make()
    assert session.feed(password_message("P2", "00000000")) == [B0]


def test_elster_scheme_checks_the_p2_response() -> None:
    session = make(scheme="elster", password="FEDC0003", operand="FD2BA0E29731D230")
    assert session.opening() == b"\x01P0\x02(FD2BA0E29731D230)\x03m"
    assert session.feed(password_message("P2", "BE2C10B158593B3E")) == [ACK]
    wrong = make(scheme="elster", password="FEDC0003", operand="FD2BA0E29731D230")
    assert wrong.feed(password_message("P2", "0000000000000000")) == [B0]


def test_elster_seed_is_fresh_per_session() -> None:
    a = make(scheme="elster", password="FEDC0003")
    b = make(scheme="elster", password="FEDC0003")
    assert a.operand != b.operand
    assert len(a.operand) == 16
    response = elster_password("FEDC0003", a.operand)
    assert a.feed(password_message("P2", response)) == [ACK]


def test_custom_p2_function() -> None:
    session = make(scheme=lambda operand, pw: operand + pw, password="x", operand="12")
    assert session.feed(password_message("P2", "12x")) == [ACK]


def test_no_password_scheme_allows_commands_at_once() -> None:
    session = make(scheme="none")
    assert session.feed(read_message("1.8.0")) == [data_message("1.8.0(001234.120*kWh)")]


def test_command_before_the_password_is_an_error() -> None:
    session = make()
    assert session.feed(read_message("1.8.0")) == [error_message("ER01")]
    assert not session.ended


def test_bad_bcc_and_junk_are_answered_with_nak() -> None:
    session = ready()
    frame = read_message("1.8.0")
    assert session.feed(frame[:-1] + b"\x00") == [NAK]
    assert session.feed(b"zz") == [NAK]
    assert session.feed(data_message("1.8.0()")) == [NAK]


def test_nak_first_command_then_answer_the_repeat() -> None:
    session = ready(nak_first_command=True)
    assert session.feed(read_message("1.8.0")) == [NAK]
    assert session.feed(read_message("1.8.0")) == [data_message("1.8.0(001234.120*kWh)")]
    assert session.feed(read_message("1.8.0")) == [data_message("1.8.0(001234.120*kWh)")]


def test_corrupted_answer_is_repeated_correctly_after_nak() -> None:
    session = ready(corrupt_answers=1)
    good = data_message("1.8.0(001234.120*kWh)")
    (bad,) = session.feed(read_message("1.8.0"))
    assert bad[:-1] == good[:-1]
    assert bad[-1] != good[-1]
    assert session.feed(NAK) == [good]


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_partial_blocks_wait_for_ack_and_repeat_on_nak(chunking: str) -> None:
    session = ready(chunking, registers={"X": "0123456789" * 3}, partial_block_size=12)
    text = "X(" + "0123456789" * 3 + ")"
    pieces = [text[i : i + 12] for i in range(0, len(text), 12)]
    blocks = [data_message(p, partial=i < len(pieces) - 1) for i, p in enumerate(pieces)]
    assert feed(session, read_message("X", command="R6"), chunking) == [blocks[0]]
    assert feed(session, NAK, chunking) == [blocks[0]]
    assert feed(session, ACK, chunking) == [blocks[1]]
    assert feed(session, ACK, chunking) == [blocks[2]]
    assert feed(session, ACK, chunking) == []


def test_partial_write_is_assembled() -> None:
    session = ready(registers={"FFFF": ""}, writable={"FFFF"})
    messages = write_messages("FFFF", "0123456789", command="W3", block_size=4)
    replies = [r for m in messages for r in session.feed(m)]
    assert replies == [ACK, ACK, ACK]
    assert session.profile.registers["FFFF"] == "0123456789"


def test_ack_reads_quirk_and_unsupported_commands() -> None:
    session = ready(ack_reads=frozenset({"R1"}), read_commands=frozenset({"R1", "R5"}))
    assert session.feed(read_message("1.8.0")) == [ACK]
    assert session.feed(read_message("1.8.0", command="R5")) == [
        data_message("1.8.0(001234.120*kWh)")
    ]
    assert session.feed(read_message("1.8.0", command="R2")) == [error_message("ER02")]


def test_execute() -> None:
    session = ready(executes={"F001": "", "F002": "F002(OK)"})
    assert session.feed(command_message("E2", "F001()")) == [ACK]
    assert session.feed(command_message("E2", "F002()")) == [data_message("F002(OK)")]
    assert session.feed(command_message("E2", "F003()")) == [error_message("ER04")]


def test_b1_is_acknowledged_and_echo_break() -> None:
    session = ready()
    assert session.feed(command_message("B1")) == [ACK]
    assert session.ended
    session = ready(echo_break=True)
    assert session.feed(B0) == [B0]


def test_load_profile_answers_a_range() -> None:
    start = datetime(2024, 3, 15)
    rows = [ProfileRecord(start + timedelta(minutes=15 * i), (f"{i}.0", "0.5")) for i in range(8)]
    session = ready(load_profile=rows)
    (answer,) = session.feed(
        profile_request("P.01", start + timedelta(minutes=30), start + timedelta(minutes=60))
    )
    assert answer == data_message(
        "P.01(0240315003000)(00)(15)(2)(1.5)(kW)(2.5)(kW)\r\n"
        "(2.0)(0.5)\r\n(3.0)(0.5)\r\n(4.0)(0.5)\r\n"
    )
    (empty,) = session.feed(profile_request("P.01", datetime(2030, 1, 1), datetime(2030, 1, 2)))
    assert empty == error_message("ERROR")
    (bad,) = session.feed(read_message("P.01", "x;y", command="R5"))
    assert bad == error_message("ER04")


def test_profile_repr_hides_the_password() -> None:
    profile = ProgrammingProfile(password="topsecret")
    assert "topsecret" not in repr(profile)
    assert "topsecret" not in repr(MeterProgrammingSession(profile))


def test_unknown_scheme_name() -> None:
    with pytest.raises(ConfigError):
        MeterProgrammingSession(ProgrammingProfile(scheme="md5"))


def test_another_command_aborts_an_unfinished_partial_write() -> None:
    session = ready(registers={"FFFF": "old"}, writable={"FFFF"})
    first, *_ = write_messages("FFFF", "0123456789", command="W3", block_size=4)
    assert session.feed(first) == [ACK]
    session.feed(read_message("FFFF"))
    assert session.feed(write_messages("FFFF", "99")[0]) == [ACK]
    assert session.profile.registers["FFFF"] == "99"
