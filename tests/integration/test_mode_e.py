"""Mode E and direct HDLC: the reader against the simulator over TCP, a pty and RFC 2217.

Each readout is checked against the profile's D0 data sets: a register's scaled
value times its unit is the D0 value (DLMS sends Wh where D0 shows kWh).
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from obisgate.dlms.client import DlmsOptions
from obisgate.dlms.cosem import parse_obis
from obisgate.dlms.reading import ObjectSpec, parse_object_specs
from obisgate.dlms_session import DlmsReadResult, read_dlms
from obisgate.errors import (
    AccessDeniedError,
    ConfigError,
    NoAnswerError,
    ProtocolError,
    UnexpectedMessageError,
)
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.identification import ProtocolMode
from obisgate.simulator import (
    Faults,
    MeterProfile,
    get_profile,
    serve_pty,
    serve_rfc2217,
    serve_tcp,
)
from obisgate.simulator.cosem_model import register_parts

pytestmark = pytest.mark.integration

#: The units a D0 unit becomes (kWh -> Wh, kvar -> var ...).
_POWERS = {"Wh", "W", "varh", "var", "VA", "V", "A", "Hz"}


def check_against_d0(result: DlmsReadResult, profile: MeterProfile) -> int:
    """Every D0 data set of ``profile`` has its object with the same quantity; returns the count."""
    got = {ds.address: ds for ds in result.readout.datasets}
    checked = 0
    for ds in profile.datasets:
        try:
            obis = parse_obis(ds.address)
        except ConfigError:
            continue
        mine = got.get(str(obis))
        assert mine is not None, f"{ds.address} missing"
        parts = register_parts(ds.value)
        if parts is None:
            assert mine.value.value == ds.value.raw.strip()
        else:
            digits, scaler, _ = parts
            assert Decimal(mine.value.value) == Decimal(digits).scaleb(scaler), ds.address
            assert mine.value.unit in _POWERS
        checked += 1
    return checked


def opening(profile: MeterProfile, **options: object) -> ReadoutOptions:
    return ReadoutOptions(address=profile.address, mode=ProtocolMode.E, **options)  # type: ignore[arg-type]


async def test_mode_e_over_tcp_reads_every_object() -> None:
    profile = get_profile("zmd")
    trace = io.StringIO()
    async with await serve_tcp(profile) as sim:
        result = await read_dlms(sim.url, DlmsOptions(), opening=opening(profile), trace=trace)
    assert (result.mode, result.baud) == (ProtocolMode.E, 9600)
    assert result.identification.identification == "ZMD4054459.B40"
    assert check_against_d0(result, profile) == len(profile.lines)
    text = trace.getvalue()
    assert "converter's own rate and framing apply" in text
    assert "HDLC > SNRM" in text
    assert "HDLC < I(S=0,R=1) 46 bytes AARE" in text
    assert "HDLC > DISC" in text


@pytest.mark.pty
@pytest.mark.parametrize("confirm", ["7E1", "8N1"])
async def test_mode_e_over_pty_switches_baud_and_framing(confirm: str) -> None:
    base = get_profile("zmd")
    assert base.dlms is not None
    profile = base.replace(dlms=type(base.dlms)(confirm=confirm))
    trace = io.StringIO()
    async with await serve_pty(profile) as sim:
        result = await read_dlms(sim.path, DlmsOptions(), opening=opening(profile), trace=trace)
    assert result.baud == 9600
    assert "switched to 9600 Bd" in trace.getvalue()
    assert "switched to 8N1" in trace.getvalue()
    assert check_against_d0(result, profile) == len(profile.lines)


@pytest.mark.pty
async def test_mode_e_over_pty_fails_when_the_client_does_not_switch() -> None:
    """The pty garbles what the meter sends at 9600 to a client still at 300 Bd."""
    profile = get_profile("zmd")
    async with await serve_pty(profile) as sim:
        with pytest.raises((ProtocolError, NoAnswerError)):
            await read_dlms(
                sim.path,
                DlmsOptions(response_timeout_s=0.5, retries=1),
                opening=opening(profile, switch_baud=False, response_timeout_s=0.5),
            )


@pytest.mark.pty
async def test_direct_hdlc_over_pty() -> None:
    profile = get_profile("am550")
    async with await serve_pty(profile) as sim:
        result = await read_dlms(sim.path, DlmsOptions())
    assert result.mode is ProtocolMode.HDLC
    assert check_against_d0(result, profile) == len(profile.lines)


@pytest.mark.pty
async def test_direct_hdlc_at_the_wrong_rate_gets_no_usable_frame() -> None:
    profile = get_profile("am550")
    async with await serve_pty(profile) as sim:
        with pytest.raises((ProtocolError, NoAnswerError)):
            await read_dlms(
                sim.path, DlmsOptions(response_timeout_s=0.5, retries=1), hdlc_baud=2400
            )


async def test_direct_hdlc_over_rfc2217_and_tcp() -> None:
    profile = get_profile("am550")
    async with await serve_rfc2217(profile) as sim:
        result = await read_dlms(sim.url, DlmsOptions())
    assert check_against_d0(result, profile) == len(profile.lines)
    async with await serve_tcp(profile) as sim:
        result = await read_dlms(sim.url, DlmsOptions())
    assert check_against_d0(result, profile) == len(profile.lines)


async def test_mode_e_over_rfc2217_switches() -> None:
    profile = get_profile("zmd")
    trace = io.StringIO()
    async with await serve_rfc2217(profile) as sim:
        result = await read_dlms(sim.url, DlmsOptions(), opening=opening(profile), trace=trace)
    assert "switched to 9600 Bd" in trace.getvalue()
    assert check_against_d0(result, profile) == len(profile.lines)


async def test_selected_objects_and_a_missing_one() -> None:
    profile = get_profile("zmd")
    specs = parse_object_specs("1-0:1.8.0*255,32.7.0,0-0:1.0.0*255@8,9.9.9@3")
    async with await serve_tcp(profile) as sim:
        result = await read_dlms(sim.url, DlmsOptions(), opening=opening(profile), objects=specs)
    values = {ds.address: ds.value for ds in result.readout.datasets}
    assert list(values) == ["1-0:1.8.0*255", "1-0:32.7.0*255", "0-0:1.0.0*255", "1-0:9.9.9*255"]
    assert (values["1-0:1.8.0*255"].value, values["1-0:1.8.0*255"].unit) == ("48123456", "Wh")
    assert values["1-0:32.7.0*255"].raw == "2301 scaler -1"
    assert values["1-0:32.7.0*255"].value == "230.1"
    assert values["0-0:1.0.0*255"].value == "2024-03-22 10:15:00+01:00"
    assert values["1-0:9.9.9*255"].raw == "data-access-result: object-undefined"


@pytest.mark.parametrize(
    "faults",
    [["echo"], ["lost-ua"], ["busy"], ["segmented"], ["echo", "segmented", "lost-ua"]],
)
async def test_faults_that_the_reader_repairs(faults: list[str]) -> None:
    profile = get_profile("zmd")
    async with await serve_tcp(profile, faults=Faults.from_names(faults)) as sim:
        result = await read_dlms(
            sim.url, DlmsOptions(response_timeout_s=0.5), opening=opening(profile)
        )
    assert check_against_d0(result, profile) == len(profile.lines)
    if "segmented" in faults:
        assert sum("segment" in f.text for f in result.frames) > 20


async def test_meter_that_ignores_mode_e_is_a_clear_error() -> None:
    profile = get_profile("zmd")
    async with await serve_tcp(profile, faults=Faults(ignore_mode_e=True)) as sim:
        with pytest.raises(UnexpectedMessageError, match="ignored the mode E request"):
            await read_dlms(sim.url, DlmsOptions(), opening=opening(profile))


async def test_wrong_lls_password_is_access_denied_and_right_one_reads() -> None:
    profile = get_profile("zmd")
    async with await serve_tcp(profile) as sim:
        with pytest.raises(AccessDeniedError, match="wrong password"):
            await read_dlms(
                sim.url, DlmsOptions(client=1, password=b"12345678"), opening=opening(profile)
            )
        result = await read_dlms(
            sim.url,
            DlmsOptions(client=1, password=b"00000000"),
            opening=opening(profile),
            objects=[ObjectSpec(parse_obis("1.8.0"), 3)],
        )
    assert result.readout.datasets[0].value.value == "48123456"


async def test_wrong_hdlc_address_is_no_answer() -> None:
    profile = get_profile("am550")
    async with await serve_tcp(profile) as sim:
        with pytest.raises(NoAnswerError, match="physical 18"):
            await read_dlms(sim.url, DlmsOptions(physical=18, response_timeout_s=0.3, retries=1))


async def test_auto_mode_reads_mode_c_and_says_once_that_mode_e_exists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from obisgate.session import read_meter  # noqa: PLC0415

    profile = get_profile("zmd")
    async with await serve_tcp(profile) as sim:
        first = await read_meter(sim.url, ReadoutOptions(address=profile.address))
        second = await read_meter(sim.url, ReadoutOptions(address=profile.address))
    assert first.mode is second.mode is ProtocolMode.C
    told = [r for r in caplog.records if "offers mode E" in r.getMessage()]
    assert len(told) == 1


async def test_profile_generic_by_range_matches_the_d0_load_profile() -> None:
    from datetime import datetime  # noqa: PLC0415

    from obisgate.dlms.profile import DEFAULT_PROFILE  # noqa: PLC0415
    from obisgate.dlms_session import read_dlms_profile  # noqa: PLC0415
    from obisgate.programming_session import ProgrammingSession  # noqa: PLC0415
    from obisgate.protocol.passwords import PlainPassword  # noqa: PLC0415
    from obisgate.protocol.programming_client import ProgrammingOptions  # noqa: PLC0415

    profile = get_profile("zmd")
    start, end = datetime(2024, 3, 15, 0, 0), datetime(2024, 3, 15, 2, 0)
    async with await serve_tcp(profile, faults=Faults(segmented=True)) as sim:
        dlms = await read_dlms_profile(
            sim.url, DlmsOptions(), start, end, profile=DEFAULT_PROFILE, opening=opening(profile)
        )
        async with await ProgrammingSession.connect(
            sim.url,
            ProgrammingOptions(sign_on=ReadoutOptions(address=profile.address, option="1")),
            PlainPassword("00000000"),
        ) as session:
            d0 = await session.read_load_profile(start, end)
    assert [r.timestamp for r in dlms.rows] == [r.timestamp for r in d0.rows]
    assert len(dlms.rows) == 9
    assert [c.unit for c in dlms.channels] == ["W", "W"]
    for mine, theirs in zip(dlms.rows, d0.rows, strict=True):
        assert [Decimal(v.value) for v in mine.values] == [
            Decimal(v.value) * 1000 for v in theirs.values
        ]


@pytest.mark.pty
@pytest.mark.parametrize("name", ["zmd", "am550"])
async def test_faults_repaired_over_a_pty(name: str) -> None:
    """Echo of every frame, the first UA lost and 32-byte segments, with the real rate switch."""
    profile = get_profile(name)
    faults = Faults(echo=True, lost_ua=True, segmented=True)
    async with await serve_pty(profile, faults=faults) as sim:
        result = await read_dlms(
            sim.path,
            DlmsOptions(response_timeout_s=0.5),
            opening=opening(profile) if name == "zmd" else None,
        )
    assert check_against_d0(result, profile) == len(profile.lines)
    assert any(f.text == "retransmitted" for f in result.frames)


@pytest.mark.pty
async def test_meter_that_ignores_mode_e_over_a_pty() -> None:
    profile = get_profile("zmd")
    async with await serve_pty(profile, faults=Faults(ignore_mode_e=True)) as sim:
        with pytest.raises(UnexpectedMessageError, match="ignored the mode E request"):
            await read_dlms(sim.path, DlmsOptions(), opening=opening(profile))
