"""Programming-mode commands: ``obisgate get``, ``obisgate set``, ``obisgate profile``.

Each signs on in mode C with option select ``1``, answers the password prompt,
runs its commands and signs off (``B0``) on every way out. The password comes
from ``--password-env VAR`` or ``--password-file FILE`` (``--password`` works
but is visible in the process list); it never appears in output, traces, logs
or error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click

from obisgate.cli.common import SECONDS, fail, run_async, setup_logging
from obisgate.cli.dlms_read import dlms_address_options, dlms_settings
from obisgate.cli.main import main
from obisgate.cli.read_command import DEFAULT_TOTAL_TIMEOUT_S, line_options, readout_options
from obisgate.errors import ConfigError, MeterError, TotalTimeoutError
from obisgate.formats import FORMATS, datasets_to_list, identification_to_dict, table_lines
from obisgate.password_config import (
    SCHEME_NAMES,
    make_scheme,
    password_file_is_private,
    read_password_file,
)
from obisgate.programming_session import ProgrammingSession, RegisterReading
from obisgate.protocol.loadprofile import LoadProfile
from obisgate.protocol.passwords import PasswordScheme, Secret
from obisgate.protocol.programming_client import Answer, ProgrammingOptions
from obisgate.trace import open_trace
from obisgate.transport.base import LineSettings

__all__ = ["get", "main", "profile", "set_register"]

T = TypeVar("T")

_READABLE_FILE_WARNING = (
    "obisgate: warning: the password file is readable by group or others; chmod 600 it"
)
_VISIBLE_ARGUMENT_WARNING = (
    "obisgate: warning: --password is visible in the process list and shell "
    "history; prefer --password-env VAR or --password-file FILE"
)


def programming_options(fn: Any) -> Any:
    """Options shared by get, set and profile (on top of the line options)."""
    options = [
        click.option(
            "--password-env",
            metavar="VAR",
            default=None,
            help="Take the password from environment variable VAR.",
        ),
        click.option(
            "--password-file",
            type=click.Path(dir_okay=False, exists=True, readable=True),
            default=None,
            help="Take the password from the first line of FILE.",
        ),
        click.option(
            "--password",
            "password_arg",
            default=None,
            help="The password itself (visible in the process list: avoid).",
        ),
        click.option(
            "--scheme",
            default=None,
            metavar="SCHEME",
            help=(
                f"Password scheme: {', '.join(SCHEME_NAMES)} or p2:MODULE:FUNCTION "
                "(default: p1 with a password, none without)."
            ),
        ),
        click.option(
            "--read-command",
            type=click.Choice(["R1", "R2", "R3", "R4", "R5", "R6"], case_sensitive=False),
            default="R1",
            show_default=True,
            help="Command type of register reads (EMH meters want R5).",
        ),
        click.option(
            "--read-argument",
            default="",
            help="What goes in the brackets of a read, e.g. 1 (default: empty).",
        ),
        click.option(
            "--retries",
            type=int,
            default=3,
            show_default=True,
            help="Repeats after a NAK or a wrong checksum before giving up.",
        ),
        click.option(
            "--total-timeout",
            type=SECONDS,
            default=DEFAULT_TOTAL_TIMEOUT_S,
            show_default=True,
            help="Limit for the whole programming session, in seconds.",
        ),
        click.option(
            "--command-delay",
            "command_delay_ms",
            type=int,
            default=None,
            help="Milliseconds before each command (default: the meter's reaction time).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _password(params: dict[str, Any]) -> Secret | None:
    """The password from exactly one of the three sources.

    Raises:
        ConfigError: several sources, an unset variable or an unreadable file
            (the message never contains the password).
    """
    sources = [
        name for name in ("password_env", "password_file", "password_arg") if params.get(name)
    ]
    if len(sources) > 1:
        raise ConfigError("give only one of --password-env, --password-file, --password")
    if params.get("password_env"):
        var = params["password_env"]
        value = os.environ.get(var)
        if value is None:
            raise ConfigError(f"environment variable {var} is not set")
        return Secret(value)
    if params.get("password_file"):
        if not password_file_is_private(params["password_file"]):
            click.echo(_READABLE_FILE_WARNING, err=True)
        return Secret(read_password_file(params["password_file"]))
    if params.get("password_arg") is not None:
        click.echo(_VISIBLE_ARGUMENT_WARNING, err=True)
        return Secret(params["password_arg"])
    return None


def _scheme(params: dict[str, Any]) -> PasswordScheme:
    password = _password(params)
    name = params.get("scheme") or ("p1" if password is not None else "none")
    return make_scheme(name, password)


def _settings(
    params: dict[str, Any],
) -> tuple[ProgrammingOptions, LineSettings, PasswordScheme]:
    sign_on, line = readout_options(params, option="1")
    delay = params.get("command_delay_ms")
    options = ProgrammingOptions(
        sign_on=sign_on,
        read_command=params["read_command"].upper(),
        read_argument=params["read_argument"],
        retries=params["retries"],
        answer_timeout_s=max(params["timeout_s"], 0.1),
        command_delay_s=None if delay is None else delay / 1000,
        **params.get("extra_options", {}),
    )
    return options, line, _scheme(params)


def _without_password(error: MeterError, params: dict[str, Any], what: str) -> MeterError:
    """``error`` with the likely cause when no password was given and the meter
    answered ER01 (access denied before the password, e.g. to R5 P.01)."""
    given = any(params.get(n) for n in ("password_env", "password_file", "password_arg"))
    if given or type(error) is not MeterError or error.text != "ER01":
        return error
    return MeterError(
        error.text,
        command=error.command.split(" ")[0],
        hint=f"{what} needs the password (--password-env VAR or --password-file FILE)",
    )


def _run_session(
    url: str,
    params: dict[str, Any],
    body: Callable[[ProgrammingSession], Coroutine[Any, Any, T]],
) -> T:
    """Sign on, run ``body``, sign off; errors become one line on stderr."""
    try:
        options, line, scheme = _settings(params)
    except ConfigError as exc:
        fail(str(exc), 2)

    with contextlib.ExitStack() as stack:
        try:
            trace = open_trace(stack, params.get("trace_path"))
        except ConfigError as exc:
            fail(str(exc), 2)

        total = params["total_timeout"]

        async def go() -> T:
            deadline = asyncio.timeout(total)
            try:
                async with (
                    deadline,
                    await ProgrammingSession.connect(
                        url, options, scheme, line=line, trace=trace, keepalive_interval_s=30.0
                    ) as session,
                ):
                    return await body(session)
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise TotalTimeoutError("programming session", total) from None

        return run_async(go)


# -- get ---------------------------------------------------------------------


def _reading_dict(reading: RegisterReading) -> dict[str, Any]:
    if reading.error is not None:
        return {"address": reading.address, "error": reading.error.text}
    answer = reading.answer
    assert answer is not None
    return {
        "address": reading.address,
        "command": answer.command,
        "datasets": datasets_to_list(answer.datasets),
    }


def render_readings(
    readings: dict[str, RegisterReading], fmt: str, session_info: dict[str, Any]
) -> str:
    """Render register readings as table, json, csv or raw (text ends with a newline)."""
    if fmt == "json":
        doc = {**session_info, "registers": [_reading_dict(r) for r in readings.values()]}
        return json.dumps(doc, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["address", "value_index", "value", "unit", "raw", "error"])
        for r in readings.values():
            if r.error is not None:
                writer.writerow([r.address, "", "", "", "", r.error.text])
                continue
            for ds in r.answer.datasets if r.answer else ():
                for i, v in enumerate(ds.values, start=1):
                    unit = "" if v.unit is None else v.unit
                    writer.writerow([ds.address or r.address, i, v.value, unit, v.raw, ""])
        return buf.getvalue()
    if fmt == "raw":
        lines = []
        for r in readings.values():
            if r.error is not None:
                lines.append(f"{r.address}({r.error.text})")
            elif r.answer is not None:
                lines.append(r.answer.text.replace("\r\n", "\n").rstrip("\n"))
        return "".join(line + "\n" for line in lines)
    datasets = []
    errors = []
    for r in readings.values():
        if r.error is not None:
            errors.append(f"{r.address}: meter error ({r.error.text})")
        elif r.answer is not None:
            datasets += [
                ds if ds.address else ds._replace(address=r.address) for ds in r.answer.datasets
            ]
    lines = table_lines(datasets) if datasets else []
    return "\n".join(lines + errors) + "\n"


def _session_info(session: ProgrammingSession) -> dict[str, Any]:
    info: dict[str, Any] = {"baud": session.baud}
    if session.identification is not None:
        info["identification"] = identification_to_dict(session.identification)
    return info


@main.command()
@click.argument("url")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@programming_options
@line_options
def get(url: str, addresses: tuple[str, ...], **params: Any) -> None:
    """Read one or more registers in programming mode, e.g. ``get URL 1.8.0 2.8.0``.

    \b
    Example:
      METER_PW=00000000 obisgate get tcp://10.0.0.5:4001 1.8.0 2.8.0 --password-env METER_PW

    Exits 7 if the meter answered any register with an error (the others are printed).
    """
    setup_logging(params["verbose"])

    async def body(session: ProgrammingSession) -> tuple[str, list[MeterError]]:
        readings = await session.read_many(list(addresses))
        errors = [
            _without_password(r.error, params, f"reading {address}")
            for address, r in readings.items()
            if r.error is not None
        ]
        return render_readings(readings, params["fmt"], _session_info(session)), errors

    text, errors = _run_session(url, params, body)
    click.echo(text, nl=False)
    if errors:
        for error in errors[:-1]:
            click.echo(f"obisgate: error: {error}", err=True)
        fail(str(errors[-1]), 7)


# -- set ---------------------------------------------------------------------


def _describe_answer(answer: Answer) -> str:
    if answer.acknowledged:
        return "ACK (write accepted)"
    return f"data {answer.text.strip()!r}"


@main.command(name="set")
@click.argument("url")
@click.argument("register", metavar="ADDRESS")
@click.argument("value")
@click.option(
    "--allow-write",
    is_flag=True,
    help="Required: confirms that you mean to change the meter.",
)
@click.option(
    "--write-command",
    type=click.Choice(["W1", "W2", "W5"], case_sensitive=False),
    default="W1",
    show_default=True,
    help="Command type of the write (EMH meters want W5).",
)
@programming_options
@line_options
def set_register(url: str, register: str, value: str, **params: Any) -> None:
    """Write VALUE to register ADDRESS (refused without --allow-write); shows the answer.

    \b
    Example:
      obisgate set tcp://10.0.0.5:4001 0.9.1 131600 --password-env METER_PW --allow-write
    """
    setup_logging(params["verbose"])
    if not params["allow_write"]:
        fail(
            f"refusing to write {register}: writing changes the meter; "
            "add --allow-write if you mean it",
            2,
        )
    params["extra_options"] = {"write_command": params["write_command"].upper()}

    async def body(session: ProgrammingSession) -> Answer:
        return await session.write(register, value)

    answer = _run_session(url, params, body)
    click.echo(f"{register}: meter answered {_describe_answer(answer)}")


# -- profile -----------------------------------------------------------------


def _parse_time(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{what} {text!r}: expected a date/time such as 2024-03-15T00:00"
        ) from None
    return moment.replace(tzinfo=None)


def _profile_range(params: dict[str, Any]) -> tuple[datetime, datetime]:
    start = _parse_time(params["start"], "--from")
    end = _parse_time(params["end"], "--to")
    if end < start:
        raise ConfigError("--to is before --from")
    if params["max_span_h"] <= 0:
        raise ConfigError("--max-span must be positive")
    return start, end


def render_profile(profile: LoadProfile, fmt: str) -> str:
    """Render a load profile as table, csv, json or raw (text ends with a newline)."""
    codes = [f"{c.code}" for c in profile.channels]
    if fmt == "json":
        doc = {
            "profile": profile.profile,
            "channels": [{"code": c.code, "unit": c.unit} for c in profile.channels],
            "rows": [
                {
                    "timestamp": row.timestamp.isoformat(),
                    "season": row.season,
                    "status": row.status,
                    "interval_min": row.interval_min,
                    "values": {
                        ch.code: v.value for ch, v in zip(row.channels, row.values, strict=True)
                    },
                }
                for row in profile.rows
            ],
        }
        return json.dumps(doc, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        units = {c.code: c.unit for c in profile.channels}
        writer.writerow(
            ["timestamp", "status", *(f"{c} [{units[c]}]" if units[c] else c for c in codes)]
        )
        for row in profile.rows:
            by_code = {ch.code: v.value for ch, v in zip(row.channels, row.values, strict=True)}
            writer.writerow(
                [row.timestamp.isoformat(), row.status, *(by_code.get(c, "") for c in codes)]
            )
        return buf.getvalue()
    if fmt == "raw":
        return "".join(
            f"{row.timestamp:%Y-%m-%d %H:%M:%S} ({row.status})"
            + "".join(v.to_text() for v in row.values)
            + "\n"
            for row in profile.rows
        )
    head = ["timestamp", "status", *(f"{c.code}[{c.unit}]" for c in profile.channels)]
    body = [
        [
            f"{row.timestamp:%Y-%m-%d %H:%M:%S}",
            row.status,
            *(
                {
                    ch.code: v.value.strip() for ch, v in zip(row.channels, row.values, strict=True)
                }.get(c, "")
                for c in codes
            ),
        ]
        for row in profile.rows
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *body]
    ]
    lines.append(f"{len(profile.rows)} rows")
    return "\n".join(lines) + "\n"


@main.command()
@click.argument("url")
@click.option("--from", "start", required=True, help="First time stamp, e.g. 2024-03-15T00:00.")
@click.option("--to", "end", required=True, help="Last time stamp, e.g. 2024-03-16T00:00.")
@click.option(
    "--profile",
    "profile_address",
    default=None,
    help="The profile: P.01 [default] in modes C; a profile generic, 1-0:99.1.0*255 "
    "[default], in modes E and HDLC.",
)
@click.option(
    "--mode",
    type=click.Choice(["C", "E", "HDLC"], case_sensitive=False),
    default="C",
    show_default=True,
    help="C: programming mode (R5 P.01); E / HDLC: DLMS profile generic by range.",
)
@dlms_address_options
@click.option(
    "--profile-command",
    type=click.Choice(["R5", "R6", "R1", "R2"], case_sensitive=False),
    default="R5",
    show_default=True,
    help="Command type of the profile requests.",
)
@click.option(
    "--max-span",
    "max_span_h",
    type=float,
    default=24.0,
    show_default=True,
    help="Longest range per request, in hours (longer ranges take several requests).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
)
@programming_options
@line_options
def profile(url: str, **params: Any) -> None:
    """Read a load profile (P.01) between --from and --to: rows with time, status, values.

    \b
    Example:
      obisgate profile tcp://10.0.0.5:4001 --from 2026-11-01T00:00 --to 2026-11-02T00:00 --format csv
    """
    setup_logging(params["verbose"])
    try:
        start, end = _profile_range(params)
    except ConfigError as exc:
        fail(str(exc), 2)
    if params["mode"].upper() in ("E", "HDLC"):
        click.echo(render_profile(_dlms_profile(url, params, start, end), params["fmt"]), nl=False)
        return

    async def body(session: ProgrammingSession) -> LoadProfile:
        try:
            return await session.read_load_profile(
                start,
                end,
                profile=params["profile_address"] or "P.01",
                command=params["profile_command"].upper(),
                max_span=timedelta(hours=params["max_span_h"]),
            )
        except MeterError as exc:
            raise _without_password(exc, params, "the load profile") from None

    result = _run_session(url, params, body)
    click.echo(render_profile(result, params["fmt"]), nl=False)


def _dlms_profile(url: str, params: dict[str, Any], start: datetime, end: datetime) -> LoadProfile:
    """``profile --mode E`` / ``--mode HDLC``: a profile generic by range."""
    from obisgate.cli.read_command import readout_options  # noqa: PLC0415
    from obisgate.dlms.cosem import parse_obis  # noqa: PLC0415
    from obisgate.dlms.profile import DEFAULT_PROFILE  # noqa: PLC0415
    from obisgate.dlms_session import read_dlms_profile  # noqa: PLC0415

    mode_e = params["mode"].upper() == "E"
    try:
        secret = _password(params)
        password = secret.reveal().encode("latin-1") if secret is not None else None
        dlms = dlms_settings(params, params["timeout_s"], password=password)
        obis = (
            parse_obis(params["profile_address"]) if params["profile_address"] else DEFAULT_PROFILE
        )
        opening, line = readout_options({**params, "mode": "E"}) if mode_e else (None, None)
        if not mode_e:
            line = LineSettings(baudrate=params["baudrate"] or 9600, bytesize=8, parity="N")
    except ConfigError as exc:
        fail(str(exc), 2)

    async def go() -> LoadProfile:
        return await read_dlms_profile(
            url,
            dlms,
            start,
            end,
            profile=obis,
            opening=opening,
            line=line,
            trace=params.get("trace_path"),
            total_timeout_s=params["total_timeout"],
        )

    return run_async(go)
