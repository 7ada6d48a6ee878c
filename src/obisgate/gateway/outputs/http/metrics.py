"""``/metrics``: the gateway in the Prometheus text exposition, built at scrape time.

Imported only by :mod:`obisgate.gateway.outputs.http.output` after
``require_extra("prometheus_client", "web", "http")`` succeeded.

Each scrape takes a :class:`MetricsSnapshot` on the event loop (plain copies:
cheap, and the outputs' health functions run where they expect to), then
:func:`render_metrics` builds and encodes the exposition on a worker thread
(10 000 signals take about half a second of CPU there, which the event loop
must not wait for). One :class:`GatewayCollector` on its own
``CollectorRegistry`` (never the process-wide default registry) holds:

* per signal (numeric values only): ``obisgate_signal_value{device,signal,unit}``
  (as the meter's unit, whatever it is), ``obisgate_signal_quality{device,signal}``
  (the quality bits, 0 = valid) and ``obisgate_signal_timestamp_seconds{device,signal}``
  (when the value was read);
* per signal whose unit measures a known quantity, the value converted to that
  quantity's one unit, named in the metric (:data:`obisgate.gateway.units.QUANTITIES`):
  ``obisgate_power_watts``, ``obisgate_voltage_volts``, ``obisgate_current_amperes``,
  ``obisgate_frequency_hertz``, ``obisgate_temperature_celsius`` ... as gauges, and
  the registers that only grow as counters: ``obisgate_energy_watt_hours_total``,
  ``obisgate_reactive_energy_var_hours_total``, ``obisgate_volume_cubic_meters_total``
  (labels ``device``, ``signal``), so a kW meter and a W meter land in one series; a
  signal that may go down (``SignalConfig.may_decrease``: ``monotonic = 0``, a net energy
  derived from others) is no counter, so it is only in ``obisgate_signal_value``;
* ``obisgate_build_info{version,python}``, always 1;
* per device: ``obisgate_device_up``, ``obisgate_device_readouts_total{result="ok"|"failed"}``,
  ``obisgate_device_missed_scans_total``, ``obisgate_device_readout_duration_seconds``
  (a summary: count and sum) and ``obisgate_device_last_readout_duration_seconds``;
* per device with a load profile (its backfill): ``obisgate_device_backfill_pending_intervals``,
  ``obisgate_device_backfill_intervals_total``, ``obisgate_device_backfill_sessions_total``,
  ``obisgate_device_backfill_failures_total`` and ``obisgate_device_backfill_phase{phase}``
  (1 for its current phase: idle, waiting, reading, retrying, gave up, refused);
* per gateway: ``obisgate_devices``, ``obisgate_lines``, ``obisgate_missed_scans_total``,
  ``obisgate_dropped_batches_total{output}``, ``obisgate_output_failed{output}``, and the
  processing stage's ``obisgate_processing_rejected_total`` (readings a guard refused),
  ``_resets_total``, ``_jumps_total``, ``_evaluation_errors_total``, ``_held_back_total``;
* read success (scheduled reads: polls made for a slot of the schedule, and missed
  scans), per device, line, throttle group and shard:
  ``obisgate_{device,line,group,shard}_scheduled_reads_total``,
  ``..._succeeded_reads_total``, ``..._read_success_ratio``,
  ``..._read_lateness_seconds{quantile}`` (0.5, 0.95, 0.99; from a histogram with
  fixed buckets), ``obisgate_{line,group,shard}_missed_scans_total``,
  ``obisgate_shard_read_lateness_seconds_bucket{le}`` (the histogram itself),
  ``obisgate_{device,shard}_priority_reads_total``; per group
  ``obisgate_group_max_sessions``, ``obisgate_group_sessions`` (open now),
  ``obisgate_group_waiting`` (polls waiting now), ``obisgate_group_waiting_polls_total``
  and ``obisgate_group_wait_seconds_total``;
* per output (its :class:`~obisgate.gateway.outputs.health.OutputHealth`, the same
  for every output): ``obisgate_output_up{output}`` (1 when running),
  ``obisgate_output_state{output,state}`` (1 for its current state, 0 for the
  others) and one ``obisgate_<output>_<counter>`` per counter (a name ending in
  ``_total`` is a counter, any other a gauge), e.g. ``obisgate_mqtt_outbox_depth``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import CollectorRegistry

from obisgate.gateway.outputs.context import OutputContext, ReadFigures
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.outputs.http.state import LiveState
from obisgate.gateway.readstats import LATENESS_BUCKETS_S, QUANTILES, ReadStats
from obisgate.gateway.units import QUANTITIES, unit_info
from obisgate.gateway.updates import SignalUpdate

__all__ = ["GatewayCollector", "MetricsSnapshot", "number", "render_metrics"]

_LOGGER = logging.getLogger(__name__)

_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]")
#: The phases of a backfill (``obisgate.gateway.backfill.device.Phase``).
_BACKFILL_PHASES = ("idle", "waiting", "reading", "retrying", "gave up", "refused")


def number(value: Any) -> float | None:
    """``value`` as a sample value: numbers and true/false; ``None`` for anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


