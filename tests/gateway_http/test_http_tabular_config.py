"""An Excel or CSV configuration turns the HTTP output on like a TOML [http] table."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from obisgate.cli.gateway_run import build_outputs
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.outputs.http.server import HttpOutput
from tests.gateway.test_config_tabular import DEVICES, SIGNALS, workbook


async def test_excel_http_sheet_serves_healthz(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "site.xlsx",
        {
            "Devices": DEVICES,
            "Signals": SIGNALS,
            "HTTP": [["Listen", "History Limit"], ["127.0.0.1:0", 100]],
        },
    )
    config = load_config(path)
    outputs = build_outputs(config, "none", tmp_path / "history.sqlite")
    (http,) = [o for o in outputs if isinstance(o, HttpOutput)]
    fanout = Fanout(outputs)
    await fanout.start()
    try:
        assert fanout.failed == {}
        async with (
            aiohttp.ClientSession() as client,
            client.get(http.url + "healthz") as response,
        ):
            assert response.status == 200
            assert await response.text() == "ok\n"
    finally:
        await fanout.aclose()
