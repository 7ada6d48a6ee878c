"""``obisgate run`` stopped and started again: the last accepted total survives in the state
file beside the history, so a lower total right after the restart is still refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from obisgate.gateway.processing.store import StateStore
from obisgate.simulator import get_profile, serve_tcp
from tests.commands import run_until
from tests.gateway_http.support import set_energy

pytestmark = pytest.mark.integration

PROFILE = get_profile("mt174")


def energy_line(text: str) -> bool:
    return text.startswith("{") and json.loads(text)["signal"] == "energy"


async def test_the_last_accepted_total_survives_a_restart(tmp_path: Path) -> None:
    async with await serve_tcp(PROFILE) as sim:
        (tmp_path / "gw.toml").write_text(
            f"""
[storage]
path = "data/history.sqlite"

[[devices]]
device_alias = "house"
ip = "127.0.0.1"
port = {sim.port}
serialnumber = "{PROFILE.address}"
scan_rate_ms = 200
poll_delay_ms = 0
serial_close_delay = 0
timeout_ms = 800

[[signals]]
device_alias = "house"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "DOUBLE"
""",
            encoding="utf-8",
        )
        (tmp_path / "data").mkdir()
        command = [sys.executable, "-m", "obisgate", "run", "gw.toml", "--format", "jsonl"]
        first = await run_until(command, line=energy_line, cwd=tmp_path)
        assert first.code == 0, first.err
        state = tmp_path / "data" / "history.guards.sqlite"
        store = StateStore(state)
        try:
            ((device, signal, kind, value, _),) = store.load()
        finally:
            store.close()
        assert (device, signal, kind, value) == ("house", "energy", "guard", 148123.456)

        set_energy(sim, "0148000.000")  # a misread after the restart, lower than before it
        second = await run_until(command, line=energy_line, cwd=tmp_path)
    assert second.code == 0, second.err
    update = json.loads(next(line for line in second.out.splitlines() if energy_line(line)))
    assert (update["value"], update["quality"]) == (None, ["invalid"])
    assert (
        "house/energy: 148000.0 is lower than the last accepted total 148123.456: invalid "
        "(accepted if it holds for 3 readings)" in second.err
    )
