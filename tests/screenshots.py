"""Screenshots that browser tests keep for people to look at: saved under the test's
``tmp_path`` (so under ``--basetemp`` when given) and listed at the end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["SCREENSHOTS", "report"]

#: Where the paths of this run's screenshots are kept (on the pytest config).
SCREENSHOTS = pytest.StashKey[list[Path]]()


def report(terminal: pytest.TerminalReporter, config: pytest.Config) -> None:
    """List the screenshots this run saved (``pytest_terminal_summary``)."""
    taken = config.stash.get(SCREENSHOTS, [])
    if not taken:
        return
    terminal.section("screenshots of the web view")
    for path in taken:
        terminal.write_line(str(path))
