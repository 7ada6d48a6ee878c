"""The processing stage: between the pollers and the fan-out, guards, derived signals, deadbands.

Every batch a poller or push listener publishes (one readout of one device)
goes through :meth:`ProcessingStage.publish`, on the event loop, synchronously:

1. each read signal's guard (:mod:`.guards`) checks its reading;
2. the derived signals using any of them (:mod:`.derived`) are computed, in
   dependency order, each through its own guard; those of the batch's device
   join the batch (before its ``_status``), those of other devices go out as a
   batch of their own per device (without ``_status``);
3. signals with ``publish = "change"`` (:mod:`.deadband`) hold back readings that
   did not move: the fan-out gives them only to the outputs that keep every
   reading (the SQLite history), not to MQTT, PostgreSQL, HTTP, SCADA or stdout.

Backfilled load-profile intervals go around the stage (``Fanout.publish_backfill``);
should one reach it anyway (``Quality.BACKFILLED``), it is handed on untouched:
no guard compares with it or remembers it, no derived signal uses it, since it is
an old interval, not a live reading.

What is worth an operator's attention is logged once per episode: the first
reading a guard rejects (then one line when the signal is valid again), a reset
or jump a guard accepted, the first failure of an expression (then one line
when it computes again). The stage never raises into a poller: an unexpected
error is logged (its type, once) and the batch goes out as it came.

The guards' last accepted readings and the delta / rate sources' previous ones
are kept in a state file (:mod:`.store`), loaded by :meth:`ProcessingStage.start`
and written by a task every 30 s (at once after a reset or jump) and at
:meth:`ProcessingStage.aclose`; a state file that cannot be used is logged and
the stage goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from obisgate.errors import ConfigError
from obisgate.gateway.processing.deadband import ChangeFilter, PublishRules
from obisgate.gateway.processing.derived import DerivedSignals, DerivedSpec, SignalKey
from obisgate.gateway.processing.guards import (
    Guard,
    GuardEvent,
    GuardRules,
    Verdict,
    is_total_unit,
)
from obisgate.gateway.processing.store import StateRow, StateStore
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["Deliver", "ProcessingPlan", "ProcessingStage"]

_LOGGER = logging.getLogger(__name__)

#: The guard of a signal that configures none but reads a total (by its unit).
_BY_UNIT = GuardRules()

Deliver = Callable[[Sequence[SignalUpdate], Sequence[SignalUpdate]], None]
"""Hands one batch to the fan-out: ``(published, every)``. ``every`` is the batch
with the held-back readings too (the same object when nothing was held back)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingPlan:
    """What the stage does, from the configuration.

    Attributes:
        guards: signal -> the guard rules it configures.
        totals_by_unit: every other signal whose readings come with a total's unit
            (kWh, m³ ... :data:`~obisgate.gateway.processing.guards.TOTAL_UNITS`) is
            guarded as a total (with the default rules), except those in ``unguarded``.
        unguarded: signals never guarded by unit (``monotonic = 0``, derived ones).
        publishing: signal -> its deadband and heartbeat (``publish = "change"`` only).
        derived: every enabled derived signal of an enabled device.
        state_file: where the guards' state is kept (``None``: only in memory).
        synchronous: the state file's SQLite ``synchronous``.
    """

    guards: Mapping[SignalKey, GuardRules] = field(default_factory=dict)
    totals_by_unit: bool = False
    unguarded: frozenset[SignalKey] = frozenset()
    publishing: Mapping[SignalKey, PublishRules] = field(default_factory=dict)
    derived: tuple[DerivedSpec, ...] = ()
    state_file: Path | None = None
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"

    @property
    def empty(self) -> bool:
        """Nothing to do: batches pass unchanged."""
        return not (self.guards or self.totals_by_unit or self.publishing or self.derived)


@dataclass(slots=True)
class StageCounters:
    """What the stage did since the start (``Gateway.stats()["processing"]``)."""

    rejected: int = 0
    resets: int = 0
    jumps: int = 0
    evaluation_errors: int = 0
    held_back: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "rejected": self.rejected,
            "resets": self.resets,
            "jumps": self.jumps,
            "evaluation_errors": self.evaluation_errors,
            "held_back": self.held_back,
        }


