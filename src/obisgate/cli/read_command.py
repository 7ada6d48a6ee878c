"""``obisgate read URL``: one readout, printed as a table, JSON, CSV or raw lines."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from obisgate.cli.common import SECONDS, fail, run_async, setup_logging
from obisgate.cli.dlms_read import dlms_options, dlms_settings, format_frames, object_specs
from obisgate.cli.main import main
from obisgate.cli.params import BAUD_RATE, Bounded, meter_url
from obisgate.cli.raw_capture import RawCapture, raw_capture
from obisgate.cli.recipe_options import log_recipes, recipe_options, recipe_setup
from obisgate.cli.sigterm import stop_on_sigterm
from obisgate.dlms.client import DlmsOptions
from obisgate.dlms.reading import ObjectSpec
from obisgate.dlms_session import DlmsReadResult, read_dlms
from obisgate.errors import ConfigError
from obisgate.formats import FORMATS, render
from obisgate.obis import description
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.chars import BAUD_TO_MODE_C_CHAR
from obisgate.protocol.client import ReadoutOptions, ReadResult
from obisgate.protocol.identification import ProtocolMode
from obisgate.session import read_meter
from obisgate.transport.base import LineSettings

__all__ = ["line_options", "mode_options", "read", "read_settings", "readout_options"]

_RATES = [str(b) for b in BAUD_TO_MODE_C_CHAR]
#: Default limit for a whole readout or programming session from the CLI.
DEFAULT_TOTAL_TIMEOUT_S = 600.0


def line_options(fn: Any) -> Any:
    """Options shared by every command that opens a meter connection."""
    options = [
        click.option(
            "--address",
            default="",
            help="Device address for /?ADDRESS! (default: none, every meter answers).",
        ),
        click.option(
            "--timeout",
            "timeout_s",
            type=SECONDS,
            default=2.5,
            show_default=True,
            help="Seconds to wait for the meter to answer (and longest silence is 1.5 s or this, whichever is larger).",
        ),
        click.option(
            "--baudrate",
            type=BAUD_RATE,
            default=None,
            help="Initial rate, 300-19200 Bd [300; 2400 in mode D].",
        ),
        click.option("--databits", type=click.Choice(["7", "8"]), default="7", show_default=True),
        click.option(
            "--parity",
            type=click.Choice(["E", "N", "O", "EVEN", "NONE", "ODD"], case_sensitive=False),
            default="E",
            show_default=True,
        ),
        click.option(
            "--stopbits",
            type=click.Choice(["1", "1.5", "2"]),
            default="1",
            show_default=True,
        ),
        click.option(
            "--flowcontrol",
            type=click.Choice(["none", "rtscts", "xonxoff", "dsrdtr"]),
            default="none",
            show_default=True,
        ),
        click.option(
            "--software-parity",
            is_flag=True,
            help="Add the even-parity bit in software (7E1 over an 8N1 link).",
        ),
        click.option(
            "--request-start",
            default="/?",
            show_default=True,
            help="Manufacturer request variants, e.g. /2 or /#.",
        ),
        click.option(
            "--wakeup",
            "wakeup_nuls",
            type=Bounded(0, 10000, "NULs"),
            default=0,
            help="Send this many NULs first (66 = the standard's 2.2 s at 300 Bd).",
        ),
        click.option(
            "--t2",
            "t2_ms",
            type=Bounded(200, 1500, "ms"),
            default=200,
            show_default=True,
            help="Milliseconds before acknowledging the proposed rate (200-1500; 20 ms meters honoured).",
        ),
        click.option(
            "--baud-change-delay",
            "baud_change_delay_ms",
            type=Bounded(0, 10000, "ms"),
            default=0,
            show_default=True,
            help="Extra milliseconds after the acknowledgement drained, before switching.",
        ),
        click.option(
            "--bcc",
            "bcc_method",
            type=click.Choice(["xor", "sum7"]),
            default="xor",
            show_default=True,
            help="Block check method.",
        ),
        click.option(
            "--no-verify-bcc",
            is_flag=True,
            help="Do not check the block check character.",
        ),
        click.option(
            "--no-echo-strip",
            is_flag=True,
            help="Do not remove an echo of our own bytes.",
        ),
        click.option(
            "--trace",
            "trace_path",
            type=click.Path(dir_okay=False, writable=True),
            default=None,
            help="Write every byte with direction and time to FILE.",
        ),
        click.option(
            "-v",
            "--verbose",
            count=True,
            help="More log output on stderr (-vv for debug).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def readout_options(params: dict[str, Any], **extra: Any) -> tuple[ReadoutOptions, LineSettings]:
    """Build reader and line settings from the shared options.

    Raises:
        ConfigError: a value is out of range.
    """
    mode = params.get("mode", "auto")
    protocol_mode = None if mode in (None, "auto") else ProtocolMode(mode)
    options = ReadoutOptions(
        address=params["address"],
        request_start=params["request_start"],
        wakeup_nuls=params["wakeup_nuls"],
        mode=protocol_mode,
        initial_baud=params["baudrate"],
        reaction_time_s=params["t2_ms"] / 1000,
        baud_change_delay_s=params["baud_change_delay_ms"] / 1000,
        response_timeout_s=params["timeout_s"],
        inter_byte_timeout_s=max(1.5, params["timeout_s"]),
        bcc_method=BccMethod(params["bcc_method"]),
        verify_bcc=not params["no_verify_bcc"],
        strip_echo=not params["no_echo_strip"],
        **extra,
    )
    line = LineSettings(
        baudrate=options.start_baud,
        bytesize=int(params["databits"]),
        parity=params["parity"],
        stopbits=float(params["stopbits"]),
        flowcontrol=params["flowcontrol"],
        software_parity=params["software_parity"],
    )
    return options, line


class _Progress:
    """Shows bytes received on a terminal (stderr), for long 300 Bd readouts."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, received: int, waiting_for: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\rreading {waiting_for}: {received} bytes ")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def mode_options(fn: Any) -> Any:
    """Protocol mode and baud policy options of every command that reads a meter."""
    options = [
        click.option(
            "--mode",
            type=click.Choice(["auto", "A", "B", "C", "D", "E", "HDLC"], case_sensitive=False),
            default="auto",
            show_default=True,
            help=(
                "Protocol mode; auto follows the meter (a mode E meter is read in mode C). "
                "D listens to a meter that pushes; E switches to HDLC/DLMS after the opening; "
                "HDLC speaks HDLC/DLMS from the first byte (8N1)."
            ),
        ),
        click.option(
            "--max-baud",
            type=click.Choice(_RATES),
            default=None,
            help="Never switch above this rate.",
        ),
        click.option(
            "--force-baud",
            type=click.Choice(_RATES),
            default=None,
            help="Switch to this rate whatever the meter proposes.",
        ),
        click.option(
            "--no-switch",
            is_flag=True,
            help="Never change the baud rate (mode C answers with rate 0).",
        ),
        click.option(
            "--repeat-requests",
            type=Bounded(0, 10),
            default=1,
            show_default=True,
            help="NAKs sent after a wrong checksum before giving up.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def read_settings(params: dict[str, Any]) -> tuple[ReadoutOptions, LineSettings]:
    """Reader and line settings from :func:`line_options` and :func:`mode_options` values.

    Raises:
        ConfigError: a value is out of range.
    """
    return readout_options(
        {**params, "mode": params["mode"].upper() if params["mode"] != "auto" else "auto"},
        max_baud=int(params["max_baud"]) if params["max_baud"] else None,
        force_baud=int(params["force_baud"]) if params["force_baud"] else None,
        switch_baud=not params["no_switch"],
        repeat_requests=params["repeat_requests"],
    )


@main.command()
@click.argument("url", callback=meter_url)
@mode_options
@click.option(
    "--total-timeout",
    type=SECONDS,
    default=DEFAULT_TOTAL_TIMEOUT_S,
    show_default=True,
    help="Limit for the whole readout, in seconds (a 300 Bd readout of 4 minutes fits).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@line_options
@dlms_options
@recipe_options
@click.pass_context
def read(ctx: click.Context, /, url: str, **params: Any) -> None:
    """Read a meter once and print every data set it sends.

    URL is a serial device (/dev/ttyUSB0), tcp://HOST:PORT (a transparent
    converter: its own rate must match the meter's, obisgate cannot switch it)
    or rfc2217://HOST:PORT (a network serial port that can switch).

    --format table is for people; json is one object with every value exactly
    as the meter sent it, as text (leading zeros and precision kept: read knows
    no number types; `obisgate run` converts values by each signal's
    number_type); csv has one row per value, value_index counted from 1 as in
    the configuration; raw is the meter's bytes as received (identification,
    STX ... ETX and BCC). Exit status: see the README (3 no answer, 4 checksum,
    5 framing, 6 connection, 7 meter error, 143 SIGTERM).

    Known meter families get their recipe applied after the identification
    (`obisgate recipes`; -v says which), except for the options you give.

    \b
    Example:
      obisgate read /dev/ttyUSB0 --max-baud 9600 --format json
    """
    setup_logging(params["verbose"])
    if params["mode"].upper() in ("E", "HDLC"):
        _read_dlms(url, params)
        return
    try:
        options, line = read_settings(params)
        recipes = recipe_setup(ctx, params, options, line)
    except ConfigError as exc:
        fail(str(exc), 2)
    options, line = recipes.options, recipes.line
    total_timeout = params["total_timeout"]
    if "total_timeout_ms" in recipes.rest and ctx.get_parameter_source("total_timeout") is (
        click.core.ParameterSource.DEFAULT
    ):
        total_timeout = int(recipes.rest["total_timeout_ms"]) / 1000  # type: ignore[call-overload]
    progress = _Progress()
    trace: Any = params["trace_path"]
    with contextlib.ExitStack() as stack:
        if params["fmt"] == "raw":
            try:
                trace = stack.enter_context(raw_capture(trace))
            except ConfigError as exc:
                fail(str(exc), 2)

        async def go() -> ReadResult:
            try:
                reading = read_meter(
                    url,
                    options,
                    rules=recipes.rules,
                    line=line,
                    trace=trace,
                    total_timeout_s=total_timeout,
                    on_progress=progress,
                )
                return await stop_on_sigterm(reading, "the readout")
            finally:
                progress.clear()

        result = run_async(go)
        log_recipes(result, recipes.book)
        if isinstance(trace, RawCapture):
            click.echo(bytes(trace.data), nl=False)
            return
    describe = description if sys.stdout.isatty() else None
    click.echo(render(result, params["fmt"], describe=describe), nl=False)


def dlms_read_settings(
    params: dict[str, Any],
) -> tuple[DlmsOptions, ReadoutOptions | None, LineSettings, list[ObjectSpec] | None]:
    """DLMS options, mode E opening (``None`` for direct HDLC), line and objects.

    Raises:
        ConfigError: a bad value.
    """
    dlms = dlms_settings(params, params["timeout_s"])
    objects = object_specs(params)
    if params["mode"].upper() == "E":
        opening, line = read_settings({**params, "mode": "E"})
        return dlms, opening, line, objects
    line = LineSettings(
        baudrate=params["baudrate"] or 9600,
        bytesize=8,
        parity="N",
        stopbits=float(params["stopbits"]),
        flowcontrol=params["flowcontrol"],
    )
    return dlms, None, line, objects


def _read_dlms(url: str, params: dict[str, Any]) -> None:
    """``read --mode E`` / ``--mode HDLC``: the DLMS/COSEM path."""
    try:
        dlms, opening, line, objects = dlms_read_settings(params)
    except ConfigError as exc:
        fail(str(exc), 2)
    progress = _Progress()

    async def go() -> DlmsReadResult:
        try:
            reading = read_dlms(
                url,
                dlms,
                opening=opening,
                objects=objects,
                line=line,
                trace=params["trace_path"],
                total_timeout_s=params["total_timeout"],
                on_progress=progress,
            )
            return await stop_on_sigterm(reading, "the readout")
        finally:
            progress.clear()

    result = run_async(go)
    if params["fmt"] == "raw":
        click.echo(format_frames(result.frames), nl=False)
        return
    click.echo(render(result, params["fmt"]), nl=False)
