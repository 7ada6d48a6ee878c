"""Which reading settings ``obisgate probe`` tries, in which order (pure, no I/O).

An :class:`Attempt` is a set of ``[[devices]]`` settings plus the address put in
the request. The :class:`AttemptPlanner` hands them out in order of likelihood:

1. Until the meter identifies itself: 7E1 without and with the standard's NUL
   wake-up, with the request ``/?ADDRESS!`` (``--address``) or ``/?!``; then
   ``/?!`` when an address was given. Over a TCP converter (whose framing
   errors are the common ones) next software parity, without and with the
   wake-up, then the manufacturer variants ``/2!`` and ``/#!``; on a serial
   port (where the head speaks 7E1 itself) the variants first, then 8N1 with
   software parity and 8N1 raw, each without and with the wake-up.
2. Once a try got an identification but no clean readout, the settings after
   it, chosen by what went wrong (:mod:`obisgate.probe.diagnosis`): a delay
   before the baud change (where the port can switch), no baud switch, mode A,
   a later acknowledgement; for a wrong checksum more repeat requests, then
   the 7-bit sum; software parity first when the meter's bytes carried it.
   These go before the rest of step 1.

Settings the user gave on the command line (``fixed``) are never changed;
attempts that differ only in those are tried once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from obisgate.probe.diagnosis import Diagnosis, Finding

__all__ = ["Attempt", "AttemptPlanner"]

_SEVEN_E_ONE: dict[str, object] = {}
_SOFTWARE_PARITY_8N1: dict[str, object] = {"databits": 8, "parity": "NONE", "software_parity": True}
_RAW_8N1: dict[str, object] = {"databits": 8, "parity": "NONE"}
_SOFTWARE_PARITY: dict[str, object] = {"software_parity": True}
#: The standard's wake-up: 2.2 s of NULs at 300 Bd, then 1.6 s before the request.
WAKEUP: dict[str, object] = {"wakeup": 66}
#: A delay after the acknowledgement drained, before the switch (USB heads: 250-400 ms).
BAUD_CHANGE_DELAY: dict[str, object] = {"baud_change_delay_ms": 500}
_NO_SWITCH: dict[str, object] = {"switch_baud": False}
_MODE_A: dict[str, object] = {"type": "A"}
_LATE_ACK: dict[str, object] = {"t2": 1000}
_REPEATS: dict[str, object] = {"repeat_requests": 3}
_SUM7: dict[str, object] = {"bcc_method": "sum7"}
#: Manufacturer request variants obisgate knows (docs/iec62056-21.md section 11, row 20).
VARIANTS = ("/2", "/#")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One way of reading the meter.

    Attributes:
        settings: ``[[devices]]`` field -> value (sorted pairs, hashable).
        address: what goes in the request (``""``: the general address ``/?!``).
    """

    settings: tuple[tuple[str, object], ...]
    address: str = ""

    @classmethod
    def of(cls, settings: Mapping[str, object], address: str = "") -> Attempt:
        """An attempt from a mapping of settings."""
        return cls(tuple(sorted(settings.items())), address)

    @property
    def as_dict(self) -> dict[str, object]:
        """The settings as a dict."""
        return dict(self.settings)

    def plus(self, settings: Mapping[str, object]) -> Attempt:
        """This attempt with more settings."""
        return Attempt.of({**self.as_dict, **settings}, self.address)

    @property
    def request(self) -> str:
        """The request as sent, e.g. ``/?12345678!``."""
        return f"{self.as_dict.get('request_start', '/?')}{self.address}!"

    @property
    def label(self) -> str:
        """The settings in a few words, for the table of tries."""
        s = self.as_dict
        if s.get("databits") == 8:
            framing = "8N1 + software parity" if s.get("software_parity") else "8N1"
        else:
            framing = "software parity" if s.get("software_parity") else "7E1"
        parts = [framing]
        if s.get("wakeup"):
            parts.append("NUL wake-up")
        parts.append(self.request)
        if "baud_change_delay_ms" in s:
            parts.append(f"baud change delay {s['baud_change_delay_ms']} ms")
        if s.get("switch_baud") is False:
            parts.append("no baud switch")
        if s.get("type") == "A":
            parts.append("mode A")
        if "t2" in s:
            parts.append(f"acknowledge after {s['t2']} ms")
        if "repeat_requests" in s:
            parts.append(f"{s['repeat_requests']} repeat requests")
        if s.get("bcc_method") == "sum7":
            parts.append("7-bit sum checksum")
        return ", ".join(parts)


