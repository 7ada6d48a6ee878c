"""Plans and profiles for the backfill tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from obisgate import LoadProfile, ProgrammingOptions, ReadoutOptions, make_scheme
from obisgate.gateway.plan import DevicePlan, ProfilePlan, ProgrammingPlan, SignalPlan
from obisgate.protocol.loadprofile import Channel, format_load_profile, parse_load_profile
from obisgate.transport.base import LineSettings

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ENERGY = SignalPlan(alias="energy", tag="1.8.0", number_type="FLOAT", unit="kWh", log=True)
DEMAND = SignalPlan(alias="demand", tag="1.5.0", number_type="FLOAT", log=True)
CHANNELS = (Channel("1.8.0", "kWh"), Channel("1.5", "kW"))


def profile_plan(
    *,
    period_s: int = 900,
    zone: tzinfo | None = UTC,
    max_days: int = 7,
    chunk: int = 96,
    channels: tuple[tuple[str, SignalPlan], ...] = (("1.8.0", ENERGY), ("1.5", DEMAND)),
) -> ProfilePlan:
    return ProfilePlan(
        address="P.01",
        period_s=period_s,
        command="R5",
        zone=zone,
        max_days=max_days,
        chunk=chunk,
        channels=channels,
        programming=ProgrammingPlan(
            options=ProgrammingOptions(sign_on=ReadoutOptions(option="1")),
            scheme=lambda: make_scheme("p1", "00000000"),
        ),
    )


def device_plan(
    alias: str = "m1",
    *,
    line: str = "bus",
    scan: float = 10.0,
    total_timeout_s: float | None = 10.0,
    profile: ProfilePlan | None = None,
) -> DevicePlan:
    return DevicePlan(
        alias=alias,
        url="tcp://127.0.0.1:1",
        port_key=line,
        line=LineSettings(),
        options=ReadoutOptions(),
        scan_rate_s=scan,
        total_timeout_s=total_timeout_s,
        signals=(ENERGY, DEMAND),
        profile=profile_plan() if profile is None else profile,
    )


def load_profile(
    rows: Sequence[tuple[datetime, Sequence[str]]],
    *,
    channels: Sequence[Channel] = CHANNELS,
    interval_min: int = 15,
) -> LoadProfile:
    """What a meter answers for ``rows`` (naive meter times), parsed as the gateway does."""
    text = format_load_profile("P.01", channels, interval_min, [(t, "00", v) for t, v in rows])
    return parse_load_profile(text)


def quarter_rows(start: datetime, count: int) -> list[tuple[datetime, tuple[str, str]]]:
    """``count`` rows every 15 minutes from the naive ``start``: energy 1000.000 + n."""
    return [
        (start + timedelta(minutes=15 * n), (f"{1000 + n:.3f}", f"{n % 4}.500"))
        for n in range(count)
    ]
