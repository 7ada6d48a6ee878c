"""build_outputs: what it opens is closed again when a later output cannot be built."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from obisgate.cli.gateway_run import build_outputs
from obisgate.errors import ConfigError
from obisgate.gateway.config import load_config

CONFIG = """\
    [http]
    listen = "127.0.0.1:0"
    token_env = "OBISGATE_TEST_TOKEN_NOT_SET"

    [[devices]]
    device_alias = "m1"
    url = "tcp://127.0.0.1:1"

    [[signals]]
    device_alias = "m1"
    signal_alias = "energy"
    tag_job_todo = "1.8.0"
    number_type = "FLOAT"
    log = 1
"""


def test_history_store_is_closed_when_a_network_output_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBISGATE_TEST_TOKEN_NOT_SET", raising=False)
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    history = tmp_path / "history.sqlite"
    with pytest.raises(ConfigError, match="token_env") as info:
        build_outputs(load_config(path), "none", history)
    # The traceback (kept alive by ``info``) still refers to build_outputs' locals, so
    # only an explicit close ends the connection; SQLite removes the WAL at the last close.
    assert "OBISGATE_TEST_TOKEN_NOT_SET" in str(info.value)
    assert history.is_file()
    assert not Path(f"{history}-wal").exists()
