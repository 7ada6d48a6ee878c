"""The protocol core's ReadoutClient against the simulator, on a virtual clock.

Whole exchanges for every built-in profile and the client-visible faults, with
serial-line semantics (a wrong rate garbles the bytes), in microseconds.
"""

from __future__ import annotations

import pytest

from obisgate.errors import ChecksumError, ConnectionLostError, NoAnswerError, ProtocolError
from obisgate.protocol.client import ReadoutClient, ReadoutOptions
from obisgate.protocol.identification import ProtocolMode
from obisgate.protocol.readout import BccStatus
from obisgate.simulator import (
    Faults,
    MeterBus,
    MeterProfile,
    VirtualLine,
    builtin_profiles,
    get_profile,
)

EXPECTED_BAUD = {
    "e350": 4800,
    "mt174": 9600,
    "kamstrup": 300,
    "mode-b": 4800,
    "uh50": 2400,
    "ehz-push": 2400,
    "aux": 9600,
    "ce301": 9600,
    "nzr": 4800,
    "large": 9600,
    "zmd": 9600,
    "poison": 9600,
}


def read(
    profile: MeterProfile, faults: Faults | None = None, **options: object
) -> tuple[ReadoutClient, VirtualLine]:
    mode = ProtocolMode.D if profile.protocol_mode is ProtocolMode.D else None
    opts = ReadoutOptions(
        address=profile.address,
        mode=mode,
        bcc_method=profile.bcc_method,
        **options,  # type: ignore[arg-type]
    )
    client = ReadoutClient(opts)
    line = VirtualLine(MeterBus([profile], faults), initial_baud=opts.start_baud)
    line.run(client)
    return client, line


@pytest.mark.parametrize(
    "name",
    [n for n, p in builtin_profiles().items() if p.protocol_mode is not ProtocolMode.HDLC],
)
def test_every_builtin_profile_reads(name: str) -> None:
    profile = get_profile(name)
    client, _ = read(profile)
    result = client.result
    assert result is not None
    assert result.baud == EXPECTED_BAUD[name]
    assert list(result.readout.datasets) == profile.datasets
    assert result.readout.bcc is (BccStatus.VALID if profile.framed else BccStatus.ABSENT)


@pytest.mark.parametrize(
    "fault", ["echo", "bad-bcc-once", "junk", "parity", "trailing", "inter-byte-gap"]
)
@pytest.mark.parametrize("name", ["e350", "kamstrup", "mode-b"])
def test_faults_a_robust_client_survives(name: str, fault: str) -> None:
    profile = get_profile(name)
    options: dict[str, object] = {}
    if fault == "inter-byte-gap":
        options["inter_byte_timeout_s"] = 2.5
    client, _ = read(profile, Faults.from_names([fault]), **options)
    assert client.result is not None
    assert list(client.result.readout.datasets) == profile.datasets


def test_bad_bcc_once_costs_one_nak() -> None:
    _, line = read(get_profile("e350"), Faults(bad_bcc_once=True))
    assert line.sent().count(b"\x15") == 1
    assert line.bus.stats.repeats == 1


