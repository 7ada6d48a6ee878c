"""``obisgate demo`` (the README's main-job command) polls all four simulated meters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.pty]


def test_demo_reads_every_simulated_meter() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "obisgate", "demo", "--format", "jsonl", "--duration", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    updates = [json.loads(line) for line in proc.stdout.splitlines()]
    status = {u["device"]: u["value"] for u in updates if u["signal"] == "_status"}
    assert status == {"bus-mt174": "ok", "bus-e350": "ok", "tcp-kamstrup": "ok", "tcp-aux": "ok"}
    values = [u for u in updates if u["signal"] != "_status"]
    assert values
    assert all(u["quality"] == ["valid"] for u in values)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("obisgate demo: 4 simulated meters (bus /dev/")
    assert lines[0].endswith("; Ctrl-C stops")
    # the simulated TCP meters follow any rate: no converter-rate hint in the demo
    assert not any("warning" in line for line in lines), proc.stderr
    assert lines[-1] == (
        "obisgate demo: the history was in a temporary file, removed now (keep it with --db FILE)"
    )
