"""Sans-IO line: every meter on one connection, pty or RS-485 bus.

The line recognises requests itself (at 300 Bd, NULs ignored, bit 7 masked)
and starts a session on each meter whose address matches; meters without a
conversation cost nothing but their profile. Bytes received while meters are
in a session go to those meters too, each decoded at the rate its receiver
runs at, so a client that sends at the wrong rate is not understood.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from obisgate.errors import ConfigError
from obisgate.protocol.chars import INITIAL_BAUD, INTER_CHAR_MAX_S, MASK_7BIT, add_even_parity
from obisgate.protocol.identification import ProtocolMode
from obisgate.simulator.faults import AWAKE_S, WAKEUP_MIN_NULS, Faults
from obisgate.simulator.meter import Output, SimulatedMeter, Transmit
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_hook import SessionFactory
from obisgate.simulator.shown import Shown
from obisgate.simulator.stats import SimulatorStats
from obisgate.simulator.uart import retime

__all__ = ["MeterBus", "MeterCatalog"]

_LOGGER = logging.getLogger("obisgate.simulator")
_REQUEST = re.compile(rb"(/[^/!\r\n])([0-9A-Za-z ]{0,32})!\r?\n")
_MAX_PENDING = 128


class MeterCatalog:
    """The meters of a simulator with an index by address. Immutable; shared by all lines.

    Args:
        profiles: the meters, in order (their index is their identity).

    Raises:
        ConfigError: no profiles.
    """

    def __init__(self, profiles: Iterable[MeterProfile]) -> None:
        self.profiles: tuple[MeterProfile, ...] = tuple(profiles)
        if not self.profiles:
            raise ConfigError("a simulator needs at least one meter profile")
        by_address: dict[str, list[int]] = {}
        answering: list[int] = []
        pushing: list[int] = []
        hdlc: list[int] = []
        for i, profile in enumerate(self.profiles):
            if profile.protocol_mode is ProtocolMode.D:
                pushing.append(i)
                continue
            if profile.protocol_mode is ProtocolMode.HDLC:
                hdlc.append(i)
                continue
            answering.append(i)
            if profile.address:
                by_address.setdefault(profile.address.lstrip("0"), []).append(i)
        self._by_address = by_address
        self._answering = tuple(answering)
        self.push_indexes: tuple[int, ...] = tuple(pushing)
        #: direct HDLC meters: listening for frames from the moment the line opens
        self.hdlc_indexes: tuple[int, ...] = tuple(hdlc)
        self.always_on: frozenset[int] = frozenset(pushing) | frozenset(hdlc)
        #: Some meter sits behind a link carrying 8 bits and checks the parity bit.
        self.strict_parity = any("strict-parity" in p.faults for p in self.profiles)

    @classmethod
    def of(cls, meters: MeterCatalog | MeterProfile | Iterable[MeterProfile]) -> MeterCatalog:
        """A catalog from a catalog (returned as is), one profile or several.

        Raises:
            ConfigError: no profiles.
        """
        if isinstance(meters, MeterCatalog):
            return meters
        if isinstance(meters, MeterProfile):
            return cls([meters])
        return cls(meters)

    def __len__(self) -> int:
        return len(self.profiles)

    def match(self, start: str, address: str) -> list[int]:
        """Indexes of the meters that answer a request ``start + address + "!"``.

        Applies the address rules of :func:`~obisgate.simulator.profile.address_matches`;
        push (mode D) meters never answer.
        """
        if address:
            candidates: Sequence[int] = self._by_address.get(address.lstrip("0"), ())
        else:
            candidates = self._answering
        profiles = self.profiles
        return [i for i in candidates if start in profiles[i].request_starts]


class MeterBus:
    """All meters on one line, sans-IO. Every method takes the time ``now``.

    Args:
        meters: a catalog, or the profiles to build one from.
        faults: faults every meter injects (``echo`` acts on the line).
        realtime: meters count the wire time of what they send.
        stats: counters to update (shared by a server's lines).
        programming_factory: see :class:`SimulatedMeter`.

    Raises:
        ConfigError: no meters.
    """

    def __init__(
        self,
        meters: MeterCatalog | Iterable[MeterProfile],
        faults: Faults | None = None,
        *,
        realtime: bool = False,
        stats: SimulatorStats | None = None,
        programming_factory: SessionFactory | None = None,
    ) -> None:
        self.catalog = MeterCatalog.of(meters)
        self.faults = faults or Faults()
        self.realtime = realtime
        self.stats = stats if stats is not None else SimulatorStats()
        self._programming_factory = programming_factory
        self._active: dict[int, SimulatedMeter] = {}
        self._buf = bytearray()
        self._last_rx = float("-inf")
        self._faults: dict[int, Faults] = {}
        self._strict = self.faults.strict_parity or self.catalog.strict_parity
        self._nuls = 0
        self._last_nul = float("-inf")
        self._awake_until = float("-inf")

    @property
    def deadline(self) -> float | None:
        """The earliest time :meth:`on_timer` must be called, or ``None``."""
        deadlines = [m.deadline for m in self._active.values() if m.deadline is not None]
        return min(deadlines) if deadlines else None

    def listen_bauds(self, now: float) -> frozenset[int]:
        """The rates the meters' receivers run at: those in a conversation, else 300 Bd."""
        rates = frozenset(m.listen_baud(now) for m in self._active.values() if not m.is_idle(now))
        return rates or frozenset((INITIAL_BAUD,))

    def active_meters(self) -> list[SimulatedMeter]:
        """The meters with a conversation (or mode D pushing) going on."""
        return list(self._active.values())

    def open(self, now: float) -> list[Output]:
        """The line opened (a connection was accepted): mode D meters start pushing."""
        self.stats.connections += 1
        out: list[Output] = []
        for i in self.catalog.push_indexes:
            meter = self._new_meter(i)
            self._active[i] = meter
            out += meter.start_push(now)
        for i in self.catalog.hdlc_indexes:
            meter = self._new_meter(i)
            self._active[i] = meter
            out += meter.start_hdlc(now)
        return out

    def receive(
        self, data: bytes, now: float, line_baud: int | Sequence[int] | None = None
    ) -> list[Output]:
        """Bytes arrived from the client; the last of them at ``now``.

        Args:
            data: the bytes as the client sent them.
            now: the current time.
            line_baud: the rate the client sent at (``None``: unknown, e.g.
                raw TCP; every receiver then decodes the bytes intact). A
                sequence gives the rates the client may have sent at (the
                rate changed around the time of sending): a receiver running
                at any of them decodes the bytes intact, others garble them
                as sent at the first.
        """
        out: list[Output] = []
        if not data:
            return out
        if self.faults.echo:
            out.append(Transmit(now, data, None, "echo"))
        self._count_nuls(data, now)
        # Bytes after a request's LF belong to the session that request starts:
        # hand the chunk over line by line.
        masked = data.translate(MASK_7BIT)
        start = 0
        while start < len(data):
            lf = masked.find(b"\n", start)
            end = len(data) if lf < 0 else lf + 1
            out += self._receive_piece(data[start:end], now, line_baud)
            start = end
        return out

    def _receive_piece(
        self, data: bytes, now: float, line_baud: int | Sequence[int] | None
    ) -> list[Output]:
        out: list[Output] = []
        active = self._active
        for i, meter in list(active.items()):
            if meter.is_idle(now):
                del active[i]
                continue
            heard = self._uart(_decode(data, line_baud, meter.listen_baud(now)))
            out += meter.receive(heard, now)
            if meter.is_idle(now):
                del active[i]
        out += self._take_requests(self._uart(_decode(data, line_baud, INITIAL_BAUD)), now)
        return out

    def on_timer(self, now: float, line_baud: int | None = None) -> list[Output]:
        """Call when :attr:`deadline` has passed (``line_baud``: the client's rate, if known)."""
        out: list[Output] = []
        for meter in list(self._active.values()):
            deadline = meter.deadline
            if deadline is not None and deadline <= now:
                out += meter.on_timer(now, line_baud)
        return out

    def reset(self) -> None:
        """The line closed: every meter forgets its conversation."""
        for meter in self._active.values():
            meter.abort()
        self._active.clear()
        self._buf.clear()

    # -- internals ------------------------------------------------------------

    def _faults_of(self, index: int) -> Faults:
        faults = self._faults.get(index)
        if faults is None:
            faults = self._faults[index] = self.faults.plus(self.catalog.profiles[index].faults)
        return faults

    def _uart(self, data: bytes) -> bytes:
        """What a 7E1 receiver makes of bytes that carry the parity bit in bit 7: a byte
        with a parity error is replaced by DEL (``strict-parity``; else unchanged)."""
        if not self._strict:
            return data
        fixed = add_even_parity(data)
        return bytes(b if b == f else 0x7F for b, f in zip(data, fixed, strict=True))

    def _count_nuls(self, data: bytes, now: float) -> None:
        """A burst of NULs wakes sleeping meters (``needs-wakeup``) for a while."""
        nuls = data.count(0)
        if not nuls:
            return
        if now - self._last_nul > INTER_CHAR_MAX_S:
            self._nuls = 0
        self._nuls += nuls
        self._last_nul = now
        if self._nuls >= WAKEUP_MIN_NULS:
            self._awake_until = now + AWAKE_S

    def _answers(self, index: int, address: str, now: float) -> bool:
        """Whether a meter whose address matched answers (asleep? general address?)."""
        faults = self._faults_of(index)
        if faults.address_only and not address:
            _LOGGER.info("request without address: meter %d answers only its own", index)
            return False
        if faults.needs_wakeup and now > self._awake_until:
            _LOGGER.info("request: meter %d is asleep (no NUL wake-up)", index)
            return False
        return True

    def _new_meter(self, index: int) -> SimulatedMeter:
        profile = self.catalog.profiles[index]
        return SimulatedMeter(
            profile,
            self._faults_of(index),
            realtime=self.realtime,
            stats=self.stats,
            programming_factory=self._programming_factory,
        )

    def _take_requests(self, data: bytes, now: float) -> list[Output]:
        data = data.translate(MASK_7BIT, b"\x00")
        out: list[Output] = []
        if not data:
            return out
        buf = self._buf
        if now - self._last_rx > INTER_CHAR_MAX_S:
            buf.clear()  # ta passed: a partial message is abandoned
        self._last_rx = now
        buf += data
        while True:
            lf = buf.find(b"\n")
            if lf < 0:
                if len(buf) > _MAX_PENDING:
                    slash = buf.rfind(b"/")
                    del buf[: slash if slash >= 0 and len(buf) - slash <= 40 else len(buf)]
                return out
            line = bytes(buf[: lf + 1])
            del buf[: lf + 1]
            slash = line.rfind(b"/")
            match = _REQUEST.fullmatch(line, slash) if slash >= 0 else None
            if match is not None:
                out += self._on_request(
                    match.group(1).decode(), match.group(2).decode(), line[slash:], now
                )

    def _on_request(self, start: str, address: str, line: bytes, now: float) -> list[Output]:
        matches = [i for i in self.catalog.match(start, address) if self._answers(i, address, now)]
        active = self._active
        chosen = set(matches)
        for i, meter in list(active.items()):
            if i not in chosen and not meter.in_programming and i not in self.catalog.always_on:
                meter.abort()
                del active[i]
        if not matches:
            _LOGGER.info("request %s: no meter with that address here (silent)", Shown(line))
            return []
        out: list[Output] = []
        for i in matches:
            session = active.get(i)
            if session is None:
                session = active[i] = self._new_meter(i)
            out += session.request(now, line)
            if session.is_idle(now):
                del active[i]
        return out


def _decode(data: bytes, line_baud: int | Sequence[int] | None, rx_baud: int) -> bytes:
    if line_baud is None:
        return data
    if isinstance(line_baud, int):
        line_baud = (line_baud,)
    if not line_baud or rx_baud in line_baud:
        return data
    return retime(data, line_baud[0], rx_baud)
