"""``python -m tests.backfill.gateway_child CONFIG CLOCK``: the gateway as ``obisgate run``
runs it (its outputs, no printing), with a wall clock the test moves.

``CLOCK`` is a file holding the seconds to add to the system's clock; it is read at
every readout, so the test moves the gateway's time as it moves its meter's (hours of
an outage in a moment). Everything else is the real gateway in a process of its own,
which the test may kill.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from obisgate.cli.gateway_run import build_outputs, run_gateway
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.context import OutputContext


def main() -> None:
    config_path, clock_path = Path(sys.argv[1]), Path(sys.argv[2])

    def wall_clock() -> datetime:
        offset = float(clock_path.read_text(encoding="utf-8"))
        return datetime.now(UTC) + timedelta(seconds=offset)

    async def go() -> None:
        config = load_config(config_path)
        context = OutputContext()
        outputs = build_outputs(config, "none", None, context)
        await run_gateway(config, outputs, context=context, wall_clock=wall_clock)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(go())


if __name__ == "__main__":
    main()
