"""Trace lines, and secrets masked even when split across reads or sent with bit 7 set."""

from __future__ import annotations

import io
import itertools

from obisgate import Trace
from obisgate.protocol.chars import add_even_parity


def make() -> tuple[Trace, io.StringIO]:
    stream = io.StringIO()
    ticks = itertools.count()
    return Trace(stream, clock=lambda: next(ticks) * 0.25), stream


def test_line_format() -> None:
    trace, stream = make()
    trace.sent(b"/?!\r\n", 300)
    trace.note("switched to 9600 Bd")
    trace.received(b"\x02" + b"A" * 16, 9600)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "+   0.250000 (+ 0.250000) >   300  2F 3F 21 0D 0A" + " " * 35 + "|/?!..|"
    assert lines[1].endswith("=        switched to 9600 Bd")
    assert lines[2].startswith("+   0.750000 (+ 0.250000) <  9600  02 41 41")
    assert lines[3].startswith("+   1.000000 (+ 0.250000)          41  ")


def test_secret_split_across_reads_is_masked() -> None:
    trace, stream = make()
    trace.add_secret(b"12345678")
    trace.received(b"\x01P1\x02(1234", 300)
    trace.received(b"5678)\x03a", 300)
    trace.flush()
    text = stream.getvalue()
    assert "1234" not in text
    assert "31 32 33 34" not in text
    # The BCC after ETX is the XOR of the password: masked too.
    assert text.splitlines()[-1].endswith(
        "2A 2A 2A 2A 2A 2A 2A 2A 29 03 2A                 |********).*|"
    )


def test_secret_with_parity_bits_and_dynamic_source() -> None:
    trace, stream = make()
    secrets: list[bytes] = []
    trace.add_secret_source(lambda: secrets)
    secrets.append(b"00000000")
    trace.sent(add_even_parity(b"\x01P1\x02(00000000)\x03a"), 9600)
    text = stream.getvalue()
    assert "30 30 30" not in text
    assert "B0 B0" not in text
    assert "********" in text


def test_a_held_secret_prefix_is_written_masked() -> None:
    trace, stream = make()
    trace.add_secret(b"secret12")
    trace.received(b"data secre", 300)
    assert "secre" not in stream.getvalue()
    trace.note("no bytes for 1.5 s")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("|data |")
    assert lines[1].endswith("|********|")
    assert "73 65 63" not in stream.getvalue()
