"""``obisgate probe``: try reading settings until one reads the meter cleanly.

Each try opens the port with its line settings, waits until the line has been
quiet (the meter may still be sending the answer to the previous try; a meter
that saw a faulty exchange wants 1.5 s before a new wake-up, one that got no
acknowledgement sends its 300 Bd readout after up to 2.2 s), reads once with
the standard readout request (never a password, never a write), and closes.
Every try is bounded: by the reader's answer and silence timeouts, by the
garbage check of :class:`~obisgate.probe.recording.RecordingTransport`, and by
what is left of the whole probe's budget. A readout is clean when its BCC is
valid (or the meter sends none: an unframed readout).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from obisgate.errors import ObisgateError
from obisgate.probe.attempts import Attempt, AttemptPlanner
from obisgate.probe.diagnosis import Diagnosis, Finding, diagnose
from obisgate.probe.recording import RecordingTransport
from obisgate.protocol.client import ReadoutOptions, ReadResult
from obisgate.protocol.readout import BccStatus
from obisgate.recipes import RecipeBook, apply_settings, core_fields
from obisgate.session import read_meter_on
from obisgate.trace import Trace
from obisgate.transport.base import LineSettings, Transport
from obisgate.transport.url import open_transport

__all__ = ["ProbeReport", "TryReport", "probe_meter"]

_LOGGER = logging.getLogger(__name__)
#: Quiet line needed before a try; longer after a meter identified itself (tt: 2.2 s).
QUIET_S = 1.5
QUIET_AFTER_IDENTIFICATION_S = 2.5
#: A try needs at least this much of the budget to be worth starting.
_MIN_TRY_S = 3.0

TryCallback = Callable[[int, Attempt, float], None]
"""Called before each try with (number, attempt, seconds of budget left)."""


@dataclass(frozen=True, slots=True)
class TryReport:
    """One try.

    Attributes:
        number: counted from 1.
        attempt: its settings.
        diagnosis: what happened.
        seconds: how long it took, quiet wait included.
        result: the readout, when the meter answered with one.
        unsolicited: bytes that arrived while the line should have been quiet,
            before the request (a meter that sends by itself?).
    """

    number: int
    attempt: Attempt
    diagnosis: Diagnosis
    seconds: float
    result: ReadResult | None = None
    unsolicited: int = 0


@dataclass(slots=True)
class ProbeReport:
    """Every try of one probe.

    Attributes:
        url: the meter's connection.
        tries: in order.
        budget_s: the whole probe's limit.
        out_of_budget: the probe stopped because the budget ran out.
    """

    url: str
    tries: list[TryReport] = field(default_factory=list)
    budget_s: float = 120.0
    out_of_budget: bool = False

    @property
    def winner(self) -> TryReport | None:
        """The try that read the meter cleanly, if any."""
        return next((t for t in self.tries if t.diagnosis.finding is Finding.OK), None)

    @property
    def answered(self) -> bool:
        """Whether the meter sent anything of its own in any try."""
        return any(t.diagnosis.answered for t in self.tries)

    @property
    def exit_code(self) -> int:
        """0: a try read the meter; 3: nothing answered; 5: answers, but nothing clean."""
        if self.winner is not None:
            return 0
        return 5 if self.answered else 3


async def _quiet(transport: Transport, quiet_s: float, deadline: float) -> int:
    """Read and drop bytes until none came for ``quiet_s`` (or the deadline); how many.

    Raises:
        ConnectionLostError: the line closed.
    """
    loop = asyncio.get_running_loop()
    dropped = 0
    while (left := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(min(quiet_s, left)):
                dropped += len(await transport.read())
        except TimeoutError:
            break
    return dropped


def _clean(result: ReadResult) -> bool:
    return result.readout.bcc in (BccStatus.VALID, BccStatus.ABSENT)


async def _try(
    url: str,
    attempt: Attempt,
    options: ReadoutOptions,
    line: LineSettings,
    *,
    book: RecipeBook,
    keep: frozenset[str],
    quiet_s: float,
    deadline: float,
    connect_timeout_s: float,
    trace: Trace | None,
) -> tuple[Diagnosis, ReadResult | None, int]:
    """One try of ``attempt``; its diagnosis, readout and the bytes dropped before it.

    Raises:
        ConnectError: the port or connection cannot be opened (no try can).
    """
    settings = attempt.as_dict
    options, line, _ = apply_settings(replace(options, address=attempt.address), line, settings)
    rules = book.rules(keep | core_fields(settings))
    loop = asyncio.get_running_loop()
    transport = await open_transport(url, line, connect_timeout_s=connect_timeout_s)
    recording = RecordingTransport(transport)
    error: ObisgateError | None = None
    result: ReadResult | None = None
    dropped = 0
    try:
        if quiet_s > 0:
            dropped = await _quiet(transport, quiet_s, deadline)
        if trace is not None:
            trace.note(f"probe: {attempt.label}")
        try:
            result = await read_meter_on(
                recording,
                options,
                rules=rules,
                trace=trace,
                total_timeout_s=max(deadline - loop.time(), 0.1),
            )
        except ObisgateError as exc:
            error = exc
    finally:
        await transport.aclose()
    parity = bool(settings.get("software_parity")) or line.software_parity
    diagnosis = diagnose(
        recording.events,
        error,
        software_parity=parity,
        can_switch=transport.can_set_baud,
    )
    if result is not None and not _clean(result):
        words = f"read, but the BCC is {result.readout.bcc.value}: not a clean readout"
        diagnosis = replace(diagnosis, finding=Finding.NOT_CLEAN, words=words)
    elif result is not None:
        modes = f"mode {result.mode.value} at {result.baud} Bd"
        words = f"read {len(result.readout.datasets)} data sets, BCC {result.readout.bcc.value} ({modes})"
        diagnosis = replace(diagnosis, words=words)
    return diagnosis, result, dropped


async def probe_meter(
    url: str,
    options: ReadoutOptions,
    line: LineSettings,
    *,
    book: RecipeBook,
    fixed: frozenset[str] = frozenset(),
    keep: frozenset[str] = frozenset(),
    budget_s: float = 120.0,
    on_try: TryCallback | None = None,
    connect_timeout_s: float = 10.0,
    trace: Trace | None = None,
) -> ProbeReport:
    """Try reading settings on ``url`` in order of likelihood until one reads cleanly.

    Args:
        url: a serial device, ``tcp://`` or ``rfc2217://`` URL.
        options: the reader's settings every try starts from (address,
            timeouts, and what the user gave).
        line: the line settings every try starts from.
        book: recipes applied after the identification, as by ``read``.
        fixed: ``[[devices]]`` fields the user gave: no try changes them.
        keep: reader option fields the user gave (recipes leave them).
        budget_s: the whole probe's limit in seconds.
        on_try: called before each try (progress).
        connect_timeout_s: limit for opening the port or connection.
        trace: a byte trace of every try.

    Returns:
        The report of every try; its ``winner`` read the meter.

    Raises:
        ConnectError: the port or connection cannot be opened.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    planner = AttemptPlanner(
        network=url.lower().startswith("tcp:"), address=options.address, fixed=fixed
    )
    report = ProbeReport(url, budget_s=budget_s)
    quiet_s = 0.0
    while (attempt := planner.next()) is not None:
        left = deadline - loop.time()
        if left < _MIN_TRY_S:
            report.out_of_budget = True
            break
        number = len(report.tries) + 1
        if on_try is not None:
            on_try(number, attempt, left)
        began = time.monotonic()
        diagnosis, result, dropped = await _try(
            url,
            attempt,
            options,
            line,
            book=book,
            keep=keep,
            quiet_s=quiet_s,
            deadline=deadline,
            connect_timeout_s=connect_timeout_s,
            trace=trace,
        )
        seconds = time.monotonic() - began
        report.tries.append(TryReport(number, attempt, diagnosis, seconds, result, dropped))
        _LOGGER.info("probe try %d (%s): %s", number, attempt.label, diagnosis.words)
        if diagnosis.finding is Finding.OK:
            break
        planner.learn(attempt, diagnosis)
        quiet_s = QUIET_AFTER_IDENTIFICATION_S if diagnosis.identification else QUIET_S
    return report