class ProcessingStage:
    """Guards, derived signals and deadbands between the pollers and the fan-out.

    Args:
        plan: what to do.
        deliver: where processed batches go (the fan-out).
        flush_interval_s: how often changed state is written to the state file.

    Attributes:
        counters: what it did since the start.
        written: set each time changed state was written to the state file.
    """

    def __init__(
        self, plan: ProcessingPlan, deliver: Deliver, *, flush_interval_s: float = 30.0
    ) -> None:
        self.plan = plan
        self.counters = StageCounters()
        self._deliver = deliver
        self._flush_interval_s = flush_interval_s
        self._guards = {key: Guard(rules) for key, rules in plan.guards.items()}
        self._units: dict[str | None, bool] = {}
        self._filters = {key: ChangeFilter(rules) for key, rules in plan.publishing.items()}
        self._derived = DerivedSignals(plan.derived)
        self._failing: set[SignalKey] = set()
        self._broken: type[BaseException] | None = None
        self._store: StateStore | None = None
        self._pending: dict[tuple[str, str, str], StateRow] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._urgent = asyncio.Event()
        self._store_error: str | None = None
        #: Set each time changed state was written to the state file.
        self.written = asyncio.Event()

    # -- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Load the state file (if any) and start writing it; never raises for the file."""
        path = self.plan.state_file
        if path is None or self.plan.empty:
            return
        try:
            self._store = await asyncio.to_thread(
                StateStore, path, synchronous=self.plan.synchronous
            )
            rows = await asyncio.to_thread(self._store.load)
        except (ConfigError, sqlite3.Error) as exc:
            _LOGGER.error("%s; guards start without their last readings", exc)  # noqa: TRY400
            if self._store is not None:
                self._store.close()
            self._store = None
            return
        previous = {}
        for device, signal, kind, value, time in rows:
            key = (device, signal)
            if kind == "guard":
                guard = self._guards.get(key)
                if guard is None and self.plan.totals_by_unit and key not in self.plan.unguarded:
                    guard = self._guards[key] = Guard(_BY_UNIT)
                if guard is not None and guard.rules.stateful:
                    guard.last = (value, time)
            else:
                previous[key] = (value, time)
        self._derived.restore(previous)
        self._flusher = asyncio.create_task(self._flush_loop(), name="guard-state")

    async def aclose(self) -> None:
        """Write what changed and close the state file."""
        self._stop.set()
        self._urgent.set()  # ends the flusher's wait at once
        if self._flusher is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
            self._flusher = None
        if self._store is not None:
            await self._flush()
            await asyncio.to_thread(self._store.close)
            self._store = None

    async def _flush_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval_s):
                    await self._urgent.wait()
            self._urgent.clear()
            try:
                await self._flush()
            except Exception:  # a bug: the stage goes on in memory
                _LOGGER.exception("writing the guard state failed; it is kept in memory only")
                return

    async def _flush(self) -> None:
        store = self._store
        if store is None:
            return
        self._collect()
        if not self._pending:
            return
        rows = list(self._pending.values())
        self._pending.clear()
        try:
            await asyncio.to_thread(store.save, rows)
        except sqlite3.Error as exc:
            for row in rows:  # written with the next flush, unless a newer one replaces it
                self._pending.setdefault(row[:3], row)
            reason = f"cannot write the guard state {store.path}: {exc}"
            if self._store_error != reason:
                _LOGGER.error("%s; retried in %g s", reason, self._flush_interval_s)  # noqa: TRY400
            self._store_error = reason
            return
        if self._store_error is not None:
            _LOGGER.warning("the guard state %s is written again", store.path)
            self._store_error = None
        self.written.set()

    def _collect(self) -> None:
        """Move every changed reading into the rows to write."""
        for key, guard in self._guards.items():
            if guard.changed and guard.rules.stateful and guard.last is not None:
                guard.changed = False
                self._pending[(*key, "guard")] = (*key, "guard", *guard.last)
        derived = self._derived
        for key in derived.changed_previous:
            value, time = derived.previous[key]
            self._pending[(*key, "previous")] = (*key, "previous", value, time)
        derived.changed_previous.clear()

    # -- the stage -----------------------------------------------------------------

    def publish(self, batch: Sequence[SignalUpdate]) -> None:
        """Process one batch (one readout of one device) and hand the result on.

        Never raises and never blocks.
        """
        if self.plan.empty:
            self._deliver(batch, batch)
            return
        try:
            batches = self._process(batch)
        except Exception as exc:
            if self._broken is not type(exc):
                _LOGGER.exception("processing a batch failed; it is published unprocessed")
                self._broken = type(exc)
            self._deliver(batch, batch)
            return
        for every in batches:
            if not every:
                continue
            published = self._published(every)
            self._deliver(published, every)

    def _process(self, batch: Sequence[SignalUpdate]) -> list[list[SignalUpdate]]:
        """The batch after the guards, with the derived signals it caused (grouped by device)."""
        main: list[SignalUpdate] = []
        used: list[SignalKey] = []
        derived = self._derived
        for given in batch:
            update = given
            if update.signal != STATUS_SIGNAL and (
                update.quality is Quality.VALID or Quality.BACKFILLED not in update.quality
            ):
                key = (update.device, update.signal)
                update = self._guarded(key, update)
                if derived.uses(key):
                    derived.record(update)
                    used.append(key)
            main.append(update)
        if not used:
            return [main]
        device = batch[0].device
        same: list[SignalUpdate] = []
        others: dict[str, list[SignalUpdate]] = {}
        for spec in derived.affected(used):
            result = derived.compute(spec)
            if result is None:
                continue
            self._evaluated(spec, result.error)
            update = self._guarded(spec.key, result.update)
            derived.record(update)
            if update.device == device:
                same.append(update)
            else:
                others.setdefault(update.device, []).append(update)
        if same:
            at = len(main) - 1 if main and main[-1].signal == STATUS_SIGNAL else len(main)
            main[at:at] = same
        return [main, *others.values()]

    def _guarded(self, key: SignalKey, update: SignalUpdate) -> SignalUpdate:
        guard = self._guards.get(key)
        if guard is None:
            if not self._by_unit(key, update.unit):
                return update
            guard = self._guards[key] = Guard(_BY_UNIT)
        before = guard.rejected
        checked, event = guard.check(update)
        if guard.rejected > before:
            self.counters.rejected += 1
        if event is not None:
            self._report(key, event)
        return checked

    def _by_unit(self, key: SignalKey, unit: str | None) -> bool:
        """Whether a signal without a guard gets the default one now (see ``totals_by_unit``)."""
        if not self.plan.totals_by_unit or key in self.plan.unguarded:
            return False
        total = self._units.get(unit)
        if total is None:
            total = self._units[unit] = is_total_unit(unit)
        return total

    def _report(self, key: SignalKey, event: GuardEvent) -> None:
        name = f"{key[0]}/{key[1]}"
        if event.verdict is Verdict.REJECTED:
            _LOGGER.warning("%s: %s", name, event.message)
        elif event.verdict is Verdict.VALID_AGAIN:
            _LOGGER.info("%s: %s", name, event.message)
        else:
            if event.verdict is Verdict.RESET:
                self.counters.resets += 1
            else:
                self.counters.jumps += 1
            _LOGGER.warning("%s: %s", name, event.message)
            self._urgent.set()

    def _evaluated(self, spec: DerivedSpec, error: str | None) -> None:
        key = spec.key
        if error is not None:
            self.counters.evaluation_errors += 1
            if key not in self._failing:
                self._failing.add(key)
                _LOGGER.warning(
                    "%s/%s: %s has no valid result (%s)", key[0], key[1], spec.text, error
                )
        elif key in self._failing:
            self._failing.discard(key)
            _LOGGER.info("%s/%s: %s computes again", key[0], key[1], spec.text)

    def _published(self, every: list[SignalUpdate]) -> Sequence[SignalUpdate]:
        filters = self._filters
        if not filters:
            return every
        published = [
            u for u in every if (f := filters.get((u.device, u.signal))) is None or f.publish(u)
        ]
        held = len(every) - len(published)
        if not held:
            return every
        self.counters.held_back += held
        return published
