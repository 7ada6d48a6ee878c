"""A configuration -> what its processing stage does (:class:`~.stage.ProcessingPlan`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Set
from pathlib import Path

from obisgate.errors import ConfigError
from obisgate.gateway.config_models import GatewayConfig, SignalConfig
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.processing.derived import SignalKey
from obisgate.gateway.processing.specs import Definition, DefinitionProblem, derived_specs
from obisgate.gateway.processing.stage import ProcessingPlan

__all__ = ["check_derived", "processing_plan"]

_LOGGER = logging.getLogger(__name__)


def _definition(signal: SignalConfig) -> Definition:
    return Definition(
        key=signal.key,
        source=signal.source,
        operation=signal.operation,
        sources=signal.sources or (),
        number_type=signal.number_type,
        unit=signal.unit,
        log=signal.logged,
    )


def _types(signals: Iterable[SignalConfig]) -> dict[str, dict[str, NumberType]]:
    types: dict[str, dict[str, NumberType]] = {}
    for signal in signals:
        types.setdefault(signal.device_alias, {})[signal.signal_alias] = signal.number_type
    return types


def check_derived(
    signals: Iterable[SignalConfig],
    enabled_devices: Set[str],
    invalid: Set[SignalKey] = frozenset(),
) -> list[DefinitionProblem]:
    """Every problem of the derived signals (enabled, of enabled devices) that only
    shows across signals: unknown or disabled sources, text sources, cycles.

    ``invalid``: signals whose rows did not validate (their problems are reported
    already); a derived signal using one gets no problem for it.
    """
    every = list(signals)
    served = {s.key for s in every if s.enable and s.device_alias in enabled_devices}
    definitions = [_definition(s) for s in every if s.derived and s.key in served]
    if not definitions:
        return []
    return derived_specs(definitions, _types(every), served, invalid)[1]


def processing_plan(
    config: GatewayConfig,
    *,
    devices: Set[str] | None = None,
    state_file: Path | None = None,
) -> ProcessingPlan:
    """The processing stage of ``config``'s enabled signals.

    Args:
        config: a loaded configuration.
        devices: the devices this gateway polls (a shard's; ``None``: every
            enabled one). Derived signals of other devices are left to their
            gateway; one using a signal of another shard's device is warned about
            (that source never updates here, so the result stays not topical).
        state_file: where the guards keep their last readings (``None``: in memory).

    Raises:
        ConfigError: a derived signal has a problem (not for a configuration that
            :func:`~obisgate.gateway.config.load_config` loaded, which refuses those).
    """
    served = config.served_signals
    local = {d.device_alias for d in config.enabled_devices} if devices is None else devices
    mine = [s for s in served if s.device_alias in local]
    guards = {}
    publishing = {}
    unguarded: set[SignalKey] = set()
    for signal in mine:
        rules = signal.guard_rules()
        if rules is not None:
            guards[signal.key] = rules
        elif signal.monotonic is False or signal.derived:
            unguarded.add(signal.key)
        publish = signal.publish_rules()
        if publish is not None:
            publishing[signal.key] = publish
    definitions = [_definition(s) for s in mine if s.derived]
    specs, problems = derived_specs(definitions, _types(config.signals), {s.key for s in served})
    if problems:
        raise ConfigError(
            "; ".join(f"{p.key[0]}/{p.key[1]}: {p.field}: {p.message}" for p in problems)
        )
    for spec in specs:
        elsewhere = sorted({f"{d}.{s}" for d, s in spec.sources if d not in local})
        if elsewhere:
            _LOGGER.warning(
                "%s/%s uses %s, polled by another shard: it stays not topical here",
                *spec.key,
                ", ".join(elsewhere),
            )
    return ProcessingPlan(
        guards=guards,
        totals_by_unit=True,
        unguarded=frozenset(unguarded),
        publishing=publishing,
        derived=tuple(specs),
        state_file=state_file,
        synchronous=config.storage.synchronous,
    )
