"""The simulator on a pseudo-terminal: clients open the slave device like a serial port.

Behaviour:

* The slave starts raw at 300 Bd. A client may set 7E1 or 8N1; a pty passes
  bytes either way and the meters mask bit 7. What the client sends is taken
  as the line would carry it: with 7 data bits and even parity set on the
  slave, its UART would add the parity bit, so bit 7 is set to it (a meter
  that checks parity, ``strict-parity``, then hears it right); with 8 data
  bits the bytes are the frames. (Many kernels refuse 7E1 on a pty; a client
  then sends 8N1 with the parity bit computed itself, the same frames.)
* The client's rate is read from the master's termios on every read and
  write (on Linux a rate set on the slave shows on the master). When it
  differs from the rate a meter sends or listens at, the bytes are garbled as
  by a real UART at the wrong rate (:mod:`obisgate.simulator.uart`).
* While no client has the slave open, reading the master fails with EIO; the
  server then stops reading, checks every ``poll_interval_s`` whether a client
  has opened the slave, and resets every meter when one closes it. Nothing is
  written while no client is there, so a new client never reads stale bytes.
* Output is buffered and written as the pty accepts it (``add_writer``).
* The ``drop`` fault cannot close a pty: the line goes silent instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import termios
import tty
from collections.abc import Iterable
from types import TracebackType

from obisgate.protocol.chars import add_even_parity
from obisgate.simulator.bus import MeterBus, MeterCatalog
from obisgate.simulator.faults import Faults
from obisgate.simulator.line import LineDriver
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_hook import SessionFactory
from obisgate.simulator.stats import SimulatorStats

__all__ = ["PtySimulator", "serve_pty", "termios_baud"]

_LOGGER = logging.getLogger("obisgate.simulator")
_READ_SIZE = 65536
_SPEEDS: dict[int, int] = {
    getattr(termios, f"B{rate}"): rate
    for rate in (
        50,
        75,
        110,
        134,
        150,
        200,
        300,
        600,
        1200,
        1800,
        2400,
        4800,
        9600,
        19200,
        38400,
        57600,
        115200,
        230400,
    )
    if hasattr(termios, f"B{rate}")
}


def termios_baud(speed: int) -> int | None:
    """The rate in Bd of a termios speed constant (``termios.B9600`` -> 9600), or ``None``."""
    return _SPEEDS.get(speed)


class PtySimulator:
    """The meters of a simulator behind one pseudo-terminal (a shared line / bus).

    Attributes:
        path: the slave device clients open, e.g. ``/dev/pts/7``.
        stats: counters over all sessions.
        connected: whether a client has the slave open (as far as the server saw).
    """

    def __init__(
        self,
        catalog: MeterCatalog,
        faults: Faults,
        *,
        realtime: bool,
        stats: SimulatorStats,
        programming_factory: SessionFactory | None,
        poll_interval_s: float,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.stats = stats
        self._poll_interval_s = poll_interval_s
        self._bus = MeterBus(
            catalog,
            faults,
            realtime=realtime,
            stats=stats,
            programming_factory=programming_factory,
        )
        master, slave = os.openpty()
        try:
            self.path = os.ttyname(slave)
            tty.setraw(slave)
            attrs = termios.tcgetattr(slave)
            attrs[4] = attrs[5] = termios.B300
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            os.set_blocking(master, False)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        os.close(slave)  # clients open it by path; EIO on the master means nobody has
        self._master: int | None = master
        self._out = bytearray()
        self._writing = False
        self._reading = False
        self.connected = False
        self._poll_handle: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._last_baud: int | None = None
        self._driver = LineDriver(
            self._bus,
            write=self._write,
            hangup=self._hangup,
            line_baud=self.client_baud,
            sender_bauds=self._sender_bauds,
            realtime=realtime,
        )
        self._poll()

    @property
    def url(self) -> str:
        """The slave path (what a client passes as its port)."""
        return self.path

    def client_baud(self) -> int | None:
        """The rate the client set on the slave, or ``None`` when unknown."""
        if self._master is None:
            return None
        try:
            attrs = termios.tcgetattr(self._master)
        except termios.error:
            return None
        return termios_baud(attrs[5]) or termios_baud(attrs[4])

    def _on_the_wire(self, data: bytes) -> bytes:
        """The client's bytes as its UART would send them (7E1: the parity bit in bit 7)."""
        if self._master is None:
            return data
        try:
            cflag = termios.tcgetattr(self._master)[2]
        except termios.error:
            return data
        seven_even = cflag & termios.PARENB and not cflag & termios.PARODD
        if seven_even and cflag & termios.CSIZE == termios.CS7:
            return add_even_parity(data)
        return data

    def _sender_bauds(self) -> tuple[int, ...] | None:
        """Rates the bytes just read may have been sent at: now, and at the last look.

        A pty drains at once, so a client may switch rate right after writing,
        before the bytes are read here: the rate seen at the previous read
        also counts (the meter gives the client the benefit of the doubt).
        """
        current = self.client_baud()
        previous, self._last_baud = self._last_baud, current
        rates = tuple(r for r in (current, previous) if r is not None)
        return rates or None

    async def wait_for_client(self, connected: bool = True) -> None:
        """Return once a client has the slave open (or, with ``False``, has closed it).

        Cancel it (e.g. with ``asyncio.timeout``) to stop waiting. Detection of
        an open takes up to ``poll_interval_s``.
        """
        while self.connected is not connected:
            await self._changed.wait()

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        self._changed.set()
        self._changed = asyncio.Event()

    # -- client presence ------------------------------------------------------

    def _poll(self) -> None:
        """Check whether a client opened the slave (EAGAIN) or not (EIO)."""
        self._poll_handle = None
        master = self._master
        if master is None:
            return
        try:
            data = os.read(master, _READ_SIZE)
        except BlockingIOError:
            data = b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                _LOGGER.warning("pty %s: read failed: %s", self.path, exc)
            self._poll_handle = self._loop.call_later(self._poll_interval_s, self._poll)
            return
        self._on_open()
        if data:
            self._driver.data_received(self._on_the_wire(data))

    def _on_open(self) -> None:
        if self.connected or self._master is None:
            return
        self._set_connected(True)
        self._last_baud = self.client_baud()
        _LOGGER.info("pty %s: client opened the port (%s Bd)", self.path, self.client_baud())
        self._loop.add_reader(self._master, self._on_readable)
        self._reading = True
        self._driver.start()

    def _on_closed(self) -> None:
        if not self.connected:
            return
        self._set_connected(False)
        _LOGGER.info("pty %s: client closed the port", self.path)
        self._stop_io()
        self._driver.stop()
        if self._master is not None:
            self._poll_handle = self._loop.call_later(self._poll_interval_s, self._poll)

    def _stop_io(self) -> None:
        if self._master is not None:
            if self._reading:
                self._loop.remove_reader(self._master)
            if self._writing:
                self._loop.remove_writer(self._master)
        self._reading = self._writing = False
        self._out.clear()

    # -- I/O ------------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self._on_closed()
            return
        if not data:
            self._on_closed()
            return
        self._driver.data_received(self._on_the_wire(data))

    def _write(self, data: bytes) -> None:
        if not self.connected or self._master is None:
            return  # nobody listening: the bytes are lost, as on a real line
        self._out += data
        self._flush()

    def _flush(self) -> None:
        master = self._master
        if master is None:
            return
        while self._out:
            try:
                n = os.write(master, self._out)
            except BlockingIOError:
                break
            except OSError:
                self._on_closed()
                return
            del self._out[:n]
        if self._out and not self._writing:
            self._loop.add_writer(master, self._flush)
            self._writing = True
        elif not self._out and self._writing:
            self._loop.remove_writer(master)
            self._writing = False

    def _hangup(self) -> None:
        """``drop`` fault: a pty cannot be cut, so the line falls silent."""
        self._out.clear()
        _LOGGER.info("pty %s: line dropped mid-message", self.path)

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Stop serving and close the master (idempotent); clients then read EOF/EIO."""
        if self._master is None:
            return
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        self._stop_io()
        self._driver.stop()
        self._set_connected(False)
        master, self._master = self._master, None
        with contextlib.suppress(OSError):
            os.close(master)

    async def aclose(self) -> None:
        """Same as :meth:`close` (for symmetry with the network servers)."""
        self.close()

    async def __aenter__(self) -> PtySimulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def serve_pty(
    profiles: MeterProfile | Iterable[MeterProfile],
    *,
    faults: Faults | None = None,
    realtime: bool = False,
    stats: SimulatorStats | None = None,
    programming_factory: SessionFactory | None = None,
    poll_interval_s: float = 0.02,
) -> PtySimulator:
    """Serve the meters on a new pseudo-terminal; clients open :attr:`PtySimulator.path`.

    Args:
        profiles: one meter or several sharing the line (a bus: the request's
            address selects the meter).
        faults: faults every meter injects.
        realtime: pace bytes at their wire time.
        stats: counters to update.
        programming_factory: see :class:`~obisgate.simulator.meter.SimulatedMeter`.
        poll_interval_s: how often to check for a client while none has the
            slave open.

    Raises:
        ConfigError: no profiles.
        OSError: no pseudo-terminal available.
    """
    catalog = MeterCatalog.of(profiles)
    return PtySimulator(
        catalog,
        faults or Faults(),
        realtime=realtime,
        stats=stats if stats is not None else SimulatorStats(),
        programming_factory=programming_factory,
        poll_interval_s=poll_interval_s,
    )
