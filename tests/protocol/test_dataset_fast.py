"""The well-formed fast path of parse_data_block gives exactly the general parser's result."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from obisgate.protocol.dataset import _parse_exact, _parse_well_formed, parse_data_block

# Pieces of real blocks and of broken ones: brackets, units, sub-values, blanks, line ends.
PIECES = st.sampled_from(
    [
        "(",
        ")",
        "*",
        "&",
        "\r\n",
        "\n",
        "\r",
        " ",
        "\t",
        "\x00",
        "\x1c",
        "\x0b",
        "1.8.0",
        "kWh",
        "0012.5",
        "*kWh",
        "(1.5*kW)",
        "(x)",
        "",
        "C.1",
        "/",
        "!",
        "ab",
    ]
)
BLOCKS = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=3000, deadline=None)
@given(BLOCKS)
def test_the_fast_path_equals_the_general_parser(text: str) -> None:
    fast = _parse_well_formed(text)
    assert fast is None or fast == _parse_exact(text)
    assert parse_data_block(text) == _parse_exact(text)


LINES = st.lists(
    st.tuples(
        st.sampled_from(["1.8.0", "C.1.0", "", "0.9.1", "1.8.0*01", "9.4&1", " "]),
        st.lists(
            st.sampled_from(["12.5*kWh", "", "   ", "088*C&082*C", "13925.5*", "x"]),
            min_size=1,
            max_size=3,
        ),
        st.sampled_from(["\r\n", "\n", "", "\r\n\r\n"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=2000, deadline=None)
@given(LINES)
def test_well_formed_blocks_take_the_fast_path(lines: list[tuple[str, list[str], str]]) -> None:
    text = "".join(a + "".join(f"({r})" for r in raws) + end for a, raws, end in lines)
    fast = _parse_well_formed(text)
    assert fast is not None
    assert fast == _parse_exact(text)


def test_blocks_with_something_to_report_take_the_general_path() -> None:
    for text in ["1.8.0(1)junk\r\n2.8.0(2)\r\n", "1.8.0(1))\r\n", "1.8.0(1\r\n2)\r\n", "x\r\n"]:
        assert _parse_well_formed(text) is None
        assert parse_data_block(text) == _parse_exact(text)