#: The processing stage's counters (``Gateway.stats()["processing"]``) and their help.
_PROCESSING = (
    ("rejected", "Readings a guard refused (published invalid)."),
    ("resets", "Lower totals a guard accepted as a meter reset after reset_confirm readings."),
    ("jumps", "Changes beyond max_rate a guard accepted after reset_confirm readings."),
    ("evaluation_errors", "Derived signals computed without a result (invalid or overflow)."),
    ("held_back", "Readings publish = change held back from all outputs but the history."),
)


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Everything one scrape shows, copied on the event loop.

    Attributes:
        latest: the latest update of every signal.
        devices: device alias -> up (``None`` before the first readout),
            readouts seen, failures seen.
        stats: the gateway's counters.
        device_stats: the gateway's per-device counters (empty without a gateway).
        health: output name -> its health.
        backfill: device alias -> its backfill's progress (devices with a load profile).
        decreasing: ``(device, signal)`` of the signals that may go down: never in a
            counter family.
        reads: the read-success figures (empty without a gateway).
    """

    latest: list[SignalUpdate]
    devices: dict[str, tuple[bool | None, int, int]]
    stats: dict[str, Any]
    device_stats: dict[str, dict[str, float]]
    health: dict[str, OutputHealth]
    backfill: dict[str, dict[str, Any]]
    decreasing: frozenset[tuple[str, str]] = frozenset()
    reads: ReadFigures = field(default_factory=ReadFigures)

    @classmethod
    def take(cls, state: LiveState, context: OutputContext) -> MetricsSnapshot:
        """Copy what a scrape needs; call on the event loop."""
        health = dict(context.health())
        return cls(
            latest=list(state.latest.values()),
            devices={a: (v.up, v.readouts, v.failures) for a, v in state.devices.items()},
            stats=dict(context.stats()),
            device_stats=dict(context.device_stats()),
            health=health,
            reads=context.read_figures(),
            backfill={alias: dict(p) for alias, p in context.backfill().items()},
            decreasing=state.decreasing(),
        )


def render_metrics(snapshot: MetricsSnapshot, accept: str = "") -> tuple[bytes, str]:
    """The exposition of ``snapshot`` and its content type: the Prometheus text
    format, or OpenMetrics when ``accept`` asks for it. Safe on any thread."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(snapshot))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class GatewayCollector:
    """Builds every metric family from one :class:`MetricsSnapshot`."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Every family (called by the exposition)."""
        yield _build_info()
        yield from self._signals()
        yield from self._quantities()
        yield from self._devices()
        yield from self._backfill()
        yield from self._gateway(self.snapshot.stats)
        yield from self._reads(self.snapshot.reads)
        yield from self._health()

    def _signals(self) -> Iterator[Metric]:
        value = GaugeMetricFamily(
            "obisgate_signal_value",
            "Latest value of a numeric signal (last known value while not topical).",
            labels=["device", "signal", "unit"],
        )
        quality = GaugeMetricFamily(
            "obisgate_signal_quality",
            "Quality bits of the latest value: 0 valid, 1 invalid, 2 not topical, 4 overflow.",
            labels=["device", "signal"],
        )
        stamp = GaugeMetricFamily(
            "obisgate_signal_timestamp_seconds",
            "When the latest value was read (Unix time).",
            labels=["device", "signal"],
        )
        for update in self.snapshot.latest:
            sample = number(update.value)
            if sample is None:
                continue
            device, signal = update.device, update.signal
            value.add_metric([device, signal, update.unit or ""], sample)
            quality.add_metric([device, signal], float(update.quality.value))
            stamp.add_metric([device, signal], update.time.timestamp())
        yield from (value, quality, stamp)

    def _quantities(self) -> Iterator[Metric]:
        """Each numeric value in its quantity's one unit (``kWh`` -> ``Wh``)."""
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for update in self.snapshot.latest:
            sample = number(update.value)
            info = unit_info(update.unit) if sample is not None else None
            if sample is None or info is None or info.quantity is None:
                continue
            quantity = info.quantity
            if quantity.counter and (update.device, update.signal) in self.snapshot.decreasing:
                continue  # a counter that goes down would read as a counter reset
            family = families.get(quantity.name)
            if family is None:
                labels = ["device", "signal"]
                family = families[quantity.name] = (
                    CounterMetricFamily(quantity.metric, quantity.help, labels=labels)
                    if quantity.counter
                    else GaugeMetricFamily(quantity.metric, quantity.help, labels=labels)
                )
            family.add_metric([update.device, update.signal], sample * info.factor)
        for name in QUANTITIES:  # a stable order
            if name in families:
                yield families[name]

    def _devices(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "obisgate_device_up", "1 when the last readout succeeded, else 0.", labels=["device"]
        )
        for alias, (is_up, _, _) in self.snapshot.devices.items():
            if is_up is not None:
                up.add_metric([alias], float(is_up))
        yield up
        readouts = CounterMetricFamily(
            "obisgate_device_readouts",
            "Readouts of a device (after retries), by result.",
            labels=["device", "result"],
        )
        missed = CounterMetricFamily(
            "obisgate_device_missed_scans",
            "Scans skipped because a readout of the device overran its scan period.",
            labels=["device"],
        )
        duration = SummaryMetricFamily(
            "obisgate_device_readout_duration_seconds",
            "Time spent reading a device, retries included.",
            labels=["device"],
        )
        last = GaugeMetricFamily(
            "obisgate_device_last_readout_duration_seconds",
            "Duration of the last readout of a device, retries included.",
            labels=["device"],
        )
        per_device = self.snapshot.device_stats
        if per_device:
            for alias, counters in per_device.items():
                polls, failures = int(counters["polls"]), int(counters["failures"])
                readouts.add_metric([alias, "ok"], polls - failures)
                readouts.add_metric([alias, "failed"], failures)
                missed.add_metric([alias], counters["missed_scans"])
                duration.add_metric([alias], polls, counters["total_duration_s"])
                if polls:
                    last.add_metric([alias], counters["last_duration_s"])
        else:  # not run by a Gateway (tests, embedding): what the batches told
            for alias, (_, seen, failures) in self.snapshot.devices.items():
                readouts.add_metric([alias, "ok"], seen - failures)
                readouts.add_metric([alias, "failed"], failures)
        yield from (readouts, missed, duration, last)

    def _backfill(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "obisgate_device_backfill_pending_intervals",
            "Load-profile intervals a device's backfill has still to read.",
            labels=["device"],
        )
        counters = {
            key: CounterMetricFamily(
                f"obisgate_device_backfill_{key.removesuffix('_total')}", text, labels=["device"]
            )
            for key, text in (
                ("intervals_total", "Load-profile intervals a backfill read and published."),
                ("sessions_total", "Programming sessions a backfill started."),
                ("failures_total", "Backfill sessions that failed."),
            )
        }
        phase = GaugeMetricFamily(
            "obisgate_device_backfill_phase",
            "1 for the current phase of a device's backfill, 0 for the others.",
            labels=["device", "phase"],
        )
        for alias, progress in self.snapshot.backfill.items():
            pending.add_metric([alias], float(progress["pending_intervals"]))
            for key, family in counters.items():
                family.add_metric([alias], float(progress[key]))
            for each in _BACKFILL_PHASES:
                phase.add_metric([alias, each], float(progress["phase"] == each))
        if self.snapshot.backfill:
            yield pending
            yield from counters.values()
            yield phase

    @staticmethod
    def _gateway(stats: dict[str, Any]) -> Iterator[Metric]:
        for key, name, kind, text in (
            ("devices", "obisgate_devices", GaugeMetricFamily, "Devices polled."),
            ("lines", "obisgate_lines", GaugeMetricFamily, "Lines (ports) polled concurrently."),
            (
                "missed_scans",
                "obisgate_missed_scans",
                CounterMetricFamily,
                "Scans skipped because a readout overran its scan period (all devices).",
            ),
        ):
            sample = number(stats.get(key))
            if sample is not None:
                yield kind(name, text, value=sample)
        processing = dict(stats.get("processing", {}))
        for key, text in _PROCESSING:
            sample = number(processing.get(key))
            if sample is not None:
                yield CounterMetricFamily(f"obisgate_processing_{key}", text, value=sample)
        dropped = CounterMetricFamily(
            "obisgate_dropped_batches",
            "Batches an output dropped (its queue was full, or publishing failed).",
            labels=["output"],
        )
        for output, count in dict(stats.get("dropped_batches", {})).items():
            dropped.add_metric([str(output)], float(count))
        failed = GaugeMetricFamily(
            "obisgate_output_failed",
            "1 for an output that failed to start and is off.",
            labels=["output"],
        )
        failed_outputs = dict(stats.get("failed_outputs", {}))
        for output in dict(stats.get("dropped_batches", {})):
            failed.add_metric([str(output)], float(output in failed_outputs))
        yield from (dropped, failed)

    @staticmethod
    def _reads(figures: ReadFigures) -> Iterator[Metric]:
        levels: list[tuple[str, str, list[tuple[str, ReadStats]]]] = [
            ("device", "device", [(a, s) for a, (_, _, s) in figures.devices.items()]),
            ("line", "line", list(figures.lines().items())),
            ("group", "group", [(g, f[0]) for g, f in figures.groups.items()]),
            ("shard", "shard", list(figures.shard_totals().items())),
        ]
        for level, label, rows in levels:
            yield from _read_families(level, label, rows)
        histogram = HistogramMetricFamily(
            "obisgate_shard_read_lateness_seconds",
            "How long after its slot a scheduled poll began (line and group waits included).",
            labels=["shard"],
        )
        for name, shard in figures.shard_totals().items():
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(
                (*LATENESS_BUCKETS_S, float("inf")), shard.histogram(), strict=True
            ):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cumulative))
            histogram.add_metric([name], buckets, shard.lateness_sum_s)
        yield histogram
        limit = GaugeMetricFamily(
            "obisgate_group_max_sessions", "The group's session limit.", labels=["group"]
        )
        sessions = GaugeMetricFamily(
            "obisgate_group_sessions", "Sessions of the group open now.", labels=["group"]
        )
        waiting = GaugeMetricFamily(
            "obisgate_group_waiting",
            "Polls waiting for a session of the group now.",
            labels=["group"],
        )
        groups = figures.groups
        for group, (_, most, open_now, waiting_now, _, _, _) in groups.items():
            if most is not None:
                limit.add_metric([group], float(most))
            sessions.add_metric([group], float(open_now))
            waiting.add_metric([group], float(waiting_now))
        yield from (limit, sessions, waiting)
        waited = CounterMetricFamily(
            "obisgate_group_waiting_polls",
            "Polls that found their group full and waited for a session.",
            labels=["group"],
        )
        seconds = CounterMetricFamily(
            "obisgate_group_wait_seconds",
            "Time polls waited for a session of their group.",
            labels=["group"],
        )
        for group, (_, _, _, _, polls, wait_s, _) in groups.items():
            waited.add_metric([group], float(polls))
            seconds.add_metric([group], wait_s)
        yield from (waited, seconds)

    def _health(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "obisgate_output_up", "1 when the output is running, else 0.", labels=["output"]
        )
        state = GaugeMetricFamily(
            "obisgate_output_state",
            "1 for the output's current state, 0 for the others.",
            labels=["output", "state"],
        )
        for output, health in self.snapshot.health.items():
            up.add_metric([output], float(health.up))
            for each in OutputState:
                state.add_metric([output, each.value], float(each is health.state))
        yield from (up, state)
        taken = {
            "obisgate_group_sessions",
            "obisgate_group_waiting",
            "obisgate_signal_value",
            "obisgate_signal_quality",
            "obisgate_signal_timestamp_seconds",
            "obisgate_devices",
            "obisgate_lines",
            "obisgate_missed_scans",
            "obisgate_dropped_batches",
        }
        for output, health in self.snapshot.health.items():
            for key, raw in health.counters.items():
                sample = number(raw)
                if sample is None:
                    continue
                name = _NOT_NAME.sub("_", f"obisgate_{output}_{key}").lower()
                counter = name.endswith("_total")
                name = name.removesuffix("_total")
                if name in taken or name.startswith(
                    (
                        "obisgate_device_",
                        "obisgate_signal_",
                        "obisgate_output_",
                        "obisgate_line_",
                        "obisgate_group_",
                        "obisgate_shard_",
                    )
                ):
                    continue
                taken.add(name)
                kind = CounterMetricFamily if counter else GaugeMetricFamily
                yield kind(name, _counter_help(output, key), value=sample)


