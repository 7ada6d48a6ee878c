"""The line a server gives when it starts listening, through logging.

``modbus listening on 127.0.0.1:5020``, ``iec104 listening on 0.0.0.0:2404``,
``opcua listening on opc.tcp://127.0.0.1:4840/obisgate/`` and ``web view on
http://127.0.0.1:8080/`` are records of the ``obisgate.listening`` logger at INFO level.
The command line shows them whatever the verbosity: the bare line in the text log format
(as it was always printed, so people and scripts that read it keep working) and a JSON
record with ``--log-format json``. A program embedding the gateway configures that
logger like any other.
"""

from __future__ import annotations

import logging

__all__ = ["LISTENING_LOGGER", "announce"]

LISTENING_LOGGER = "obisgate.listening"

_LOGGER = logging.getLogger(LISTENING_LOGGER)


def announce(line: str) -> None:
    """Log ``line`` (where a server listens) at INFO on :data:`LISTENING_LOGGER`."""
    _LOGGER.info("%s", line)
