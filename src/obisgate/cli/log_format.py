"""Log lines on stderr: the command line's own style (``obisgate: warning: message``), or
one JSON object per line (``--log-format json``) for fleet log collectors.

A JSON record carries ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``shard`` (``"I/N"`` or ``null``) and ``pid``; an exception adds ``exception``
(its formatted traceback, one string). Messages are already free of secrets
(the library never logs passwords), and JSON escaping keeps every record on one line.

The servers' ``... listening on ...`` lines (the ``obisgate.listening`` logger, see
:mod:`obisgate.gateway.outputs.announce`) are shown at every verbosity: as the bare
line in text format, as a JSON record like any other in JSON format.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

from obisgate.gateway.outputs.announce import LISTENING_LOGGER

__all__ = ["CliFormatter", "JsonFormatter", "ShardFilter"]


class CliFormatter(logging.Formatter):
    """``obisgate: LEVEL: message`` (``obisgate[I/N]: ...`` in a shard); at debug level
    the logger's name is added. A server's ``listening on`` line is the bare message."""

    def __init__(self, *, with_names: bool = False, shard: str | None = None) -> None:
        super().__init__()
        self._with_names = with_names
        self._prog = f"obisgate[{shard}]" if shard else "obisgate"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.name == LISTENING_LOGGER:
            return text
        where = f"{record.name}: " if self._with_names else ""
        return f"{self._prog}: {record.levelname.lower()}: {where}{text}"


class ShardFilter(logging.Filter):
    """Adds ``record.shard`` (the instance's ``I/N``, or ``None``) to every record."""

    def __init__(self, shard: str | None) -> None:
        super().__init__()
        self.shard = shard

    def filter(self, record: logging.LogRecord) -> bool:
        record.shard = self.shard
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        item: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "shard": getattr(record, "shard", None),
            "pid": os.getpid(),
        }
        if record.exc_info:
            item["exception"] = self.formatException(record.exc_info)
        return json.dumps(item, ensure_ascii=False, default=str)
