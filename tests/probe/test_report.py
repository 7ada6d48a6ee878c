"""The probe's report: read options for the settings found, and the notes under the table."""

from __future__ import annotations

from obisgate.probe import Attempt, Diagnosis, Finding, ProbeReport, TryReport
from obisgate.probe.report import notes, read_arguments, tries_table
from obisgate.protocol.client import ReadResult
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.readout import parse_readout
from tests.helpers import frame

IDENT = Identification.parse("/LGZ4ZMF100AC.M23")


def test_read_arguments_give_the_settings_back() -> None:
    settings = {
        "databits": 8,
        "parity": "NONE",
        "software_parity": True,
        "wakeup": 66,
        "request_start": "/#",
        "baud_change_delay_ms": 500,
        "switch_baud": False,
        "type": "A",
        "t2": 1000,
        "repeat_requests": 3,
        "bcc_method": "sum7",
    }
    assert read_arguments(settings, "123", "lug-uh50") == [
        "--address", "123", "--databits", "8", "--parity", "N", "--software-parity",
        "--wakeup", "66", "--request-start", "/#", "--baud-change-delay", "500",
        "--no-switch", "--mode", "A", "--t2", "1000", "--repeat-requests", "3",
        "--bcc", "sum7", "--meter-model", "lug-uh50",
    ]  # fmt: skip
    assert read_arguments({}) == []


def tried(finding: Finding, *, address: str = "", unsolicited: int = 0, **seen: bool) -> TryReport:
    diagnosis = Diagnosis(finding, finding.value, IDENT if finding is Finding.OK else None, **seen)
    result = None
    if finding is Finding.OK:
        readout = parse_readout(b"/LGZ4ZMF100AC.M23\r\n" + frame(b"0.0.0(00188123)\r\n!\r\n"))
        result = ReadResult(IDENT, ProtocolMode.C, 4800, readout)
    return TryReport(1, Attempt.of({}, address), diagnosis, 1.0, result, unsolicited)


def test_the_notes() -> None:
    report = ProbeReport("tcp://x:1", [tried(Finding.NO_ANSWER), tried(Finding.OK, echo=True)])
    assert notes(report) == [
        "our own bytes came back (an echoing head or a two-wire loop); obisgate skips them "
        "(strip_echo, on by default)"
    ]
    wrong = ProbeReport("tcp://x:1", [tried(Finding.NO_ANSWER, address="9"), tried(Finding.OK)])
    (line,) = notes(wrong, address="9")
    assert line.startswith("the meter did not answer /?9! but answers /?!")
    assert "it reports 0.0.0(00188123)" in line
    silent = ProbeReport("tcp://x:1", [tried(Finding.NO_ANSWER)], out_of_budget=True)
    assert len(notes(silent)) == 2
    pushing = ProbeReport("tcp://x:1", [tried(Finding.GARBAGE, unsolicited=40, answered=True)] * 2)
    assert any("the meter sends by itself" in line for line in notes(pushing))


def test_the_table_and_the_exit_status() -> None:
    report = ProbeReport("tcp://x:1", [tried(Finding.NO_ANSWER), tried(Finding.OK)])
    lines = tries_table(report)
    assert lines[0].split() == ["try", "settings", "result", "time"]
    assert lines[1].endswith("1.0 s")
    assert report.exit_code == 0
    assert ProbeReport("u", [tried(Finding.NO_ANSWER)]).exit_code == 3
    assert ProbeReport("u", [tried(Finding.GARBAGE, answered=True)]).exit_code == 5