def test_bad_bcc_fails_after_the_repeats() -> None:
    with pytest.raises(ChecksumError) as info:
        read(get_profile("e350"), Faults(bad_bcc=True), repeat_requests=2)
    assert info.value.attempts == 3


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("silence", NoAnswerError),
        ("slow-reaction", NoAnswerError),  # tr 2.0 s > the client's 1.5 s ta
        ("inter-byte-gap", NoAnswerError),  # 2.0 s pause > ta 1.5 s
        ("lost-byte", ChecksumError),
        ("drop", ConnectionLostError),
        ("wrong-baud", (NoAnswerError, ProtocolError)),
    ],
)
def test_faults_a_client_must_report(fault: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        read(get_profile("e350"), Faults.from_names([fault]), response_timeout_s=1.5)


def test_wrong_baud_garbles_what_the_client_receives() -> None:
    profile = get_profile("e350")
    with pytest.raises((NoAnswerError, ProtocolError)):
        read(profile, Faults(wrong_baud=True))
    line = VirtualLine(MeterBus([profile], Faults(wrong_baud=True)))
    with pytest.raises((NoAnswerError, ProtocolError)):
        line.run(ReadoutClient(ReadoutOptions()))
    assert profile.data_message() not in line.received()


def test_a_client_that_does_not_switch_gets_garbage() -> None:
    """Serial semantics: the meter switches to 4800, a client that stays at 300 fails."""
    profile = get_profile("e350")
    client = ReadoutClient(ReadoutOptions(force_baud=4800))
    line = VirtualLine(MeterBus([profile]))
    line.run(client)  # switches as asked: fine
    assert client.result is not None and client.result.baud == 4800

    class NoSwitch(ReadoutClient):
        def _switch(self, baud: int, actions: list) -> None:  # type: ignore[type-arg]
            self.baud = baud  # believes it switched, never tells the line

    line = VirtualLine(MeterBus([profile]))
    with pytest.raises((NoAnswerError, ProtocolError)):
        line.run(NoSwitch(ReadoutOptions()))
    assert profile.data_message() not in line.received()


def test_raw_tcp_semantics_ignore_rates() -> None:
    profile = get_profile("e350")
    line = VirtualLine(MeterBus([profile], Faults(wrong_baud=True)), serial=False)
    client = ReadoutClient(ReadoutOptions())
    line.run(client)
    assert client.result is not None
    assert list(client.result.readout.datasets) == profile.datasets


def test_mode_c_client_that_never_acknowledges_gets_the_300_baud_readout() -> None:
    profile = get_profile("e350")
    client = ReadoutClient(ReadoutOptions(mode=ProtocolMode.A))
    line = VirtualLine(MeterBus([profile]))
    line.run(client)
    assert client.result is not None and client.result.baud == 300
    assert line.now == pytest.approx(0.2 + 1.8)  # tt after the identification
    assert line.bus.stats.readout_bauds == {300: 1}


def test_addressing_on_a_virtual_bus() -> None:
    meters = get_profile("mt174").clones(3, "00000001")
    line = VirtualLine(MeterBus(meters))
    client = ReadoutClient(ReadoutOptions(address="2"))
    line.run(client)
    assert line.sent().startswith(b"/?2!\r\n")
    assert line.bus.stats.requests == 1
    with pytest.raises(NoAnswerError):
        VirtualLine(MeterBus(meters)).run(ReadoutClient(ReadoutOptions(address="4")))


def test_transcript_of_a_mode_c_readout() -> None:
    profile = get_profile("e350")
    _, line = read(profile)
    events = [(round(e.at, 3), e.direction, e.data, e.baud) for e in line.transcript]
    assert events == [
        (0.0, ">", b"/?00188123!\r\n", 300),
        (0.2, "<", profile.identification_message(), 300),
        (0.4, ">", b"\x06040\r\n", 300),
        (0.4, "baud", b"", 4800),
        (0.6, "<", profile.data_message(), 4800),
    ]


def test_realtime_transcript_counts_wire_time() -> None:
    profile = get_profile("e350")
    line = VirtualLine(MeterBus([profile], realtime=True))
    client = ReadoutClient(ReadoutOptions())
    line.run(client)
    received = [e.at for e in line.transcript if e.direction == "<"]
    ident_end = 5 / 30 + 0.2 + 19 / 30  # /?! CR LF at 300 Bd, tr, 19 characters
    assert received[0] == pytest.approx(ident_end)
    # the client waits t2 = 0.2 s, its ACK takes 6 / 30 s, the meter waits tr = 0.2 s
    readout_start = ident_end + 0.2 + 6 / 30 + 0.2
    assert received[1] == pytest.approx(readout_start + 154 * 10 / 4800)
