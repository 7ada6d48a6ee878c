"""Meter simulator: IEC 62056-21 meters on TCP, a pseudo-terminal or RFC 2217.

Layers, from the protocol up:

* :class:`MeterProfile` (a meter model), :func:`builtin_profiles`,
  :func:`load_profile` / :func:`resolve_profile` (TOML or captured readout).
* :class:`Faults` (fault injection by name, see :data:`FAULTS`).
* :class:`SimulatedMeter` (one meter's sans-IO state machine) and
  :class:`MeterBus` (all meters on one line, sans-IO; the request's address
  selects the meter).
* :class:`VirtualLine`: runs a sans-IO client (``ReadoutClient``) against a
  :class:`MeterBus` on a virtual clock, for fast deterministic tests.
* Servers, each an async context manager: :func:`serve_tcp` (one listener,
  many meters), :func:`serve_tcp_each` (one listener per meter),
  :func:`serve_pty` and :func:`serve_rfc2217`.

Example::

    async with await serve_tcp(get_profile("e350")) as server:
        ...  # connect to server.url, e.g. "tcp://127.0.0.1:40123"

Programming mode (option select Y = 1) is delegated to
``obisgate.simulator.programming_meter`` when that module exists and the profile's
``programming`` attribute is set.
"""

from __future__ import annotations

from obisgate.simulator.builtin import builtin_profiles, get_profile
from obisgate.simulator.bus import MeterBus, MeterCatalog
from obisgate.simulator.faults import FAULTS, Faults
from obisgate.simulator.line import LineDriver
from obisgate.simulator.loader import load_profile, resolve_profile
from obisgate.simulator.meter import Hangup, Output, SimulatedMeter, Transmit
from obisgate.simulator.profile import MeterProfile, address_matches, consecutive_addresses
from obisgate.simulator.programming_hook import ProgrammingSession
from obisgate.simulator.pty import PtySimulator, serve_pty
from obisgate.simulator.rfc2217 import serve_rfc2217
from obisgate.simulator.stats import SimulatorStats
from obisgate.simulator.tcp import MeterFarm, SimulatorServer, serve_tcp, serve_tcp_each
from obisgate.simulator.uart import retime
from obisgate.simulator.virtual import LineEvent, VirtualLine

__all__ = [
    "FAULTS",
    "Faults",
    "Hangup",
    "LineDriver",
    "LineEvent",
    "MeterBus",
    "MeterCatalog",
    "MeterFarm",
    "MeterProfile",
    "Output",
    "ProgrammingSession",
    "PtySimulator",
    "SimulatedMeter",
    "SimulatorServer",
    "SimulatorStats",
    "Transmit",
    "VirtualLine",
    "address_matches",
    "builtin_profiles",
    "consecutive_addresses",
    "get_profile",
    "load_profile",
    "resolve_profile",
    "retime",
    "serve_pty",
    "serve_rfc2217",
    "serve_tcp",
    "serve_tcp_each",
]
