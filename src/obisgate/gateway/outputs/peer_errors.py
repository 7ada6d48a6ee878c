"""One rate-limited log line for what remote peers do wrong, never a traceback.

A server output (HTTP, Modbus TCP, IEC 104, OPC UA) that gets a malformed request,
a failed authentication or an accept error reports it here. The first report of a
window is logged in one line naming the peer and the reason; further reports in
the same window are only counted, and the count is logged with the next line
after the window has passed, so a flood of junk writes a few lines a minute
instead of one per frame. Every report is counted in :attr:`PeerErrorLog.total`
(exported by the HTTP output's metrics).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["PeerErrorLog"]


class PeerErrorLog:
    """Counts peer errors of one kind and logs at most one line per window.

    Args:
        logger: where the lines go (the output's own logger).
        what: the kind, first in each line (``"modbus: malformed request"``).
        window_s: at most one line per this many seconds.
        clock: monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.window_s = window_s
        self._clock = clock
        #: Every report since the start.
        self.total = 0
        self._suppressed = 0
        self._next_line_at: float | None = None

    def report(self, peer: str, reason: str, *, level: int = logging.WARNING) -> bool:
        """Count one error from ``peer``; log it unless a line was logged in this window.

        Returns:
            Whether a line was logged.
        """
        self.total += 1
        now = self._clock()
        if self._next_line_at is not None and now < self._next_line_at:
            self._suppressed += 1
            return False
        self._next_line_at = now + self.window_s
        if self._suppressed:
            self.logger.log(
                level,
                "%s from %s: %s (%d more since the last line)",
                self.what,
                peer,
                reason,
                self._suppressed,
            )
        else:
            self.logger.log(level, "%s from %s: %s", self.what, peer, reason)
        self._suppressed = 0
        return True
