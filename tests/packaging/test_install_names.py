"""Nothing tells a user to install ``obisgate[EXTRA]`` from the package index.

The name ``obisgate`` is not published there (a stranger could publish it), so the
README, the docs, the messages (``require_extra``) and the comments all say
``pip install '.[EXTRA]'``, from the source folder. Only ``pyproject.toml`` names
the project's own extras inside ``all``.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _extras() -> set[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return set(tomllib.load(f)["project"]["optional-dependencies"])


def test_no_install_from_the_package_index() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "*.md", "*.py", "*.toml", "*.txt", "*.sh", "scripts/*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    extras = _extras()
    assert {"mqtt", "web", "all"} <= extras
    pattern = re.compile(r"obisgate\\?\[([a-z0-9_,\- ]+)\\?\]")  # also as a regex
    found = []
    for name in tracked:
        if name == "pyproject.toml" or name == "tests/packaging/test_install_names.py":
            continue
        path = ROOT / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1):
            for match in pattern.finditer(line):
                if set(re.split(r"[, ]+", match.group(1))) & extras:
                    found.append(f"{name}:{number}: {line.strip()}")
    assert found == []
