"""The README's examples run as written.

A fenced ``python`` or ``sh`` block that is meant to run carries the line
``<!-- readme-example: runs -->`` (or ``runs against the simulator``) just above
it. Each is run as a user would paste it: Python blocks as a script, sh blocks by
``bash -e`` in an empty folder with this environment's ``obisgate`` on the PATH.
Blocks "against the simulator" find a simulated mt174 where the README starts one
(``tcp://127.0.0.1:4001``); the test serves it on a free loopback port and puts
that port in the block's URLs, the one change it makes.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from obisgate.simulator import get_profile, serve_tcp

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README_URL = "tcp://127.0.0.1:4001"
MARKED = re.compile(r"<!-- readme-example: ([^>]*) -->\n```(\w+)\n(.*?)\n```\n", re.S)


def examples() -> list[tuple[str, str, str]]:
    """(name, language, code) of every marked block, named by language and line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for match in MARKED.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        found.append((f"{match.group(2)}-line-{line}", match.group(2), match.group(3)))
    return found


def test_the_readme_marks_its_runnable_examples() -> None:
    languages = sorted(language for _, language, _ in examples())
    assert languages == ["python", "python", "sh"]


@pytest.mark.parametrize(("name", "language", "code"), examples(), ids=lambda v: str(v)[:20])
async def test_example_runs_as_written(tmp_path: Path, name: str, language: str, code: str) -> None:
    assert language in ("python", "sh"), name
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    async with await serve_tcp(get_profile("mt174")) as sim:
        script = code.replace(README_URL, sim.url)
        command = (
            [sys.executable, "-c", script] if language == "python" else ["bash", "-ec", script]
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            out, err = await process.communicate()
    assert process.returncode == 0, f"{name}:\n{out.decode()}\n{err.decode()}"
    assert "Traceback" not in err.decode()
    if language == "sh":  # the four commands: a history with the meter's energy
        rows = out.decode().splitlines()
        assert any(row.split()[2:] == ["148123.456", "kWh", "valid"] for row in rows), rows
