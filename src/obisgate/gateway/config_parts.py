"""``run --workers N``: the configuration checked in its N shard parts at once.

The supervisor reads the file into raw rows once (:func:`~obisgate.gateway.config.
read_config_tables`: the parse), places them once for all shards
(:func:`~obisgate.gateway.config_shard.placement`: a device row by its connection and
group fields alone), and validates no row itself. :func:`check_parts` then forks one
child per shard (as many at a time as there are CPUs); each validates and
checks only the rows its shard keeps, exactly ``load_config(path, shard=)``
(:mod:`~obisgate.gateway.config_shard`), writes that part for its worker
(:mod:`~obisgate.gateway.shard_parts`), and reports its problems, warnings and
readiness (:func:`~obisgate.gateway.preflight.readiness`). The supervisor merges
the reports: every problem of every part, each once, in file order, so a
configuration that fails to load fails as it would loaded whole. A row no part can
place for sure (an alias given twice, a device without a valid alias or connection)
makes every part keep every row, so its problems are found too.

What only the whole file shows is decided on the merged reports: a throttle group
that no part has an enabled device of (each part warns about the groups it does not
poll), and whether any device is enabled at all. The warnings of several parts come
part by part (the load warnings in file order).

:func:`parts_apply` says when this is not done, and the supervisor loads the file
whole as before (:func:`~obisgate.gateway.config_build.build_config`): when reading
it found problems, when a shared server's section or signal columns are given (the
supervisor runs that server for every meter and needs every model; its columns are
checked across all signals), for an Excel or CSV source (its problems would not come
in the whole load's order), and where ``os.fork`` is missing.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obisgate.gateway.config_build import build_config, in_file_order
from obisgate.gateway.config_rows import ConfigFileError, ConfigProblem, RawTables
from obisgate.gateway.config_shard import Placement, placement
from obisgate.gateway.outputs.spec import OutputSpec
from obisgate.gateway.preflight import Readiness, readiness
from obisgate.gateway.shard import Shard
from obisgate.gateway.shard_parts import part_path, run_forked, usable_cpus, write_part
from obisgate.gcpause import paused_gc

__all__ = ["PartsReport", "check_parts", "parts_apply"]

Specs = Sequence[OutputSpec[Any]]


@dataclass(frozen=True)
class PartsReport:
    """What the whole configuration's load would have said, from its parts.

    Attributes:
        warnings: the load warnings, in file order.
        ready: the readiness of the whole configuration (``run`` refuses its problems).
    """

    warnings: tuple[ConfigProblem, ...]
    ready: Readiness


@dataclass
class _Report:
    """One part's report, as its child pickles it."""

    problems: tuple[ConfigProblem, ...] = ()
    warnings: tuple[ConfigProblem, ...] = ()
    ready: Readiness = field(default_factory=Readiness)
    enabled: bool = False


def parts_apply(tables: RawTables, specs: Specs) -> bool:
    """Whether ``tables`` can be checked in parts (see the module's docstring)."""
    if tables.problems or not hasattr(os, "fork") or not _one_text_file(tables.source):
        return False
    shared = [spec for spec in specs if spec.shared]
    if any(spec.name in tables.single for spec in shared):
        return False
    columns = frozenset(
        name
        for spec in shared
        if spec.columns is not None
        for name in spec.columns.model.model_fields
    )
    return not columns or not any(columns.intersection(row.fields) for row in tables.signals)


def _one_text_file(source: Path) -> bool:
    """A TOML file: every row has a line in one file, so the parts' problems go back into
    the whole load's order (an Excel row has no line; the problems of a CSV pair are
    ordered by the file the load met first)."""
    return not source.is_dir() and source.suffix.lower() not in (".csv", ".xlsx", ".xlsm")


def check_parts(
    tables: RawTables,
    specs: Specs,
    count: int,
    folder: Path,
    *,
    db: Path | None = None,
    at_once: int = 0,
) -> PartsReport:
    """Check ``tables`` in the parts of ``count`` shards, in forked children (``at_once``
    of them at a time; 0: one per CPU), each writing its part into ``folder``.

    Raises:
        ConfigFileError: the configuration has problems (all of them, each once).
        OSError: a child did not report (it could not write its part, or was killed).
    """
    at_once = at_once or usable_cpus()
    with paused_gc():  # once for all the parts
        placed = placement(tables.devices, tables.signals) if count > 1 else None
    shards = [Shard(i, count) for i in range(count)]
    crashed = run_forked(
        shards, at_once, lambda shard: _check_part(tables, specs, shard, placed, folder, db)
    )
    reports: list[_Report] = []
    failed: list[Shard] = []
    for shard in shards:
        report = _report_path(folder, shard)
        if shard in crashed or not report.exists():
            failed.append(shard)
            continue
        with paused_gc():
            reports.append(pickle.loads(report.read_bytes()))  # noqa: S301 - our child's
        report.unlink()
    if failed:
        names = ", ".join(str(shard) for shard in failed)
        raise OSError(f"cannot check the part of shard {names} in {folder}")
    try:
        return _merged(reports)
    except ConfigFileError:
        for index in range(count):  # a configuration that fails runs no worker
            part_path(folder, Shard(index, count)).unlink(missing_ok=True)
        raise


def _merged(reports: list[_Report]) -> PartsReport:
    problems = list(dict.fromkeys(p for r in reports for p in r.problems))
    if problems:
        raise ConfigFileError(in_file_order(problems))
    seen: dict[ConfigProblem, int] = {}
    for report in reports:
        for warning in dict.fromkeys(report.warnings):
            seen[warning] = seen.get(warning, 0) + 1
    # Each part warns about the groups none of its own enabled devices is in.
    warnings = [w for w, n in seen.items() if w.table != "groups" or n == len(reports)]
    ready = Readiness()
    if not any(report.enabled for report in reports):
        ready.problems.append("no enabled device in the configuration")
    for report in reports:
        ready.problems.extend(p for p in report.ready.problems if p not in ready.problems)
        ready.warnings.extend(w for w in report.ready.warnings if w not in ready.warnings)
        ready.outputs.extend(o for o in report.ready.outputs if o not in ready.outputs)
    return PartsReport(tuple(in_file_order(warnings)), ready)


def _check_part(
    tables: RawTables,
    specs: Specs,
    shard: Shard,
    placed: Placement | None,
    folder: Path,
    db: Path | None,
) -> None:
    """In a child: load ``shard``'s part of ``tables``, write it and the report."""
    with paused_gc():
        try:
            config = build_config(tables, specs, shard, placed)
        except ConfigFileError as exc:
            report = _Report(exc.problems, exc.warnings)
        else:
            ready = readiness(config, db=db, workers=shard.count, specs=specs, shard=shard)
            report = _Report((), config.warnings, ready, bool(config.enabled_devices))
            part = config.restricted({device.device_alias for device in config.devices})
            write_part(part, folder, shard)
        _report_path(folder, shard).write_bytes(pickle.dumps(report))


def _report_path(folder: Path, shard: Shard) -> Path:
    return folder / f"report-{shard.index}-of-{shard.count}.pickle"
