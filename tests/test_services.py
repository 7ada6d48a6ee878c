"""The rule of tests/services.py: a missing program or library skips a test on a developer's
machine and fails it under CI, so CI can never pass by not running the real-client tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services import find_program, require_module

MISSING = "obisgate_test_no_such_module"


def test_a_present_library_is_imported() -> None:
    assert require_module("json", "the standard library") is json
    assert require_module("email.mime", "the standard library").__name__ == "email.mime"


def outcome(check: Callable[[], object]) -> str:
    """``skip: MESSAGE`` or ``fail: MESSAGE``: caught here, so that neither can end this
    test itself (a skip escaping a test would hide a broken rule)."""
    try:
        check()
    except pytest.skip.Exception as exc:
        return f"skip: {exc.msg}"
    except pytest.fail.Exception as exc:
        return f"fail: {exc.msg}"
    return "returned"


@pytest.mark.parametrize("name", [MISSING, f"{MISSING}.client", "json.no_such_submodule"])
def test_a_missing_library_skips_locally(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert outcome(lambda: require_module(name, "the x extra")) == (
        f"skip: {name} is not installed (the x extra; scripts/bootstrap dev installs it)"
    )


@pytest.mark.parametrize("name", [MISSING, f"{MISSING}.client"])
def test_a_missing_library_fails_under_ci(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert outcome(lambda: require_module(name, "the x extra")) == (
        f"fail: {name} is not installed (the x extra; scripts/bootstrap dev installs it)"
    )


def test_a_library_that_is_installed_but_broken_is_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "obisgate_test_broken.py").write_text(f"import {MISSING}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(ModuleNotFoundError, match=MISSING):
        require_module("obisgate_test_broken", "a broken install")


def test_obisgate_modules_are_imported_plainly() -> None:
    with pytest.raises(ValueError, match="import it plainly"):
        require_module("obisgate.simulator.programming_meter", "")


def test_a_missing_program_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = (
        "obisgate-no-such-program is not installed (Debian package nope; scripts/system-packages)"
    )
    monkeypatch.delenv("CI", raising=False)
    assert outcome(lambda: find_program("obisgate-no-such-program", "nope")) == f"skip: {message}"
    monkeypatch.setenv("CI", "1")
    assert outcome(lambda: find_program("obisgate-no-such-program", "nope")) == f"fail: {message}"
