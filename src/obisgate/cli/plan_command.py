"""``obisgate plan CONFIG [--shard I/N] [--device ALIAS] [--format text|json]``.

Without ``--device``: the lines (and the devices on them) that an instance polls. With
``--device``: that device's read plan: its rate groups, schedule and throttle group,
and for each kind of poll every request that could serve it with its wire time,
estimated from the line rate and the size of the last readout (from the readout sizes
file ``obisgate run`` keeps beside the history), the chosen one marked.
"""

from __future__ import annotations

import json
from typing import Any

import click

from obisgate.cli.common import fail
from obisgate.cli.main import main
from obisgate.cli.shard_options import shard_option
from obisgate.errors import ConfigError
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.readplan import Alternative, DevicePlanner, ReadSize, alternatives, choose
from obisgate.gateway.readsizes import load_sizes, read_sizes_files
from obisgate.gateway.shard import Shard, group_lines, line_owner, placement_key

__all__ = ["plan"]


@main.command()
@click.argument("config", type=click.Path(exists=True))
@shard_option
@click.option("--device", "device", metavar="ALIAS", help="Show this device's read plan.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def plan(config: str, shard: Shard | None, device: str | None, fmt: str) -> None:
    """List the lines (port or converter endpoint) and devices that instance I of N polls,
    or with --device one device's read plan.

    Without --shard: every line. A line whose devices are in a throttle group is placed
    by its group (all lines of a group go to one instance). Exit status 2 for a bad
    configuration, --shard or --device. JSON: {"shard": "I/N", "lines": [{"line": KEY,
    "devices": [ALIAS, ...]}], "total_lines": L, "total_devices": D}.

    With --device: the device's scan rates (signals with their own scan_rate_ms form
    rate groups), the offset of its polls within the scan, its throttle group, and for
    each kind of poll (every rate group's slot, and a priority read of everything) the
    requests that could serve it: the readout, each list in list_requests, register
    reads (register_reads = 1), each with its estimated wire time from the line rate and
    the size of the last readout (recorded by obisgate run beside the history, in
    *.readsizes.json); the chosen one is marked with *.

    \b
    Examples:
      obisgate plan site.toml --shard 1/3 --format json
      obisgate plan site.toml --device meter1
    """
    try:
        loaded = load_config(config)
        plans = plans_from_config(loaded)
    except ConfigError as exc:
        fail(str(exc).replace("\n", "\n  "), 2)
    if device is not None:
        chosen = next((p for p in plans if p.alias == device), None)
        if chosen is None:
            known = ", ".join(p.alias for p in plans[:10]) or "none"
            fail(f"--device {device!r}: no enabled device with that alias (devices: {known})", 2)
        _device_plan(loaded, chosen, fmt)
        return
    lines = group_lines(plans)
    shard = shard or Shard(0, 1)
    owned = {
        key: [p.alias for p in members]
        for key, members in lines.items()
        if line_owner(placement_key(key, members), shard.count) == shard.index
    }
    devices = sum(len(aliases) for aliases in owned.values())
    if fmt == "json":
        item = {
            "shard": str(shard),
            "lines": [{"line": key, "devices": aliases} for key, aliases in owned.items()],
            "total_lines": len(lines),
            "total_devices": len(plans),
        }
        click.echo(json.dumps(item, indent=1))
        return
    click.echo(
        f"shard {shard}: {len(owned)} of {len(lines)} lines, {devices} of {len(plans)} devices"
    )
    for key, aliases in owned.items():
        click.echo(f"{key}  {' '.join(aliases)}")


def _device_plan(config: GatewayConfig, device: DevicePlan, fmt: str) -> None:
    """Print one device's read plan (see :func:`plan`)."""
    files = read_sizes_files(config.storage.path)
    size = load_sizes(*files).get(device.alias)
    periods = device.rate_periods
    planner = DevicePlanner(device)
    polls = []
    for mask, title in _poll_kinds(periods):
        due = planner.due(mask)
        found = alternatives(device, due, size)
        try:
            best: Alternative | None = choose(found, sized=size is not None)
        except ValueError:
            best = None
        polls.append((title, due, found, best))
    group = device.group
    limit = config.max_sessions(group) if group is not None else None
    if fmt == "json":
        item: dict[str, Any] = {
            "device": device.alias,
            "line": device.port_key,
            "group": group,
            "max_sessions": limit,
            "scan_rate_s": device.scan_rate_s,
            "phase_s": None if device.phase_s is None else round(device.phase_s, 3),
            "last_readout": None if size is None else _size_json(size),
            "polls": [
                {
                    "when": title,
                    "signals": [s.alias for s in due],
                    "alternatives": [
                        {
                            "kind": a.kind.value,
                            "request": a.request,
                            "seconds": None if a.seconds is None else round(a.seconds, 3),
                            "usable": a.usable,
                            "chosen": a is best,
                            "note": a.why,
                        }
                        for a in found
                    ],
                }
                for title, due, found, best in polls
            ],
        }
        click.echo(json.dumps(item, indent=1))
        return
    click.echo(f"device {device.alias}  line {device.port_key}")
    if group is not None:
        shown = "no limit" if limit is None else f"max_sessions {limit}"
        click.echo(f"throttle group {group} ({shown})")
    if device.phase_s is None:
        click.echo(f"scan {device.scan_rate_s:g} s, first polls spread from the start (scan_align)")
    else:
        click.echo(
            f"scan {device.scan_rate_s:g} s, polls at {device.phase_s:.3f} s past each "
            "multiple of the scan on the clock (stable offset of the alias)"
        )
    if size is None:
        where = ", ".join(str(f) for f in files) or "no readout sizes file"
        click.echo(f"last readout: none recorded ({where}); estimates are lower bounds")
    else:
        click.echo(
            f"last readout: {size.data_bytes} bytes, {size.datasets} data sets at {size.baud} Bd"
            + (f", {size.identification}" if size.identification else "")
        )
    for title, due, found, best in polls:
        names = ", ".join(s.alias for s in due) or "(no signals)"
        click.echo(f"\n{title}: {names}")
        for alternative in found:
            mark = "*" if alternative is best else " "
            seconds = "-" if alternative.seconds is None else f"{alternative.seconds:.3f} s"
            click.echo(
                f"  {mark} {alternative.kind.value:<11} {alternative.request:<24} {seconds:>10}"
                f"  {alternative.why}"
            )


def _poll_kinds(periods: tuple[float, ...]) -> list[tuple[int, str]]:
    """(mask of rate groups, title) of each kind of poll: each group's slot with the groups
    whose slots fall on it too (shorter periods dividing its own), then everything (a
    priority read) when that differs."""
    kinds: list[tuple[int, str]] = []
    for period in sorted(periods):
        mask = 0
        for other, shorter in enumerate(periods):
            if shorter <= period and _divides(shorter, period):
                mask |= 1 << other
        if all(m != mask for m, _ in kinds):
            kinds.append((mask, f"every {period:g} s"))
    everything = (1 << len(periods)) - 1
    if all(m != everything for m, _ in kinds):
        kinds.append((everything, "a priority read (everything)"))
    elif len(periods) == 1:
        kinds[0] = (everything, f"every {periods[0]:g} s, and a priority read")
    return kinds


def _divides(shorter: float, longer: float) -> bool:
    if shorter <= 0:
        return True
    ratio = longer / shorter
    return abs(ratio - round(ratio)) < 1e-9


def _size_json(size: ReadSize) -> dict[str, Any]:
    return {
        "bytes": size.data_bytes,
        "datasets": size.datasets,
        "baud": size.baud,
        "identification": size.identification,
        "lists": dict(size.lists),
    }
