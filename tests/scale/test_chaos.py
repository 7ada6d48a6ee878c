"""The chaos proof (``scripts/test-chaos``) in a short form, as part of the suite."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.services import find_program

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(400)
def test_chaos_script_short(tmp_path: Path) -> None:
    find_program("mosquitto", "mosquitto")  # skip (fail under CI) when missing
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        find_program("initdb", "postgresql")
    counts = tmp_path / "counts.json"
    result = subprocess.run(
        [
            str(ROOT / "scripts" / "test-chaos"),
            *("--duration", "45", "--seed", "7", "--gateways", "2", "--json", str(counts)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=390,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "test-chaos: passed" in result.stderr
    facts = json.loads(counts.read_text())
    assert facts["printed"] > 500
    assert facts["gateway_kills"] >= 1
    assert facts["viasink"]["dead_letters"] == 4  # the rogue's poison, twice
    assert set(facts["events"]) >= {
        "kill", "start", "kill-broker", "restart-broker", "kill-postgres", "stop-postgres"
    }  # fmt: skip
