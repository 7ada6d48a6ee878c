"""Keep the server libraries' own log records out of obisgate's one-line messages.

asyncua logs what obisgate already reports in one line (a port in use, with a
traceback) and warns about things that are so by design. Unless the user asked for debug output
(``-vv``: the root logger at DEBUG), :func:`quiet_library` raises the library's
log level and drops the known, expected records; real errors still show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

__all__ = ["quiet_library"]


class _DropKnown(logging.Filter):
    """Drops records whose unformatted message contains one of ``fragments``."""

    def __init__(self, fragments: Iterable[str]) -> None:
        super().__init__()
        self.fragments = tuple(fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(fragment in str(record.msg) for fragment in self.fragments)


def debugging() -> bool:
    """Whether the user asked for debug output (``-vv``)."""
    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


def quiet_library(
    name: str, level: int = logging.ERROR, drop: dict[str, Iterable[str]] | None = None
) -> None:
    """Unless debugging, log only ``level`` and above from logger ``name`` and its children.

    Args:
        name: the library's top logger (``"asyncua"``).
        level: the least level still shown.
        drop: logger name -> message fragments of records that are dropped even
            at ``level`` (what obisgate reports itself in one line). A filter
            applies to records of that exact logger, so name the emitting one.
    """
    if debugging():
        return
    logger = logging.getLogger(name)
    logger.setLevel(max(level, logger.level))
    for emitter, fragments in (drop or {}).items():
        target = logging.getLogger(emitter)
        if not any(isinstance(f, _DropKnown) for f in target.filters):
            target.addFilter(_DropKnown(fragments))
