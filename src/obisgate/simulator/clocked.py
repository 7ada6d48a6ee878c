"""A meter whose registers and load profile follow a clock that a test sets.

::

    clock = MeterClock(datetime(2026, 12, 1, 10, 0))         # the meter's local time, frozen
    meter = ClockedMeter(clock.now, origin=datetime(2026, 12, 1), period_min=15)
    async with await serve_tcp(meter.profile(get_profile("mt174"), password="00000000")):
        ...
        clock.advance(timedelta(hours=2))                  # two hours pass for the meter

The meter's power steps through a fixed cycle, one value per interval, so every
interval's values differ. Its readout has ``1.8.0`` (the energy register, kWh,
three decimals), ``1.7.0`` (the power now, kW) and its clock (``0.9.1``,
``0.9.2``); its load profile (``P.01``, read in programming mode) has one row per
interval from ``origin`` up to the clock, stamped at the interval's end, with the
channels ``1.8.0`` (the register then) and ``1.5`` (the interval's average power).
:meth:`ClockedMeter.energy_text` and :meth:`ClockedMeter.power_text` say what the
meter has stored for a stamp, for tests to compare with.

Pure: the clock is a function the caller gives; nothing here reads the system's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from obisgate.errors import ConfigError
from obisgate.protocol.loadprofile import Channel
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_meter import ProfileRecord, ProgrammingProfile

__all__ = ["PROFILE_CHANNELS", "ClockedMeter", "MeterClock"]

#: The power of consecutive intervals, in W (repeating).
_CYCLE_W = (500, 1200, 800, 2000, 1100, 300, 1700, 900, 1400, 600)
_MILLI = Decimal("0.001")
#: The channels of the clocked meter's load profile.
PROFILE_CHANNELS = (Channel("1.8.0", "kWh"), Channel("1.5", "kW"))


class MeterClock:
    """A meter's clock (naive local time) that the test moves.

    Args:
        start: the meter's time now.
        ticks: a seconds counter (``time.monotonic``): the clock runs with it from
            ``start``; ``None``: it stands still between the test's moves.
    """

    def __init__(self, start: datetime, *, ticks: Callable[[], float] | None = None) -> None:
        self._start = start
        self._ticks = ticks
        self._origin = 0.0 if ticks is None else ticks()

    def now(self) -> datetime:
        """The meter's time."""
        if self._ticks is None:
            return self._start
        return self._start + timedelta(seconds=self._ticks() - self._origin)

    def set(self, moment: datetime) -> None:
        """Set the meter's time (it may go back, as a meter's clock may be set)."""
        self._start += moment - self.now()

    def advance(self, delta: timedelta) -> None:
        """Let ``delta`` pass for the meter at once (hours of an outage in a moment)."""
        self._start += delta


@dataclass(frozen=True)
class ClockedMeter:
    """Energy, power and load profile of a meter at the time ``clock`` gives.

    Args:
        clock: the meter's local time now (naive).
        origin: where its load profile starts (an interval boundary).
        period_min: the profile's interval in minutes.
        start_kwh: the energy register at ``origin``.

    Raises:
        ConfigError: a period that is not 1-1440 minutes.
    """

    clock: Callable[[], datetime]
    origin: datetime
    period_min: int = 15
    start_kwh: Decimal = Decimal("1000")

    def __post_init__(self) -> None:
        if not 1 <= self.period_min <= 1440:
            raise ConfigError(f"period {self.period_min} min: 1-1440")

    @property
    def period(self) -> timedelta:
        """The interval length."""
        return timedelta(minutes=self.period_min)

    def _intervals(self, moment: datetime) -> tuple[int, timedelta]:
        """Whole intervals from ``origin`` to ``moment``, and the time into the next."""
        if moment < self.origin:
            return 0, timedelta(0)
        count = (moment - self.origin) // self.period
        return count, moment - self.origin - count * self.period

    def _energy_wh(self, intervals: int) -> Decimal:
        cycles, rest = divmod(intervals, len(_CYCLE_W))
        watts = cycles * sum(_CYCLE_W) + sum(_CYCLE_W[:rest])
        return Decimal(watts) * self.period_min / 60

    def energy_kwh(self, moment: datetime) -> Decimal:
        """The energy register at ``moment`` (kWh, three decimals)."""
        count, into = self._intervals(moment)
        wh = (
            self._energy_wh(count)
            + Decimal(self.power_w(count)) * Decimal(into.total_seconds()) / 3600
        )
        return (self.start_kwh + wh / 1000).quantize(_MILLI)

    @staticmethod
    def power_w(interval: int) -> int:
        """The average power of interval ``interval`` (counted from 0 at ``origin``), in W."""
        return _CYCLE_W[interval % len(_CYCLE_W)]

    def energy_text(self, stamp: datetime) -> str:
        """The profile's ``1.8.0`` value for the interval ending at ``stamp``."""
        return f"{self.energy_kwh(stamp):.3f}"

    def power_text(self, stamp: datetime) -> str:
        """The profile's ``1.5`` value (kW) for the interval ending at ``stamp``."""
        count, _ = self._intervals(stamp)
        return f"{Decimal(self.power_w(count - 1)) / 1000:.3f}"

    def stamps(self, after: datetime, upto: datetime) -> list[datetime]:
        """The profile's stamps ``after < stamp <= upto`` (what the meter has recorded then)."""
        first, _ = self._intervals(after)
        found = []
        stamp = self.origin + (first + 1) * self.period
        while stamp <= upto:
            if stamp > after:
                found.append(stamp)
            stamp += self.period
        return found

    def readout_lines(self) -> tuple[str, ...]:
        """The data lines of a readout now."""
        now = self.clock()
        count, _ = self._intervals(now)
        power = Decimal(self.power_w(count)) / 1000
        return (
            "0.0.0(71234567)",
            f"1.8.0({self.energy_kwh(now):010.3f}*kWh)",
            f"1.7.0({power:06.3f}*kW)",
            f"0.9.1({now:%H%M%S})",
            f"0.9.2({now:%y%m%d})",
        )

    def records(self) -> list[ProfileRecord]:
        """The load profile the meter has stored now: one row per closed interval."""
        return [
            ProfileRecord(stamp, (self.energy_text(stamp), self.power_text(stamp)))
            for stamp in self.stamps(self.origin, self.clock())
        ]

    def profile(
        self,
        base: MeterProfile,
        *,
        password: str = "00000000",  # noqa: S107 - the common factory default
        **programming: object,
    ) -> MeterProfile:
        """``base`` (identification, address, timing) with this meter's readout and load
        profile; programming mode with ``password`` (p1) and ``programming``'s settings
        (e.g. ``read_commands``, ``load_profile_address`` for a meter that refuses)."""
        settings: dict[str, object] = {
            "password": password,
            "registers": {"0.0.0": "71234567"},
            "load_profile_channels": PROFILE_CHANNELS,
            "load_profile_interval_min": self.period_min,
            "load_profile_source": self.records,
            **programming,
        }
        return base.replace(
            lines=self.readout_lines(),
            lines_source=self.readout_lines,
            programming=ProgrammingProfile(**settings),  # type: ignore[arg-type]
        )
