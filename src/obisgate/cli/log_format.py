"""Log lines in the command line's own style: ``obisgate: warning: message``."""

from __future__ import annotations

import logging

__all__ = ["CliFormatter"]


class CliFormatter(logging.Formatter):
    """``obisgate: LEVEL: message``; at debug level the logger's name is added."""

    def __init__(self, *, with_names: bool = False) -> None:
        super().__init__()
        self._with_names = with_names

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        where = f"{record.name}: " if self._with_names else ""
        return f"obisgate: {record.levelname.lower()}: {where}{text}"
