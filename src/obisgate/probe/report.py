"""The probe's report for people: the table of tries, notes, the settings that worked."""

from __future__ import annotations

from collections.abc import Mapping

from obisgate.probe.runner import ProbeReport
from obisgate.protocol.identification import ProtocolMode

__all__ = ["notes", "read_arguments", "tries_table"]

_PARITY = {"NONE": "N", "EVEN": "E", "ODD": "O"}


def tries_table(report: ProbeReport) -> list[str]:
    """``try  settings  result  time``, one line per try."""
    rows = [
        (str(t.number), t.attempt.label, t.diagnosis.words, f"{t.seconds:.1f} s")
        for t in report.tries
    ]
    header = ("try", "settings", "result", "time")
    widths = [max([len(header[i]), *(len(r[i]) for r in rows)]) for i in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in (header, *rows)
    ]


def read_arguments(
    settings: Mapping[str, object], address: str = "", meter_model: str | None = None
) -> list[str]:
    """The ``obisgate read`` options that give ``settings`` (``[[devices]]`` fields)."""
    args: list[str] = []
    if address:
        args += ["--address", address]
    flags = {
        "software_parity": ("--software-parity", True),
        "switch_baud": ("--no-switch", False),
        "verify_bcc": ("--no-verify-bcc", False),
        "strip_echo": ("--no-echo-strip", False),
    }
    valued = {
        "baudrate": "--baudrate",
        "databits": "--databits",
        "wakeup": "--wakeup",
        "request_start": "--request-start",
        "t2": "--t2",
        "baud_change_delay_ms": "--baud-change-delay",
        "repeat_requests": "--repeat-requests",
        "bcc_method": "--bcc",
        "max_baud": "--max-baud",
        "force_baud": "--force-baud",
        "type": "--mode",
    }
    for name, value in settings.items():
        if name in flags:
            flag, when = flags[name]
            if value is when:
                args.append(flag)
        elif name == "parity":
            args += ["--parity", _PARITY.get(str(value), str(value))]
        elif name == "timeout_ms":
            args += ["--timeout", f"{int(value) / 1000:g}"]  # type: ignore[call-overload]
        elif name in valued:
            args += [valued[name], str(value)]
    if meter_model:
        args += ["--meter-model", meter_model]
    return args


def notes(report: ProbeReport, *, address: str = "") -> list[str]:
    """What else the tries showed, for the lines under the table."""
    lines: list[str] = []
    tries = report.tries
    winner = report.winner
    if any(t.diagnosis.echo for t in tries):
        lines.append(
            "our own bytes came back (an echoing head or a two-wire loop); obisgate skips "
            "them (strip_echo, on by default)"
        )
    if any(t.diagnosis.bit7 for t in tries):
        sent_parity = winner is not None and bool(winner.attempt.as_dict.get("software_parity"))
        lines.append(
            "the meter's bytes arrive with the parity bit in bit 7: the link carries 8 bits"
            + (
                ", so obisgate sends the parity bit itself (software_parity)"
                if sent_parity
                else " (obisgate ignores bit 7 on receive)"
            )
        )
    if address and winner is not None and not winner.attempt.address:
        hint = ""
        if winner.result is not None:
            for ds in winner.result.readout.datasets:
                if ds.address in ("0.0.0", "C.1.0", "0.0") and ds.values:
                    hint = f"; it reports {ds.address}({ds.values[0].value.strip()})"
                    break
        lines.append(
            f"the meter did not answer /?{address}! but answers /?!: the address is not its "
            f"own{hint} (/?! is fine while it is the only meter on the line)"
        )
    if winner is None and not report.answered and not address:
        lines.append(
            "nothing answered /?!: a meter on a bus, or one that answers only its own "
            "address, needs --address (often the serial number on its label)"
        )
    if winner is None and sum(1 for t in tries if t.unsolicited) >= 2:
        lines.append(
            "bytes arrived before any request: the meter sends by itself (a push meter, "
            "mode D); listen with obisgate read URL --mode D --baudrate 9600 (or 2400)"
        )
    if winner is not None and winner.result is not None and winner.result.recipes:
        names = ", ".join(winner.result.recipes)
        lines.append(f"recipes applied after the identification: {names} (obisgate recipes)")
    if (
        winner is not None
        and winner.result is not None
        and winner.result.identification.mode is ProtocolMode.E
    ):
        lines.append(
            "the meter also speaks mode E (DLMS/COSEM, its \\2 in the identification): "
            "obisgate read URL --mode E reads its objects"
        )
    if report.out_of_budget:
        lines.append(
            f"the budget of {report.budget_s:g} s ran out before every setting was tried; "
            "--budget gives more time"
        )
    return lines
