"""The trace hides the BCC of a password frame: it is the XOR of the password."""

from __future__ import annotations

import io

import pytest

from obisgate.trace import Trace
from tests.helpers import ref_bcc_xor

PASSWORD = b"8F3A21"
BODY = b"P1\x02(" + PASSWORD + b")\x03"
FRAME = b"\x01" + BODY + bytes((ref_bcc_xor(BODY),))


def hex_of(trace_text: str) -> str:
    return " ".join(line.split("  ")[1] for line in trace_text.splitlines() if "<" in line)


@pytest.mark.parametrize("split", [0, 5, len(FRAME) - 1, len(FRAME) - 2])
def test_echoed_password_frame_hides_its_bcc(split: int) -> None:
    stream = io.StringIO()
    trace = Trace(stream, clock=lambda: 0.0)
    trace.add_secret(PASSWORD)
    if split:
        trace.received(FRAME[:split], 300)
        trace.received(FRAME[split:], 300)
    else:
        trace.received(FRAME, 300)
    trace.flush()
    text = stream.getvalue()
    assert PASSWORD.decode() not in text
    bcc_hex = f"{FRAME[-1]:02X}"
    shown = " ".join(part for line in text.splitlines() for part in line.split("|")[0].split()[4:])
    assert not shown.endswith("03 " + bcc_hex)
    assert shown.endswith("29 03 2A")  # ")" ETX "*"
