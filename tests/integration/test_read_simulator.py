"""The reader against the simulator: whole exchanges over a pty, TCP and RFC 2217."""

from __future__ import annotations

import io

import pytest

from obisgate import (
    BccStatus,
    ChecksumError,
    ConnectionLostError,
    NoAnswerError,
    ObisgateError,
    ProtocolError,
    ProtocolMode,
    ReadoutOptions,
    Trace,
    read_meter,
)
from obisgate.simulator import Faults, get_profile, serve_pty, serve_rfc2217, serve_tcp

pytestmark = pytest.mark.integration


def expected_datasets(profile_name: str) -> list[tuple[str, tuple[str, ...]]]:
    profile = get_profile(profile_name)
    return [(ds.address, tuple(v.raw for v in ds.values)) for ds in profile.datasets]


def got(result_datasets: tuple) -> list[tuple[str, tuple[str, ...]]]:  # type: ignore[type-arg]
    return [(ds.address, tuple(v.raw for v in ds.values)) for ds in result_datasets]


@pytest.mark.pty
@pytest.mark.parametrize(("name", "baud"), [("mt174", 9600), ("e350", 4800)])
async def test_mode_c_over_pty_really_switches_baud(name: str, baud: int) -> None:
    profile = get_profile(name)
    async with await serve_pty([profile]) as sim:
        result = await read_meter(sim.path, ReadoutOptions(address=profile.address))
    assert result.mode is ProtocolMode.C
    assert result.baud == baud
    assert result.readout.bcc is BccStatus.VALID
    assert got(result.readout.datasets) == expected_datasets(name)


@pytest.mark.pty
async def test_mode_c_without_switch_gets_garbage_when_meter_switches() -> None:
    """Proof that the pty simulator enforces the rate: a client that does not switch fails."""
    profile = get_profile("mt174")
    async with await serve_pty([profile], faults=Faults(wrong_baud=True)) as sim:
        with pytest.raises((ProtocolError, NoAnswerError)):
            await read_meter(sim.path, ReadoutOptions(address=profile.address))


@pytest.mark.pty
async def test_two_meters_on_one_pty_bus_each_answer_their_address() -> None:
    first, second = get_profile("mt174"), get_profile("e350")
    async with await serve_pty([first, second]) as sim:
        a = await read_meter(sim.path, ReadoutOptions(address=first.address))
        b = await read_meter(sim.path, ReadoutOptions(address="0000" + second.address))
        with pytest.raises(NoAnswerError, match="identification"):
            await read_meter(sim.path, ReadoutOptions(address="99", response_timeout_s=0.5))
    assert a.identification.identification == first.identification
    assert b.identification.identification == second.identification


@pytest.mark.parametrize(
    ("name", "mode", "bcc"),
    [
        ("kamstrup", ProtocolMode.A, BccStatus.VALID),
        ("mode-b", ProtocolMode.B, BccStatus.VALID),
        ("mt174", ProtocolMode.C, BccStatus.VALID),
        ("aux", ProtocolMode.C, BccStatus.VALID),
        ("large", ProtocolMode.C, BccStatus.VALID),
    ],
)
async def test_modes_over_tcp(name: str, mode: ProtocolMode, bcc: BccStatus) -> None:
    profile = get_profile(name)
    async with await serve_tcp(profile) as sim:
        result = await read_meter(sim.url, ReadoutOptions(address=profile.address))
    assert result.mode is mode
    assert result.readout.bcc is bcc
    assert got(result.readout.datasets) == expected_datasets(name)


async def test_mode_d_listening_over_tcp() -> None:
    profile = get_profile("ehz-push")
    async with await serve_tcp(profile) as sim:
        result = await read_meter(sim.url, ReadoutOptions(mode=ProtocolMode.D))
    assert result.mode is ProtocolMode.D
    assert result.identification.manufacturer == "HAG"
    assert result.readout.bcc is BccStatus.ABSENT
    assert got(result.readout.datasets) == expected_datasets("ehz-push")


async def test_mode_c_over_rfc2217_switches_baud() -> None:
    profile = get_profile("e350")
    trace = io.StringIO()
    async with await serve_rfc2217(profile) as sim:
        result = await read_meter(sim.url, ReadoutOptions(address=profile.address), trace=trace)
    assert result.baud == 4800
    assert "switched to 4800 Bd" in trace.getvalue()
    assert got(result.readout.datasets) == expected_datasets("e350")


async def test_max_baud_and_no_switch_over_rfc2217() -> None:
    profile = get_profile("mt174")
    async with await serve_rfc2217(profile) as sim:
        slow = await read_meter(sim.url, ReadoutOptions(address=profile.address, switch_baud=False))
    assert slow.baud == 300
    assert got(slow.readout.datasets) == expected_datasets("mt174")


async def test_trace_shows_every_byte_with_direction() -> None:
    profile = get_profile("mt174")
    trace = io.StringIO()
    async with await serve_tcp(profile) as sim:
        await read_meter(sim.url, ReadoutOptions(address=profile.address), trace=Trace(trace))
    lines = trace.getvalue().splitlines()
    request = f"/?{profile.address}!".encode().hex(" ").upper()
    assert any(" > " in line and request[:20] in line for line in lines)
    assert any(" < " in line and "2F 49 53 6B 35" in line for line in lines)  # /ISk5
    assert any("06 30 35 30 0D 0A" in line for line in lines)  # ACK 0 5 0 CR LF


FAULT_OUTCOMES: list[tuple[str, type[BaseException] | None]] = [
    ("echo", None),
    ("bad-bcc", ChecksumError),
    ("bad-bcc-once", None),
    ("silence", NoAnswerError),
    ("slow-reaction", None),
    ("inter-byte-gap", NoAnswerError),
    ("junk", None),
    ("parity", None),
    ("trailing", None),
    ("drop", ConnectionLostError),
    ("lost-byte", ChecksumError),
]


@pytest.mark.parametrize(("fault", "error"), FAULT_OUTCOMES)
async def test_every_fault_over_tcp(fault: str, error: type[BaseException] | None) -> None:
    profile = get_profile("mt174")
    options = ReadoutOptions(address=profile.address, response_timeout_s=2.5)
    async with await serve_tcp(profile, faults=Faults.from_names([fault])) as sim:
        if error is None:
            result = await read_meter(sim.url, options)
            assert got(result.readout.datasets) == expected_datasets("mt174")
        else:
            with pytest.raises(error) as info:
                await read_meter(sim.url, options)
            assert isinstance(info.value, ObisgateError)


async def test_slow_reaction_beyond_the_timeout_is_no_answer() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile, faults=Faults(slow_reaction=True)) as sim:
        with pytest.raises(NoAnswerError, match="no answer"):
            await read_meter(
                sim.url, ReadoutOptions(address=profile.address, response_timeout_s=1.0)
            )


async def test_bad_bcc_names_the_checksum_after_repeat_requests() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile, faults=Faults(bad_bcc=True)) as sim:
        with pytest.raises(ChecksumError, match="after 3 attempts") as info:
            await read_meter(sim.url, ReadoutOptions(address=profile.address, repeat_requests=2))
    assert info.value.expected != info.value.received


@pytest.mark.pty
@pytest.mark.parametrize("fault", ["echo", "parity", "junk", "bad-bcc-once"])
async def test_faults_cured_over_pty(fault: str) -> None:
    profile = get_profile("e350")
    async with await serve_pty([profile], faults=Faults.from_names([fault])) as sim:
        result = await read_meter(sim.path, ReadoutOptions(address=profile.address))
    assert got(result.readout.datasets) == expected_datasets("e350")
