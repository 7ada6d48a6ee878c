"""Gateway configurations with many TCP lines for the scale-out tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from obisgate.simulator import MeterProfile, get_profile


def tcp_config(
    ports: Sequence[int],
    meters_per_line: Sequence[int],
    *,
    scan_rate_ms: int = 60_000,
    log: bool = False,
    extra: str = "",
) -> str:
    """One line per port (``tcp://127.0.0.1:PORT``), ``meters_per_line[i]`` meters on it
    (addresses ``A<i>-<k>``, aliases ``l<i>m<k>``), each with one energy signal."""
    parts = [extra]
    for i, (port, count) in enumerate(zip(ports, meters_per_line, strict=True)):
        for k in range(count):
            alias = f"l{i}m{k}"
            address = f"A{i}x{k}" if count > 1 else ""
            parts.append(
                f"""
[[devices]]
device_alias = "{alias}"
ip = "127.0.0.1"
port = {port}
serialnumber = "{address}"
scan_rate_ms = {scan_rate_ms}
poll_delay_ms = 0
serial_close_delay = 0
timeout_ms = 3000
retries = 1

[[signals]]
device_alias = "{alias}"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
log = {1 if log else 0}
"""
            )
    return "".join(parts)


def line_profiles(line: int, count: int) -> list[MeterProfile]:
    """The simulated meters of line ``line`` for :func:`tcp_config` (mt174, fast answers)."""
    base = get_profile("mt174")
    return [
        dataclasses.replace(
            base,
            name=f"l{line}m{k}",
            address=f"A{line}x{k}" if count > 1 else "",
            reaction_time_s=0.0,
        )
        for k in range(count)
    ]
