"""The scale-out proof (``scripts/test-scaleout``) as part of the suite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.services import find_program

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_scaleout_script() -> None:
    find_program("mosquitto", "mosquitto")  # skip (fail under CI) when missing
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        find_program("initdb", "postgresql")
    result = subprocess.run(
        [str(ROOT / "scripts" / "test-scaleout")],
        capture_output=True,
        text=True,
        check=False,
        timeout=230,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "test-scaleout: passed" in result.stderr
