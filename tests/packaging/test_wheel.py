"""The wheel built from this tree installs a working ``obisgate`` command in a fresh
virtual environment (what ``pip install .`` from a clone does)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _uv(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``scripts/uv ARGS`` (the pinned uv; installed on first use)."""
    return subprocess.run(
        [str(ROOT / "scripts" / "uv"), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "VIRTUAL_ENV": ""},
    )


@pytest.mark.timeout(600)
def test_wheel_installs_a_working_command(tmp_path: Path) -> None:
    built = _uv("build", "--wheel", "--out-dir", tmp_path / "dist", "--quiet")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("obisgate-*.whl")
    venv = tmp_path / "venv"
    created = _uv("venv", "--quiet", venv)
    assert created.returncode == 0, created.stderr
    installed = _uv("pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel)
    assert installed.returncode == 0, installed.stderr

    version = subprocess.run(
        [venv / "bin" / "obisgate", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("obisgate, version ")
    help_text = subprocess.run(
        [venv / "bin" / "obisgate", "read", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "Usage: obisgate read" in help_text
    # The package data (OBIS catalogue, recipes) is in the wheel.
    data = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "from obisgate.obis import signal_name; print(signal_name('1.8.0'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert data == "energy_import\n"
