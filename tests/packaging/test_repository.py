"""Only source is tracked in git: no virtual environment, cache, database or build output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Folder names that only a tool creates (virtual environments, caches, build outputs).
GENERATED_FOLDERS = {
    ".venv",
    "venv",
    ".tools",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".tox",
    ".nox",
    "dist",
    "build",
    "site-packages",
    "node_modules",
}
#: File names or suffixes that only a tool creates.
GENERATED_FILES = {"pyvenv.cfg"}
GENERATED_SUFFIXES = (".pyc", ".pyo", ".so", ".whl", ".sqlite", ".sqlite-wal", ".sqlite-shm")


def generated(path: str) -> bool:
    """Whether a tracked ``path`` is something a tool made, not source."""
    parts = PurePosixPath(path).parts
    folders, name = parts[:-1], parts[-1]
    return (
        any(p in GENERATED_FOLDERS or p.endswith(".egg-info") for p in folders)
        or name in GENERATED_FILES
        or name.endswith(GENERATED_SUFFIXES)
    )


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "venv/lib/python3.11/site-packages/click/core.py",
        "src/obisgate/__pycache__/x.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
        "dist/obisgate-0.1.0-py3-none-any.whl",
        "src/obisgate.egg-info/PKG-INFO",
        "obisgate-history.sqlite",
        ".tools/uv-0.13.9/bin/uv",
    ],
)
def test_generated_paths_are_recognised(path: str) -> None:
    assert generated(path)


@pytest.mark.parametrize(
    "path",
    ["src/obisgate/cli/main.py", "uv.lock", "scripts/bootstrap", "tests/gateway/data/full.toml"],
)
def test_source_paths_are_not(path: str) -> None:
    assert not generated(path)


def test_no_generated_path_is_tracked() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    tracked = [p for p in listed.split("\0") if p]
    assert tracked, "git ls-files listed nothing"
    offending = [p for p in tracked if generated(p)]
    assert offending == [], f"tracked but generated (git rm --cached them): {offending[:20]}"
