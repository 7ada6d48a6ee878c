"""``OBISGATE_EVENT_LOOP=uvloop`` runs the commands on uvloop."""

from __future__ import annotations

import asyncio

import pytest

from obisgate.cli.common import run_async
from tests.services import require_module


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_default_loop_is_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBISGATE_EVENT_LOOP", raising=False)
    assert run_async(loop_module).startswith("asyncio")


def test_uvloop_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    require_module("uvloop", "the uvloop extra")
    monkeypatch.setenv("OBISGATE_EVENT_LOOP", "uvloop")
    assert run_async(loop_module).startswith("uvloop")
