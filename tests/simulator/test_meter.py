"""The sans-IO meter and line: every answer, byte for byte and to the exact time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from obisgate.errors import ConfigError
from obisgate.protocol.chars import add_even_parity, wire_time_s
from obisgate.simulator import (
    Faults,
    Hangup,
    MeterBus,
    MeterProfile,
    Output,
    SimulatedMeter,
    Transmit,
    get_profile,
    programming_hook,
    programming_meter,
)
from obisgate.simulator.faults import JUNK_BYTES, TRAILING_BYTES

E350 = get_profile("e350")
IDENT = E350.identification_message()
DATA = E350.data_message()


def sends(outputs: list[Output]) -> list[tuple[float, bytes, int | None]]:
    """(time, bytes, baud) of each transmission, times rounded to the microsecond."""
    return [(round(o.at, 6), o.data, o.baud) for o in outputs if isinstance(o, Transmit)]


def bus(*profiles: MeterProfile, **kw: Any) -> MeterBus:
    return MeterBus(profiles or (E350,), **kw)


# -- request and address rules -------------------------------------------------


def test_mode_c_readout_as_in_the_protocol_notes() -> None:
    line = bus()
    assert sends(line.receive(b"/?!\r\n", 10.0)) == [(10.2, IDENT, 300)]
    assert line.deadline == pytest.approx(10.2 + 1.8)  # tt from the end of the identification
    assert sends(line.receive(b"\x06040\r\n", 10.6)) == [(10.8, DATA, 4800)]
    assert line.deadline is None
    assert line.stats.readout_bauds == {4800: 1}
    assert line.stats.option_selects == {b"\x06040\r\n": 1}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"/?00188123!\r\n",
        b"/?188123!\r\n",  # leading zeros are not evaluated
        b"/?0000000188123!\r\n",
        b"/?!\r\n",  # general address
        b"/#00188123!\r\n",  # manufacturer request starts
        b"/2!\r\n",
        b"\x00" * 66 + b"/?!\r\n",  # NUL wake-up
        add_even_parity(b"/?00188123!\r\n"),  # 7E1 over 8N1: bit 7 masked
        b"\x7fjunk\r\n/?!\r\n",  # noise line before the request
        b"/?!\n",  # LF only
    ],
)
def test_requests_the_meter_answers(request_bytes: bytes) -> None:
    assert sends(bus().receive(request_bytes, 0.0)) == [(0.2, IDENT, 300)]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"/?00188124!\r\n",  # another meter
        b"/?1881230!\r\n",
        b"/?00188123\r\n",  # no '!'
        b"/?00188123!",  # incomplete
        b"/?0018/8123!\r\n",  # '/' restarts: "/8123!" is not a request start
        b"/!00188123!\r\n",  # unknown request start
        b"/?" + b"1" * 33 + b"!\r\n",  # address too long
    ],
)
def test_requests_the_meter_ignores(request_bytes: bytes) -> None:
    line = bus()
    assert line.receive(request_bytes, 0.0) == []
    assert line.active_meters() == []


def test_request_split_across_chunks_and_ta() -> None:
    line = bus()
    assert line.receive(b"/?001", 0.0) == []
    assert sends(line.receive(b"88123!\r\n", 1.0)) == [(1.2, IDENT, 300)]
    other = bus()
    assert other.receive(b"/?001", 0.0) == []
    # more than ta = 1.5 s between characters: the partial request is abandoned
    assert other.receive(b"88123!\r\n", 1.6) == []


def test_only_the_addressed_meter_on_a_bus_answers() -> None:
    a = E350.replace(address="1")
    b = get_profile("mt174").replace(address="2")
    line = bus(a, b)
    assert sends(line.receive(b"/?2!\r\n", 0.0)) == [(0.02, b.identification_message(), 300)]
    assert sends(line.receive(b"/?01!\r\n", 1.0)) == [(1.2, IDENT, 300)]
    assert [m.profile.address for m in line.active_meters()] == ["1"]  # "2" was abandoned
    assert line.receive(b"/?3!\r\n", 2.0) == []
    general = sends(bus(a, b).receive(b"/?!\r\n", 0.0))
    assert general == [(0.2, IDENT, 300), (0.02, b.identification_message(), 300)]


def test_custom_request_starts() -> None:
    line = bus(E350.replace(request_starts=("/?",)))
    assert line.receive(b"/#!\r\n", 0.0) == []
    assert sends(line.receive(b"/?!\r\n", 1.0)) == [(1.2, IDENT, 300)]


# -- mode C option select --------------------------------------------------------


@pytest.mark.parametrize(
    ("option_select", "baud"),
    [
        (b"\x06040\r\n", 4800),
        (b"\x06000\r\n", 300),  # Z = 0: stay at 300
        (b"\x06050\r\n", 300),  # Z not the proposed one
        (b"\x06030\r\n", 300),
        (b"\x06041\r\n", 300),  # programming asked, the profile has none
        (b"\x06242\r\n", 300),  # mode E (HDLC) is not simulated
        (b"\x06140\r\n", 300),  # secondary protocol procedure
        (b"\x06046\r\n", 300),  # manufacturer-specific option
        (b"\x0604\r\n", 300),  # malformed: too short
        (b"\x06040\n\r", 300),  # malformed: wrong completion
        (b"\x06040xx\r\n", 300),  # malformed: too long
    ],
)
def test_option_select_outcomes(option_select: bytes, baud: int) -> None:
    line = bus()
    line.receive(b"/?!\r\n", 0.0)
    assert sends(line.receive(option_select, 0.5)) == [(0.7, DATA, baud)]
    assert line.stats.readout_bauds == {baud: 1}


def test_option_select_split_and_preceded_by_noise() -> None:
    line = bus()
    line.receive(b"/?!\r\n", 0.0)
    assert line.receive(b"\x00\x7f\x06", 0.4) == []
    assert line.receive(b"04", 0.45) == []
    assert sends(line.receive(b"0\r\n", 0.5)) == [(0.7, DATA, 4800)]


def test_no_option_select_within_tt_gives_the_300_baud_readout() -> None:
    line = bus()
    line.receive(b"/?!\r\n", 0.0)
    deadline = line.deadline
    assert deadline == pytest.approx(2.0)
    assert line.on_timer(1.9) == []  # not yet
    assert sends(line.on_timer(2.0)) == [(2.0, DATA, 300)]
    assert line.deadline is None
    assert line.receive(b"\x06040\r\n", 2.1) == []  # too late: the readout went at 300


def test_tt_is_configurable() -> None:
    line = bus(E350.replace(option_select_wait_s=2.2))
    line.receive(b"/?!\r\n", 0.0)
    assert line.deadline == pytest.approx(2.4)


def test_a_repeated_request_restarts_the_session() -> None:
    line = bus()
    line.receive(b"/?!\r\n", 0.0)
    assert sends(line.receive(b"/?!\r\n", 1.0)) == [(1.2, IDENT, 300)]
    assert line.deadline == pytest.approx(3.0)


def test_mode_e_capable_meter_answers_a_mode_c_option_select() -> None:
    aux = get_profile("aux")
    line = bus(aux)
    assert sends(line.receive(b"/?!\r\n", 0.0)) == [(0.2, b"/AUX5\\2SX330SKH10F10013\r\n", 300)]
    assert sends(line.receive(b"\x06050\r\n", 0.5)) == [(0.7, aux.data_message(), 9600)]


# -- modes A, B and D -----------------------------------------------------------


def test_mode_a_data_follows_the_identification() -> None:
    kam = get_profile("kamstrup")
    out = sends(bus(kam).receive(b"/?!\r\n", 0.0))
    assert out == [
        (0.2, b"/KAM 685-382-QR-10\r\n", 300),
        (0.2, kam.data_message(), 300),
    ]
    assert kam.data_message().endswith(b"F.F(00000000)!\r\n\x03" + kam.data_message()[-1:])


def test_mode_b_switches_after_the_identification() -> None:
    mode_b = get_profile("mode-b")
    out = sends(bus(mode_b).receive(b"/?!\r\n", 0.0))
    assert out == [(0.2, b"/ELSDA1500-B\r\n", 300), (0.4, mode_b.data_message(), 4800)]


def test_mode_d_pushes_when_the_line_opens_and_then_periodically() -> None:
    ehz = get_profile("ehz-push").replace(push_interval_s=5.0)
    line = bus(ehz)
    assert sends(line.open(100.0)) == [(100.0, ehz.push_message(), 2400)]
    assert line.deadline == 105.0
    assert line.receive(b"/?!\r\n", 101.0) == []  # a push meter does not answer
    assert sends(line.on_timer(105.0)) == [(105.0, ehz.push_message(), 2400)]
    assert line.stats.pushes == 2
    once = bus(ehz.replace(push_interval_s=None))
    assert len(once.open(0.0)) == 1
    assert once.deadline is None


def test_realtime_counts_wire_time() -> None:
    line = bus(realtime=True)
    line.receive(b"/?!\r\n", 0.0)
    ident_end = 0.2 + wire_time_s(len(IDENT), 300)
    assert line.deadline == pytest.approx(ident_end + 1.8)
    kam = get_profile("kamstrup")
    out = sends(bus(kam, realtime=True).receive(b"/?!\r\n", 0.0))
    assert out[1][0] == pytest.approx(0.2 + wire_time_s(len(kam.identification_message()), 300))


# -- NAK repeats -----------------------------------------------------------------


def test_nak_repeats_the_readout_a_bounded_number_of_times() -> None:
    line = bus(E350.replace(nak_repeats=2))
    line.receive(b"/?!\r\n", 0.0)
    line.receive(b"\x06040\r\n", 0.5)  # readout at 0.7
    assert sends(line.receive(b"\x15", 1.0)) == [(1.2, DATA, 4800)]
    assert sends(line.receive(b"\x15", 1.5)) == [(1.7, DATA, 4800)]
    assert line.receive(b"\x15", 2.0) == []  # bound reached
    assert line.stats.repeats == 2


def test_nak_after_the_window_is_ignored() -> None:
    line = bus()
    line.receive(b"/?!\r\n", 0.0)
    line.receive(b"\x06040\r\n", 0.5)  # readout at 0.7, window until 2.2
    assert line.receive(b"\x15", 2.3) == []
    assert line.active_meters() == []


# -- faults ------------------------------------------------------------------------


def faulty(*names: str, profile: MeterProfile = E350) -> MeterBus:
    return MeterBus([profile], Faults.from_names(names))


def mode_c_exchange(line: MeterBus) -> list[Output]:
    out = line.receive(b"/?!\r\n", 0.0)
    out += line.receive(b"\x06040\r\n", 0.5)
    return out


def test_fault_echo() -> None:
    out = mode_c_exchange(faulty("echo"))
    assert sends(out) == [
        (0.0, b"/?!\r\n", None),
        (0.2, IDENT, 300),
        (0.5, b"\x06040\r\n", None),
        (0.7, DATA, 4800),
    ]


def test_fault_bad_bcc_on_every_transmission() -> None:
    line = faulty("bad-bcc")
    out = sends(mode_c_exchange(line))
    out += sends(line.receive(b"\x15", 1.0))
    wrong = DATA[:-1] + bytes((DATA[-1] ^ 1,))
    assert [data for _, data, _ in out[1:]] == [wrong, wrong]


def test_fault_bad_bcc_once_is_cured_by_a_nak() -> None:
    line = faulty("bad-bcc-once")
    out = sends(mode_c_exchange(line))
    assert out[1][1] != DATA and out[1][1][:-1] == DATA[:-1]
    assert sends(line.receive(b"\x15", 1.0)) == [(1.2, DATA, 4800)]


def test_fault_silence() -> None:
    line = faulty("silence")
    assert mode_c_exchange(line) == []
    assert line.stats.requests == 0
    assert faulty("silence", profile=get_profile("ehz-push")).open(0.0) == []


def test_fault_slow_reaction() -> None:
    assert sends(mode_c_exchange(faulty("slow-reaction"))) == [
        (2.0, IDENT, 300),
        (2.5, DATA, 4800),
    ]


def test_fault_inter_byte_gap() -> None:
    out = sends(mode_c_exchange(faulty("inter-byte-gap")))
    half = len(DATA) // 2
    assert out[1:] == [(0.7, DATA[:half], 4800), (2.7, DATA[half:], 4800)]


def test_fault_junk_before_the_identification() -> None:
    assert sends(faulty("junk").receive(b"/?!\r\n", 0.0)) == [(0.2, JUNK_BYTES + IDENT, 300)]


def test_fault_parity_sets_bit_7_as_even_parity_on_every_byte() -> None:
    out = sends(mode_c_exchange(faulty("parity")))
    assert [data for _, data, _ in out] == [add_even_parity(IDENT), add_even_parity(DATA)]
    for _, data, _ in out:
        assert all(bin(b).count("1") % 2 == 0 for b in data)
    assert out[0][1][0] == 0xAF  # '/' with its parity bit, as in the field notes


def test_fault_trailing_bytes_after_the_bcc() -> None:
    out = sends(mode_c_exchange(faulty("trailing")))
    assert out[1][1] == DATA + TRAILING_BYTES


def test_fault_drop_cuts_the_line_mid_readout() -> None:
    out = mode_c_exchange(faulty("drop"))
    half = len(DATA) // 2
    assert sends(out) == [(0.2, IDENT, 300), (0.7, DATA[:half], 4800)]
    assert out[-1] == Hangup(0.7)


def test_fault_wrong_baud_keeps_sending_at_300() -> None:
    line = faulty("wrong-baud")
    assert sends(mode_c_exchange(line))[1] == (0.7, DATA, 300)
    assert line.stats.readout_bauds == {4800: 1}  # what the meter claimed


def test_fault_lost_byte() -> None:
    out = sends(mode_c_exchange(faulty("lost-byte")))
    half = len(DATA) // 2
    assert out[1][1] == DATA[:half] + DATA[half + 1 :]


def test_faults_from_names() -> None:
    faults = Faults.from_names(["echo", "Bad-BCC", " parity "])
    assert faults.names == ["echo", "bad-bcc", "parity"]
    assert faults and not Faults()
    with pytest.raises(ValueError, match="unknown fault 'nope'; known: echo"):
        Faults.from_names(["nope"])


# -- programming-mode hook -------------------------------------------------------


@dataclass
class FakeSession:
    """Stands in for obisgate.simulator.programming_meter.MeterProgrammingSession."""

    config: Any
    idle_timeout_s: float = 5.0
    ended: bool = False
    received: list[bytes] = field(default_factory=list)

    def opening(self) -> bytes:
        return b"\x01P0\x02(" + str(self.config).encode() + b")\x03?"

    def feed(self, data: bytes) -> list[bytes]:
        self.received.append(data)
        if data.startswith(b"\x01B0"):
            self.ended = True
            return []
        return [b"\x06", b"\x02(X)\x03?"]


def programming_bus(faults: Faults | None = None) -> tuple[MeterBus, list[FakeSession]]:
    sessions: list[FakeSession] = []

    def factory(config: Any) -> FakeSession:
        sessions.append(FakeSession(config))
        return sessions[-1]

    line = MeterBus([E350.replace(programming="cfg")], faults, programming_factory=factory)
    return line, sessions


def test_programming_mode_is_handed_to_the_session() -> None:
    line, sessions = programming_bus()
    line.receive(b"/?!\r\n", 0.0)
    assert sends(line.receive(b"\x06041\r\n", 0.5)) == [(0.7, b"\x01P0\x02(cfg)\x03?", 4800)]
    assert line.active_meters()[0].listen_baud(0.8) == 4800
    out = sends(line.receive(b"\x01P1\x02(secret)\x03x", 1.0))
    assert out == [(1.2, b"\x06", 4800), (1.2, b"\x02(X)\x03?", 4800)]
    assert sessions[0].received == [b"\x01P1\x02(secret)\x03x"]
    assert line.receive(b"\x01B0\x03q", 2.0) == []
    assert line.active_meters() == []  # ended: idle again, listening at 300
    assert line.stats.programming_sessions == 1


def test_programming_with_z_0_stays_at_300() -> None:
    line, _ = programming_bus()
    line.receive(b"/?!\r\n", 0.0)
    assert sends(line.receive(b"\x06001\r\n", 0.5))[0][2] == 300


def test_programming_session_idles_out_silently() -> None:
    line, sessions = programming_bus()
    line.receive(b"/?!\r\n", 0.0)
    line.receive(b"\x06041\r\n", 0.5)
    assert line.receive(b"\x01R1\x02(1)\x03x", 5.4) != []  # 4.9 s after the option select
    assert line.receive(b"\x01R1\x02(1)\x03x", 10.5) == []  # 5.1 s of silence: idle
    assert len(sessions[0].received) == 1
    assert line.active_meters() == []


def test_programming_survives_a_request_for_another_meter() -> None:
    line, _ = programming_bus()
    line.receive(b"/?!\r\n", 0.0)
    line.receive(b"\x06041\r\n", 0.5)
    line.receive(b"/?999!\r\n", 1.0)  # the fake session answers anything
    assert [m.in_programming for m in line.active_meters()] == [True]


def test_programming_without_a_session_module(monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(programming_hook, "_MODULE", "obisgate.simulator.no_such_module")
    assert programming_hook.programming_session_factory() is None
    line = MeterBus([E350.replace(programming="cfg")])
    line.receive(b"/?!\r\n", 0.0)
    assert sends(line.receive(b"\x06041\r\n", 0.5)) == [(0.7, DATA, 300)]


def test_the_real_programming_module_is_found() -> None:

    assert (
        programming_hook.programming_session_factory() is programming_meter.MeterProgrammingSession
    )


def test_simulated_meter_alone() -> None:
    meter = SimulatedMeter(E350)
    assert meter.state == "IDLE"
    assert sends(meter.request(0.0)) == [(0.2, IDENT, 300)]
    assert meter.state == "WAIT_OPTION"
    assert meter.listen_baud(0.3) == 300
    assert sends(meter.receive(b"\x06040\r\n", 0.5)) == [(0.7, DATA, 4800)]
    assert meter.listen_baud(0.8) == 4800
    assert meter.is_idle(2.3)
    assert meter.listen_baud(2.3) == 300


def test_programming_logs_never_show_a_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="obisgate.simulator")
    line, sessions = programming_bus(Faults(echo=True))
    line.receive(b"/?!\r\n", 0.0)
    line.receive(b"\x06041\r\n", 0.5)
    line.receive(b"\x01P1\x02(Qz7K", 1.0)  # the password split over two chunks
    line.receive(b"p2Wx)\x03a", 1.1)
    assert b"".join(sessions[0].received) == b"\x01P1\x02(Qz7Kp2Wx)\x03a"
    assert "programming received" in caplog.text
    for part in ("Qz7K", "p2Wx", "Qz7Kp2Wx"):
        assert part not in caplog.text


def test_option_select_after_tt_gets_the_300_bd_readout() -> None:
    line = bus()
    line.receive(b"/?!\r\n", 0.0)
    assert line.deadline is not None
    late = line.deadline + 1.0
    assert sends(line.receive(b"\x06040\r\n", late)) == [(round(late, 6), DATA, 300)]


def test_reserved_mode_b_baud_character_is_refused() -> None:
    with pytest.raises(ConfigError, match="reserved or unknown rate"):
        MeterProfile(name="g", manufacturer="ABC", baud_char="G", identification="X")
