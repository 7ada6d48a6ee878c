"""``obisgate demo`` (the README's main-job command) polls all four simulated meters."""

from __future__ import annotations

import json
import signal
import sys

import pytest
from tests.commands import run_until

pytestmark = [pytest.mark.integration, pytest.mark.pty]

DEVICES = {"bus-mt174", "bus-e350", "tcp-kamstrup", "tcp-aux"}


async def test_demo_reads_every_simulated_meter() -> None:
    status: dict[str, str] = {}

    def all_ok(line: str) -> bool:
        update = json.loads(line)
        if update["signal"] == "_status":
            status[update["device"]] = update["value"]
        return status == dict.fromkeys(DEVICES, "ok")

    # Until every meter was read, then Ctrl-C, as the demo says: no fixed --duration
    # that a slow runner might not fill.
    done = await run_until(
        [sys.executable, "-m", "obisgate", "demo", "--format", "jsonl"],
        line=all_ok,
        stop=signal.SIGINT,
    )
    assert done.code == 0, done.err
    updates = [json.loads(line) for line in done.out.splitlines()]
    status = {u["device"]: u["value"] for u in updates if u["signal"] == "_status"}
    assert status == dict.fromkeys(DEVICES, "ok")
    values = [u for u in updates if u["signal"] != "_status"]
    assert values
    assert all(u["quality"] == ["valid"] for u in values)
    assert "Traceback" not in done.err
    lines = done.err.splitlines()
    assert lines[0].startswith("obisgate demo: 4 simulated meters (bus /dev/")
    assert lines[0].endswith("; Ctrl-C stops")
    # the simulated TCP meters follow any rate: no converter-rate hint in the demo
    assert not any("warning" in line for line in lines), done.err
    assert lines[-1] == (
        "obisgate demo: the history was in a temporary file, removed now (keep it with --db FILE)"
    )
