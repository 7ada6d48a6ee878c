"""Hypothesis strategies for readouts, data sets and byte streams."""

from __future__ import annotations

from hypothesis import strategies as st

from obisgate.protocol.dataset import DataSet, Value
from tests.helpers import frame, split_at

# §3.10: addresses are printable text without ( ) / ! . In the raw group text we
# allow '&' and '*' on purpose (sub-values, units), and, as meters send them
# despite the ban, '/' (§9.3: "(/SX330)", unit "P/S") and NUL (§9.3).
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
ADDRESS_CHARS = "".join(c for c in _PRINTABLE if c not in "()/!")
RAW_CHARS = "".join(c for c in _PRINTABLE if c not in "()!") + "\x00"

addresses = st.one_of(
    st.sampled_from(["1.8.0", "F.F", "C.1.0", "P.01", "1-1:30D", "0-0:C.1.6*255", "1.8.0&01"]),
    st.text(ADDRESS_CHARS, max_size=20),
)
raws = st.one_of(
    st.sampled_from(
        ["", "        ", " 20000", "013925.5*", "001234.120*kWh", "088*C&082*C", "/SX330"]
    ),
    st.text(RAW_CHARS, max_size=40),
)
values = raws.map(Value.from_raw)


@st.composite
def datasets(draw: st.DrawFn) -> DataSet:
    """One data set with 1-4 value groups."""
    address = draw(addresses)
    groups = draw(st.lists(values, min_size=1, max_size=4))
    return DataSet(address, tuple(groups))


@st.composite
def data_blocks(draw: st.DrawFn) -> tuple[list[DataSet], str]:
    """Data sets and a data block text that encodes them (without ``!``).

    Line ends vary between CR LF and LF; a set with a non-empty address may sit
    on the same line as the previous one (several sets per line).
    """
    sets = draw(st.lists(datasets(), min_size=1, max_size=12))
    text = ""
    for i, ds in enumerate(sets):
        if i:
            seps = ["\r\n", "\n"] + ([""] if ds.address else [])
            text += draw(st.sampled_from(seps))
        text += ds.to_text()
    return sets, text


@st.composite
def framed_readouts(draw: st.DrawFn, method: str = "xor") -> tuple[list[DataSet], bytes]:
    """A framed readout ``STX block [CR LF] ! CR LF ETX BCC`` and its data sets."""
    sets, text = draw(data_blocks())
    tail = draw(st.sampled_from(["\r\n!\r\n", "!\r\n"]))
    return sets, frame(text + tail, method=method)


#: Pieces that steer arbitrary byte streams into the parsers' interesting paths.
_FRAGMENTS = [
    b"/",
    b"/?!\r\n",
    b"/LGZ4ZMF100AC.M23\r\n",
    b"/ISk5MT174-0001\r\n",
    b"/KAM 685-382-QR-10\r\n",
    b"/EMH5\\@D4EM4TWII001--\r\n",
    b"\x02",
    b"\x03",
    b"\x04",
    b"\x06",
    b"\x15",
    b"\x01",
    b"\x00",
    b"\x7f",
    b"!",
    b"!\r\n",
    b"\r\n",
    b"\n",
    b"(",
    b")",
    b"*",
    b"&",
    b"1.8.0(001234.120*kWh)",
    b"\x06050\r\n",
]
byte_streams = st.lists(
    st.one_of(st.binary(max_size=24), st.sampled_from(_FRAGMENTS)), max_size=24
).map(b"".join)


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """Ways to cut ``data`` into chunks (random cut points)."""
    return st.lists(st.integers(0, max(len(data), 1)), max_size=12).map(
        lambda cuts: split_at(data, cuts)
    )
