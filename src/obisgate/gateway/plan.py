"""What the poller needs to know about each device and signal, independent of file format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from obisgate import (
    DlmsOptions,
    LineSettings,
    ObjectSpec,
    PasswordScheme,
    ProgrammingOptions,
    ReadoutOptions,
    RecipeRules,
)

__all__ = ["DevicePlan", "DlmsPlan", "ListRequest", "ProfilePlan", "ProgrammingPlan", "SignalPlan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgrammingPlan:
    """How to read a device's signals by command (programming mode).

    Attributes:
        options: sign-on and command options.
        scheme: builds the password scheme when a poll needs it, so the
            password is read (from the environment or a file) only then.
    """

    options: ProgrammingOptions
    scheme: Callable[[], PasswordScheme]


@dataclass(frozen=True, slots=True, kw_only=True)
class DlmsPlan:
    """How to read a mode E or direct HDLC (DLMS/COSEM) device.

    Attributes:
        options: addresses, sizes and timeouts (the password is not in them).
        objects: every object the signals read, each once.
        mode_e: run the IEC 62056-21 opening (``ACK 2 Z 2``) first.
        password: reads the LLS password when a poll needs it (``None``: public client).
    """

    options: DlmsOptions
    objects: tuple[ObjectSpec, ...]
    mode_e: bool
    password: Callable[[], bytes | None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalPlan:
    """One signal: which value of which data set, converted how.

    Attributes:
        alias: the signal alias (unique per device).
        tag: the data set address exactly as the meter sends it.
        value_index: which value group of the data set (0 = the first).
        subvalue: which ``&`` sub-value of that group, or ``None`` for the whole.
        number_type: the type name understood by :func:`obisgate.gateway.numbers.convert`.
        multiply, add: scaling of numeric values (``value * multiply + add``).
        unit: unit override (``None``: the unit the meter sent).
        log: keep this signal's history.
        decimal_comma: the meter writes ``,`` as decimal separator.
        by_command: read in programming mode (a register read command) instead
            of taken from the standard readout.
        scan_rate_s: this signal's own scan period (``None``: the device's).
    """

    alias: str
    tag: str
    name: str = ""
    value_index: int = 0
    subvalue: int | None = None
    number_type: str = "FLOAT"
    multiply: float = 1.0
    add: float = 0.0
    unit: str | None = None
    log: bool = False
    decimal_comma: bool = False
    by_command: bool = False
    scan_rate_s: float | None = None


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A list the meter sends for its own request start (``/2!``, ``/3!`` ...).

    Attributes:
        start: the request start (``/2``): the request is ``START ADDRESS ! CR LF``.
        tags: the addresses of the data sets in that list, exactly as the meter prints them.
    """

    start: str
    tags: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfilePlan:
    """How to fill a device's history from its load profile after a gap (backfill).

    Attributes:
        address: the profile, ``P.01``.
        period_s: its interval in seconds (divides a day).
        command: the read command of the profile requests (``R5``).
        zone: the time zone of the meter's clock (``None``: this machine's).
        max_days: how far back a gap is filled at most.
        chunk: most intervals read in one programming session.
        channels: ``(channel, signal)``: the profile channel (as its header names
            it) that fills each signal.
        programming: how to sign on (options, password scheme).
    """

    address: str
    period_s: int
    command: str
    zone: tzinfo | None
    max_days: int
    chunk: int
    channels: tuple[tuple[str, SignalPlan], ...]
    programming: ProgrammingPlan


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePlan:
    """One device to poll.

    Attributes:
        alias: the device alias.
        url: serial device path, ``tcp://`` or ``rfc2217://`` URL.
        port_key: devices with the same key share one line (an RS-485 bus or
            one converter port) and take turns; different keys run concurrently.
        line: serial line settings.
        options: readout options (address, mode, timeouts, ...).
        scan_rate_s: time between the starts of two readouts.
        poll_delay_s: wait after opening the port, before sending anything.
        close_delay_s: wait after the exchange, before the port is released.
        retries: extra readout attempts after a failed one, within one scan.
        total_timeout_s: limit for one whole readout (``None``: per-message only).
        keep_open: keep the (raw TCP) connection open after a successful poll, for
            the next poll of this line (see :mod:`obisgate.gateway.connections`).
        signals: the signals of this device.
        programming: how to read the signals with ``by_command`` (``None`` when
            the device has none).
        recipes: what the reader applies after the meter's identification
            (``None``: no recipes).
        dlms: how to read a mode E / direct HDLC device (``None``: a D0 meter).
        group: the throttle group (``None``: none).
        group_sessions: that group's ``max_sessions`` (``None``: no limit).
        phase_s: the device's offset within its scan period against the wall clock
            (:func:`obisgate.gateway.schedule.phase_of`); ``None`` (``scan_align``):
            first polls spread over the scan in configuration order.
        lists: the lists the meter offers besides its readout.
        registers: how to read registers in programming mode when the read plan
            chooses that (``None``: register reads are not allowed).
        profile: how to fill gaps from the meter's load profile (``None``: no backfill).
    """

    alias: str
    url: str
    port_key: str
    line: LineSettings
    options: ReadoutOptions
    scan_rate_s: float = 10.0
    poll_delay_s: float = 0.2
    close_delay_s: float = 0.4
    retries: int = 1
    total_timeout_s: float | None = None
    connect_timeout_s: float = 5.0
    keep_open: bool = False
    signals: tuple[SignalPlan, ...] = ()
    programming: ProgrammingPlan | None = None
    recipes: RecipeRules | None = None
    dlms: DlmsPlan | None = None
    group: str | None = None
    group_sessions: int | None = None
    phase_s: float | None = None
    lists: tuple[ListRequest, ...] = ()
    registers: ProgrammingPlan | None = None
    profile: ProfilePlan | None = None

    @property
    def needs_readout(self) -> bool:
        """Whether a standard readout is needed (any signal not read by command)."""
        return self.programming is None or any(not s.by_command for s in self.signals)

    @property
    def command_tags(self) -> tuple[str, ...]:
        """Addresses read by command, each once, in signal order."""
        return tuple(dict.fromkeys(s.tag for s in self.signals if s.by_command))

    @property
    def rate_periods(self) -> tuple[float, ...]:
        """The scan periods of this device's signals, each once, in signal order (the
        device's own for a signal without one; the device's alone without signals)."""
        own = self.scan_rate_s
        periods = dict.fromkeys(
            own if s.scan_rate_s is None else s.scan_rate_s for s in self.signals
        )
        return tuple(periods) or (own,)

    @property
    def planned(self) -> bool:
        """Whether a poll may read less than everything, or other than the readout:
        signals with their own scan rates, lists or register reads."""
        return bool(self.lists) or self.registers is not None or len(self.rate_periods) > 1