def _read_families(level: str, label: str, rows: list[tuple[str, ReadStats]]) -> Iterator[Metric]:
    """The read-success families of one level (device, line, group or shard)."""
    prefix = f"obisgate_{level}_"
    scheduled = CounterMetricFamily(
        prefix + "scheduled_reads",
        f"Slots of the {level}'s schedules that came due (polls made, and missed scans).",
        labels=[label],
    )
    succeeded = CounterMetricFamily(
        prefix + "succeeded_reads",
        f"Scheduled polls of the {level} that succeeded.",
        labels=[label],
    )
    ratio = GaugeMetricFamily(
        prefix + "read_success_ratio",
        f"Share of the {level}'s scheduled reads that succeeded.",
        labels=[label],
    )
    lateness = GaugeMetricFamily(
        prefix + "read_lateness_seconds",
        f"Lateness of the {level}'s scheduled polls (from a histogram), by quantile.",
        labels=[label, "quantile"],
    )
    missed = CounterMetricFamily(
        prefix + "missed_scans",
        f"Slots of the {level}'s schedules skipped while a poll overran.",
        labels=[label],
    )
    priority = CounterMetricFamily(
        prefix + "priority_reads", f"Priority reads of the {level}.", labels=[label]
    )
    for name, stats in rows:
        scheduled.add_metric([name], stats.scheduled)
        succeeded.add_metric([name], stats.succeeded)
        share = stats.success_share
        if share is not None:
            ratio.add_metric([name], share)
        if stats.polls:
            for q in QUANTILES:
                value = stats.percentile(q)
                if value is not None:
                    lateness.add_metric([name, f"{q:g}"], value)
        missed.add_metric([name], stats.missed)
        priority.add_metric([name], stats.priority)
    yield from (scheduled, succeeded, ratio, lateness)
    if level != "device":  # obisgate_device_missed_scans_total exists already
        yield missed
    if level in ("device", "shard"):
        yield priority


