"""The commands run on uvloop when it is installed; ``OBISGATE_EVENT_LOOP`` chooses."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from obisgate.cli.common import run_async
from tests.services import require_module


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.parametrize("choice", [None, "", "auto", "UVLOOP"])
def test_uvloop_by_default_and_when_asked(
    monkeypatch: pytest.MonkeyPatch, choice: str | None
) -> None:
    require_module("uvloop", "the uvloop extra")
    if choice is None:
        monkeypatch.delenv("OBISGATE_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("OBISGATE_EVENT_LOOP", choice)
    assert run_async(loop_module).startswith("uvloop")


def test_asyncio_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBISGATE_EVENT_LOOP", "asyncio")
    assert run_async(loop_module).startswith("asyncio")


@pytest.mark.parametrize("choice", [None, "auto", "uvloop"])
def test_asyncio_without_uvloop_and_a_warning_only_when_uvloop_was_asked_for(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, choice: str | None
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop: ImportError
    if choice is None:
        monkeypatch.delenv("OBISGATE_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("OBISGATE_EVENT_LOOP", choice)
    with caplog.at_level(logging.WARNING, logger="obisgate"):
        assert run_async(loop_module).startswith("asyncio")
    warned = [r.getMessage() for r in caplog.records]
    if choice == "uvloop":
        assert warned == [
            "OBISGATE_EVENT_LOOP=uvloop but uvloop is not installed "
            "(pip install '.[uvloop]' in obisgate's source folder); using asyncio's loop"
        ]
    else:
        assert warned == []


def test_an_unknown_choice_is_warned_about_and_the_default_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OBISGATE_EVENT_LOOP", "tokio")
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with caplog.at_level(logging.WARNING, logger="obisgate"):
        assert run_async(loop_module).startswith("asyncio")
    assert [r.getMessage() for r in caplog.records] == [
        "OBISGATE_EVENT_LOOP=tokio: expected auto, uvloop or asyncio; using auto"
    ]
