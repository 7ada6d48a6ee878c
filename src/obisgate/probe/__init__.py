"""``obisgate probe``: find the reading settings a meter needs, and say why others fail.

* :mod:`obisgate.probe.attempts`: which settings are tried, in which order (pure).
* :mod:`obisgate.probe.diagnosis`: what went wrong in a try, in words (pure).
* :mod:`obisgate.probe.recording`: the transport wrapper that records a try.
* :mod:`obisgate.probe.runner`: the tries themselves, within a budget.
* :mod:`obisgate.probe.report`: the table of tries and the settings that worked.
"""

from __future__ import annotations

from obisgate.probe.attempts import Attempt, AttemptPlanner
from obisgate.probe.diagnosis import Diagnosis, Finding, diagnose
from obisgate.probe.runner import ProbeReport, TryReport, probe_meter

__all__ = [
    "Attempt",
    "AttemptPlanner",
    "Diagnosis",
    "Finding",
    "ProbeReport",
    "TryReport",
    "diagnose",
    "probe_meter",
]