#: HELP texts of the outputs' counters, by counter name (``{output}``: its name).
_COUNTER_HELP = {
    "sent_total": "Messages the {output} output handed to its peer.",
    "dropped_total": "Readings the {output} output dropped (its queue was full).",
    "outbox_dropped_total": "Readings the {output} output's outbox dropped, being full.",
    "outbox_depth": "Readings waiting in the {output} output's outbox.",
    "stored_total": "Readings the {output} output stored.",
    "not_stored": "Readings the {output} output could not store (last failure).",
    "inserted_total": "Rows the {output} output inserted.",
    "dead_letters_total": "Rows the {output} output's database refused (kept as dead letters).",
    "reads_total": "Requests the {output} server answered.",
    "refused_total": "Connections the {output} server refused (its limit was reached).",
    "rejected_clients_total": "Clients the {output} server rejected.",
    "clients": "Clients connected to the {output} server.",
}


def _counter_help(output: str, key: str) -> str:
    """A HELP text for counter ``key`` of ``output``: a known one, else its name in words."""
    known = _COUNTER_HELP.get(key)
    if known is not None:
        return known.format(output=output)
    words = key.removesuffix("_total").replace("_", " ")
    kind = "Count" if key.endswith("_total") else "Current value"
    return f"{kind} of {words} of the {output} output."


@functools.cache
def _version() -> str:
    """The installed obisgate's version (``unknown`` when it is not installed)."""
    try:
        return importlib.metadata.version("obisgate")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _build_info() -> Metric:
    """``obisgate_build_info``: 1, with the version and the Python running it."""
    info = GaugeMetricFamily(
        "obisgate_build_info",
        "The obisgate version and the Python that runs it (always 1).",
        labels=["version", "python"],
    )
    info.add_metric([_version(), platform.python_version()], 1.0)
    return info
