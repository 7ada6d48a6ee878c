"""Counters a simulator keeps, for tests and benchmarks to check what happened."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["SimulatorStats"]


@dataclass(slots=True)
class SimulatorStats:
    """What the meters of one simulator did, summed over all lines.

    Attributes:
        connections: lines opened (TCP/RFC 2217 connections, pty sessions).
        requests: requests a meter answered with its identification.
        option_selects: how often each option select message was received, as received.
        readouts: readout data messages sent, repeats included.
        readout_bauds: readouts per baud rate the meter meant to send at.
        list_readouts: readouts per list request start (``/2``) among them (a
            profile's ``lists``; the whole readout is not counted here).
        repeats: readouts repeated after a NAK.
        programming_sessions: programming sessions started.
        pushes: mode D pushes sent.
        hdlc_sessions: HDLC links served (mode E after its opening, or direct HDLC).
        meter_readouts: readouts per meter (profile name and address), over every
            line and connection (the ``misread-total`` fault counts with it).
    """

    connections: int = 0
    requests: int = 0
    option_selects: Counter[bytes] = field(default_factory=Counter)
    readouts: int = 0
    readout_bauds: Counter[int] = field(default_factory=Counter)
    list_readouts: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    programming_sessions: int = 0
    pushes: int = 0
    hdlc_sessions: int = 0
    meter_readouts: Counter[tuple[str, str]] = field(default_factory=Counter)
