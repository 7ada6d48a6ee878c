"""Durable before visible: batches wait for the stores, then reach the live outputs in order.

The fan-out (:class:`~obisgate.gateway.outputs.base.Fanout`) hands a batch
first to the outputs that store it durably (``Output.durable``) and puts a
:class:`Waiting` in a :class:`ReleaseOrder`. Each store marks it done when it
has finished with the batch, stored or failed (a failure is that store's loss,
counted in its health, and never holds the others). When every store is done,
the batch and every batch before it that is done too go to the live outputs,
oldest first: whatever a live output shows is already in every store that took
it, so a ``kill -9`` cannot lose a reading that was shown.

A store that hangs, instead of failing, would hold the live outputs for as long:
at most ``bound`` batches wait (a store's backlog and one run in delivery); beyond
that the oldest is released anyway, with a warning when that starts. By then
that store's backlog is full and it is dropping (and counting) batches. A store
that only stalls for a while (within its backlog) holds the live outputs that
long and then releases what it stored at once, in order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence

from obisgate.gateway.updates import SignalUpdate

__all__ = ["ReleaseOrder", "Waiting"]

_LOGGER = logging.getLogger(__name__)


class Waiting:
    """One published batch on its way through the stores.

    Attributes:
        updates: the batch for the live outputs.
        every: the same readout with the readings a deadband held back (``None``:
            the same as ``updates``), for live outputs that keep every reading.
        stores: stores that took the batch and have not finished with it.
    """

    __slots__ = ("every", "stores", "updates")

    def __init__(
        self, updates: Sequence[SignalUpdate], every: Sequence[SignalUpdate] | None
    ) -> None:
        self.updates = updates
        self.every = every
        self.stores = 0


class ReleaseOrder:
    """Releases batches to the live outputs in the order they were published, each once
    no store holds it any more.

    Args:
        show: hands one released batch to the live outputs (``updates``, ``every``);
            never blocks.
        bound: batches that may wait at most; the oldest is released beyond it.
    """

    def __init__(
        self,
        show: Callable[[Sequence[SignalUpdate], Sequence[SignalUpdate] | None], None],
        *,
        bound: int,
    ) -> None:
        self._show = show
        self._bound = bound
        self._order: deque[Waiting] = deque()
        self._early = 0

    def __len__(self) -> int:
        """Batches waiting for a store."""
        return len(self._order)

    def add(self, waiting: Waiting) -> None:
        """Queue a published batch behind the others (its ``stores`` already counted)
        and release what is ready."""
        self._order.append(waiting)
        self.release()

    def release(self, *, everything: bool = False) -> None:
        """Show the oldest batches that no store holds, in order, stopping at the first
        one still held (``everything``: show them all, at close)."""
        order = self._order
        while order and (everything or order[0].stores <= 0 or len(order) > self._bound):
            waiting = order.popleft()
            if waiting.stores > 0 and not everything:
                if not self._early:
                    _LOGGER.warning(
                        "a store is %d batches behind: readings are shown before it has them",
                        self._bound,
                    )
                self._early += 1
            self._show(waiting.updates, waiting.every)
        if not order and self._early:
            _LOGGER.warning(
                "the stores caught up; %d batches were shown before they were stored",
                self._early,
            )
            self._early = 0
