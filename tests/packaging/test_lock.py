"""The lock matches pyproject.toml, and the setup refuses to install when it does not."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env_with_uv() -> dict[str, str]:
    """The environment, with this clone's pinned uv first on the PATH (if installed)."""
    tools = sorted((ROOT / ".tools").glob("uv-*/bin"))
    path = os.pathsep.join([*map(str, tools), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "VIRTUAL_ENV": ""}


def test_lock_matches_pyproject() -> None:
    check = subprocess.run(
        [ROOT / "scripts" / "uv", "lock", "--check", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=_env_with_uv(),
    )
    assert check.returncode == 0, f"run scripts/lock: {check.stderr}"


def test_bootstrap_stops_when_the_lock_is_stale(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copytree(ROOT / "scripts", clone / "scripts")
    shutil.copy(ROOT / "uv.lock", clone / "uv.lock")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    added = pyproject.replace("dependencies = [\n", 'dependencies = [\n    "six>=1.16",\n', 1)
    assert added != pyproject
    (clone / "pyproject.toml").write_text(added, encoding="utf-8")
    shutil.copy(ROOT / "README.md", clone / "README.md")

    result = subprocess.run(
        [clone / "scripts" / "bootstrap", "dev"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        env=_env_with_uv(),
    )

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "obisgate: error: uv.lock does not match pyproject.toml: run scripts/lock (and commit uv.lock)"
    )
    assert not (clone / ".venv").exists()
