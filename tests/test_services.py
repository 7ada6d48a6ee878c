"""The rule of tests/services.py: a missing program or library skips a test on a developer's
machine and fails it under CI, so CI can never pass by not running the real-client tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.services import find_program, require_module

MISSING = "obisgate_test_no_such_module"


def test_a_present_library_is_imported() -> None:
    assert require_module("json", "the standard library") is json
    assert require_module("email.mime", "the standard library").__name__ == "email.mime"


@pytest.mark.parametrize("name", [MISSING, f"{MISSING}.client", "json.no_such_submodule"])
def test_a_missing_library_skips_locally(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{name} is not installed \\(the x extra"):
        require_module(name, "the x extra")


@pytest.mark.parametrize("name", [MISSING, f"{MISSING}.client"])
def test_a_missing_library_fails_under_ci(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{name} is not installed"):
        require_module(name, "the x extra")


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
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package nope"):
        find_program("obisgate-no-such-program", "nope")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="obisgate-no-such-program is not installed"):
        find_program("obisgate-no-such-program", "nope")
