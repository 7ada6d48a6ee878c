"""``obisgate probe URL``: find the settings that read a meter; ``init --probe`` uses it too.

Exit status: 0 a setting read the meter cleanly (with ``-o``: the starter
configuration is written), 3 nothing answered, 5 the meter answered but no
setting read it cleanly, 2 bad options, 6 the port cannot be opened.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path
from typing import Any

import click
import tomli_w

from obisgate.cli.common import SECONDS, fail, run_async, setup_logging
from obisgate.cli.main import main
from obisgate.cli.params import device_alias, meter_url
from obisgate.cli.read_command import line_options, mode_options, read_settings
from obisgate.cli.recipe_options import (
    explicit_params,
    given_core,
    given_fields,
    recipe_options,
    recipe_setup,
)
from obisgate.cli.starter import (
    check_starter_config,
    device_entry,
    device_fields,
    meter_model_for,
    starter_config,
)
from obisgate.errors import ConfigError
from obisgate.probe import Attempt, ProbeReport, probe_meter
from obisgate.probe.report import notes, read_arguments, tries_table
from obisgate.trace import open_trace

__all__ = ["budget_option", "probe", "run_probe"]

#: The whole probe's default limit.
DEFAULT_BUDGET_S = 120.0


def budget_option(fn: Any) -> Any:
    """``--budget SECONDS``."""
    return click.option(
        "--budget",
        type=SECONDS,
        default=DEFAULT_BUDGET_S,
        show_default=True,
        help="Seconds for the whole probe (every try together).",
    )(fn)


class _Progress:
    """The try in progress, on a terminal (stderr)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, number: int, attempt: Attempt, left: float) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[Kprobe: try {number}: {attempt.label} ({left:.0f} s left)")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def run_probe(
    ctx: click.Context,
    url: str,
    params: dict[str, Any],
    *,
    out: Path | None,
    alias: str,
    force: bool,
    budget_s: float,
) -> None:
    """Probe ``url``, print the report, write ``out`` like ``init``, exit with the probe's status.

    The options given on the command line are kept in every try.
    """
    setup_logging(params["verbose"])
    if str(params.get("mode", "auto")).upper() in ("E", "HDLC"):
        fail(
            "probe tries the settings of a D0 readout (modes A to D); a mode E or HDLC "
            "meter is read with obisgate read URL --mode E (or HDLC) and its --dlms-* options",
            2,
        )
    if out is not None:
        if out.exists() and not force:
            fail(f"{out} exists; use --force to overwrite it", 2)
        if not out.parent.is_dir():
            fail(f"--output {out}: the folder {out.parent} does not exist", 2)
    try:
        options, line = read_settings(params)
        setup = recipe_setup(ctx, params, options, line)
    except ConfigError as exc:
        fail(str(exc), 2)
    given = explicit_params(ctx, params)
    progress = _Progress()

    async def go() -> ProbeReport:
        with contextlib.ExitStack() as stack:
            trace = open_trace(stack, params["trace_path"])
            try:
                return await probe_meter(
                    url,
                    setup.options,
                    setup.line,
                    book=setup.book,
                    fixed=given_fields(given),
                    keep=given_core(given),
                    budget_s=budget_s,
                    on_try=progress,
                    trace=trace,
                )
            finally:
                progress.clear()

    report = run_async(go)
    click.echo("\n".join(tries_table(report)))
    address = setup.options.address
    extra = notes(report, address=address)
    if extra:
        click.echo("")
        click.echo("\n".join(f"note: {line}" for line in extra))
    winner = report.winner
    if winner is None or winner.result is None:
        if report.exit_code == 3:
            fail("nothing answered: no setting read the meter", 3)
        fail("the meter answered, but no setting read it cleanly (see the tries above)", 5)
    result = winner.result
    fields = {
        **device_fields({k: params[k] for k in given if k in params}),
        **winner.attempt.as_dict,
    }
    model = meter_model_for(result.identification, setup.book, params.get("meter_model"))
    if model is not None:
        fields["meter_model"] = model
    ident = result.identification
    click.echo("")
    click.echo(
        f"meter: /{ident.manufacturer}{ident.baud_char}{ident.enhanced}{ident.identification}"
    )
    arguments = read_arguments(winner.attempt.as_dict, winner.attempt.address, model)
    click.echo("read it with: " + shlex.join(["obisgate", "read", url, *arguments]))
    device = device_entry(
        url,
        alias,
        winner.attempt.address,
        result.mode,
        timeout_s=setup.options.response_timeout_s,
        fields=fields,
    )
    click.echo("as a device:")
    click.echo(tomli_w.dumps({"devices": [device]}).rstrip())
    if out is None:
        return
    try:
        text, count = starter_config(
            url,
            alias,
            winner.attempt.address,
            result.mode,
            result.readout.datasets,
            timeout_s=setup.options.response_timeout_s,
            fields=fields,
            manufacturer=ident.manufacturer,
        )
    except ConfigError as exc:
        fail(str(exc), 2)
    check_starter_config(text, out)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", 1)
    click.echo(f"wrote {out}: 1 device, {count} signals (check: obisgate check {out})")


@main.command()
@click.argument("url", callback=meter_url)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a starter configuration for the meter, as obisgate init does.",
)
@click.option(
    "--alias",
    default="meter1",
    show_default=True,
    callback=device_alias,
    help="device_alias of the device (1-64 letters, digits, '-', '_').",
)
@click.option("--force", is_flag=True, help="Overwrite an existing --output file.")
@budget_option
@mode_options
@line_options
@recipe_options
@click.pass_context
def probe(
    ctx: click.Context,
    /,
    url: str,
    out: Path | None,
    alias: str,
    force: bool,
    budget: float,
    **params: Any,
) -> None:
    """Find the settings that read a meter, and say why the others fail.

    Tries readouts in order of likelihood until one is complete and its
    checksum right: the line framing (7E1; 8N1 with software parity; 8N1),
    without and with the NUL wake-up, the request /?ADDRESS! (--address) or
    /?! and the variants /2! and /#!; once the meter identifies itself, a
    delay before the baud change, no baud switch, mode A, a later
    acknowledgement. Each try is bounded, the whole probe by --budget; the
    options you give are kept in every try. It only ever sends readout
    requests: never a password, never a write, and it waits for a quiet line
    between tries.

    Prints a table of the tries and how each failed, then the settings that
    worked as `obisgate read` options and as a [[devices]] entry; -o FILE
    writes a starter configuration as `obisgate init` does. Exit status 0: a
    setting worked; 3: nothing answered; 5: the meter answered, but nothing
    read cleanly.

    \b
    Example:
      obisgate probe /dev/ttyUSB0
      obisgate probe tcp://10.0.0.5:4001 --address 12345678 -o site.toml
    """
    run_probe(ctx, url, params, out=out, alias=alias, force=force, budget_s=budget)
