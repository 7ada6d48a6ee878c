"""parse_readout's short way for a readout starting with STX gives what the general way gives.

The general way is taken by the same bytes after a line end (skipped before any message).
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from obisgate.errors import ProtocolError
from obisgate.protocol.bcc import BccMethod, compute_bcc
from obisgate.protocol.readout import (
    BccStatus,
    RawMessage,
    Readout,
    parse_readout,
    readout_from_message,
)

LINES = st.lists(
    st.sampled_from(
        [
            "1.8.0(001234.5*kWh)",
            "0.0.0(123)",
            "1.6.0(01.5*kW)(2401011200)",
            "(1.5)(2.5)",
            "9.4(088*C&082*C)",
            "x)(",
            "",
            "!",
            "\x03",
            "\x04",
            "\x02",
            "/ABC5",
        ]
    ),
    max_size=8,
)


def _outcome(data: bytes, method: BccMethod, verify: bool) -> object:
    try:
        return parse_readout(data, bcc_method=method, verify_bcc=verify)
    except ProtocolError as error:
        return (type(error), str(error))


@settings(max_examples=1500, deadline=None)
@given(
    LINES,
    st.sampled_from([b"\r\n!\r\n\x03", b"\r\n!\r\n\x04", b"!\r\n\x03", b"\r\n!\r\n", b""]),
    st.sampled_from(list(BccMethod)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_stx_first_equals_the_general_way(
    lines: list[str], tail: bytes, method: BccMethod, good_bcc: bool, verify: bool, bit7: bool
) -> None:
    block = "\r\n".join(lines).encode("latin-1") + tail
    bcc = compute_bcc(block, method) if good_bcc else compute_bcc(block, method) ^ 0x11
    data = b"\x02" + block + (bytes((bcc,)) if tail.endswith((b"\x03", b"\x04")) else b"")
    if bit7:
        data = bytes(b | 0x80 for b in data)
    assert _outcome(data, method, verify) == _outcome(b"\r\n" + data, method, verify)


def test_a_readout_built_by_its_slots_equals_one_built_by_its_constructor() -> None:
    block = b"1.8.0(1*kWh)\r\n(2)(3)\r\n!\r\n\x03"
    message = RawMessage(0, len(block) + 2, block, compute_bcc(block))
    built = readout_from_message(message, BccStatus.VALID)
    assert built == Readout(
        built.datasets, BccStatus.VALID, None, (), {}
    )  # every field compared below too, _index included (compare=False in ==)
    assert [getattr(built, f.name) for f in dataclasses.fields(Readout)] == [
        built.datasets,
        BccStatus.VALID,
        None,
        (),
        {},
    ]
    assert built.get("1.8.0") is built.datasets[0]
    assert dataclasses.replace(built) == built
