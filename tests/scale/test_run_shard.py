"""``obisgate run --shard I/N``: an instance polls only its lines and logs JSON with its shard."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest

from obisgate.gateway.shard import Shard
from obisgate.simulator import serve_tcp
from tests.commands import run_until
from tests.scale.configs import line_profiles, tcp_config

pytestmark = pytest.mark.integration


async def test_instance_polls_only_its_lines_and_logs_json(tmp_path: Path) -> None:
    counts = [1, 2, 1, 3, 1, 1, 2, 1]
    async with contextlib.AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(await serve_tcp(line_profiles(i, n)))
            for i, n in enumerate(counts)
        ]
        keys = [f"tcp://127.0.0.1:{s.port}" for s in servers]
        # the instance with the most lines (ports are random; this one never owns none)
        shard = max((Shard(i, 3) for i in range(3)), key=lambda sh: sum(map(sh.owns, keys)))
        config = tmp_path / "gw.toml"
        config.write_text(
            tcp_config([s.port for s in servers], counts, scan_rate_ms=1000, log=True),
            encoding="utf-8",
        )
        expected = {
            f"l{i}m{k}"
            for i, (server, n) in enumerate(zip(servers, counts, strict=True))
            if shard.owns(f"tcp://127.0.0.1:{server.port}")
            for k in range(n)
        }
        seen: set[str] = set()

        def every_device(line: str) -> bool:
            seen.add(json.loads(line)["device"])
            return seen >= expected

        # Until every device of the shard was printed (a slow runner may need longer
        # than a fixed --duration), then SIGTERM.
        done = await run_until(
            [
                sys.executable,
                "-m",
                "obisgate",
                "run",
                config,
                "--format",
                "jsonl",
                "--log-format",
                "json",
                "-v",
                "--db",
                tmp_path / "history.db",
            ],
            line=every_device,
            env={"OBISGATE_SHARD": str(shard), "PATH": ""},
        )
    assert done.code == 0, done.err
    polled = {json.loads(line)["device"] for line in done.out.splitlines()}
    assert polled == expected
    records = [json.loads(line) for line in done.err.splitlines()]
    assert records
    assert all(r["shard"] == str(shard) for r in records)
    assert {"time", "level", "logger", "message", "pid"} <= set(records[0])
    assert expected
    assert (tmp_path / f"history-shard{shard.index}.db").exists()
    assert not (tmp_path / "history.db").exists()