class AttemptPlanner:
    """The attempts, in order, adapting to what the tries so far showed.

    Args:
        network: the URL is raw TCP (a converter: no framing of our own, no
            rate switch from here).
        address: ``--address`` (``""``: none).
        fixed: ``[[devices]]`` fields the user gave; attempts never set them.
    """

    def __init__(self, *, network: bool, address: str, fixed: Iterable[str] = ()) -> None:
        self.network = network
        self.address = address
        self.fixed = frozenset(fixed)
        self._queue: deque[Attempt] = deque()
        self._tried: set[Attempt] = set()
        self._after: set[Attempt] = set()
        for attempt in self._first_steps():
            self._add(attempt)

    def _framings(self) -> list[dict[str, object]]:
        if self.network:
            return [_SEVEN_E_ONE, _SOFTWARE_PARITY]
        return [_SEVEN_E_ONE, _SOFTWARE_PARITY_8N1, _RAW_8N1]

    def _first_steps(self) -> list[Attempt]:
        address = self.address
        standard, *others = self._framings()
        steps = [Attempt.of({**standard, **wake}, address) for wake in ({}, WAKEUP)]
        if address:
            steps += [Attempt.of({}, ""), Attempt.of(WAKEUP, "")]
        framings = [
            Attempt.of({**framing, **wake}, address) for framing in others for wake in ({}, WAKEUP)
        ]
        variants = [
            Attempt.of({"request_start": start, **wake}, address)
            for start in VARIANTS
            for wake in ({}, WAKEUP)
        ]
        return steps + (framings + variants if self.network else variants + framings)

    def _effective(self, attempt: Attempt) -> Attempt:
        return Attempt.of(
            {k: v for k, v in attempt.settings if k not in self.fixed}, attempt.address
        )

    def _add(self, attempt: Attempt, *, first: bool = False) -> None:
        attempt = self._effective(attempt)
        if attempt in self._tried:
            return
        if attempt in self._queue:
            if not first:
                return
            self._queue.remove(attempt)  # planned for later: it moves to the front
        if first:
            self._queue.appendleft(attempt)
        else:
            self._queue.append(attempt)

    def next(self) -> Attempt | None:
        """The next attempt, or ``None`` when every one was tried."""
        while self._queue:
            attempt = self._queue.popleft()
            if attempt not in self._tried:
                self._tried.add(attempt)
                return attempt
        return None

    def learn(self, attempt: Attempt, diagnosis: Diagnosis) -> None:
        """Plan what to try after ``attempt`` showed ``diagnosis``."""
        if diagnosis.finding is Finding.OK:
            return
        settings = attempt.as_dict
        parity_missing = diagnosis.bit7 and not settings.get("software_parity")
        following: list[Attempt] = []
        if parity_missing:
            framing = _SOFTWARE_PARITY if self.network else _SOFTWARE_PARITY_8N1
            following.append(attempt.plus(framing))
        if diagnosis.identification is not None and attempt not in self._after:
            self._after.add(attempt)
            following += [attempt.plus(s) for s in self._after_identification(diagnosis)]
        for step in reversed(following):
            self._add(step, first=True)

    def _after_identification(self, diagnosis: Diagnosis) -> list[dict[str, object]]:
        """Settings that act after the identification, for what went wrong."""
        finding = diagnosis.finding
        if finding is Finding.CHECKSUM:
            return [_REPEATS, _SUM7]
        if finding is Finding.MODE_A:
            return [_MODE_A, _NO_SWITCH]
        steps: list[dict[str, object]] = []
        if not self.network:
            steps.append(BAUD_CHANGE_DELAY)
        steps += [_NO_SWITCH, _MODE_A]
        steps.append({**_LATE_ACK, **(_NO_SWITCH if self.network else BAUD_CHANGE_DELAY)})
        return steps
