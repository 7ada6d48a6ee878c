"""node-opcua, an OPC UA client not written here, run from ``tests/node`` (``npm ci`` by
``scripts/test``): missing ``node`` or modules skip the test locally and fail it under CI."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.services import find_program

__all__ = ["opcua_client"]

NODE_FOLDER = Path(__file__).resolve().parent.parent / "node"


def _modules() -> None:
    if (NODE_FOLDER / "node_modules" / "node-opcua-client").is_dir():
        return
    message = "node-opcua is not installed: run npm ci in tests/node (scripts/test does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def opcua_client(
    endpoint: str,
    pki: Path,
    nodes: list[str],
    *,
    mode: str = "SignAndEncrypt",
    policy: str = "Basic256Sha256",
    user: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Run ``tests/node/opcua_client.mjs`` once; its JSON answer (``error`` when refused)."""
    node = find_program("node", "nodejs")
    _modules()
    request = {
        "endpoint": endpoint,
        "mode": mode,
        "policy": policy,
        "user": user,
        "password": password,
        "pki": str(pki),
        "nodes": nodes,
    }
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_FOLDER / "opcua_client.mjs"),
        json.dumps(request),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=NODE_FOLDER,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = out.decode().strip().splitlines()
    assert lines, f"node-opcua printed nothing: {err.decode()[-2000:]}"
    answer: dict[str, Any] = json.loads(lines[-1])
    assert (process.returncode == 0) == ("error" not in answer), answer
    return answer
