"""The line fast path of parse_data_block gives exactly the general parser's result."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from obisgate.protocol.dataset import _parse_exact, _parse_lines, parse_data_block

# Addresses and value texts as meters send them, and broken ones: brackets, sub-values,
# blanks, bare CR or LF, and the "(" ")" ")(" that the fast path counts instead of parsing.
ADDRESSES = st.sampled_from(
    ["1.8.0", "C.1.0", "", " ", "1.8.0*01", "9.4&1", "0.0.0", "a)b", "a(b", "\r", "\t", "x y"]
)
RAWS = st.sampled_from(
    [
        "12.5*kWh",
        "",
        "   ",
        "088*C&082*C",
        "13925.5*",
        "x",
        "*",
        "&",
        "1&2*V",
        "a)(b",
        ")(",
        "(",
        ")",
        "\n",
        "\r",
        "2206021230",
    ]
)
ENDS = st.sampled_from(["\r\n", "\n", "", "\r\n\r\n", "\r", " ", ")", "\n\r"])
LINES = st.lists(
    st.tuples(ADDRESSES, st.lists(RAWS, max_size=3), ENDS), min_size=0, max_size=10
).map(lambda lines: "".join(a + "".join(f"({r})" for r in raws) + e for a, raws, e in lines))


@settings(max_examples=4000, deadline=None)
@given(LINES)
def test_the_line_path_equals_the_general_parser(text: str) -> None:
    fast = _parse_lines(text)
    assert fast is None or fast == _parse_exact(text)
    assert parse_data_block(text) == _parse_exact(text)


CLEAN_LINES = st.lists(
    st.tuples(
        st.sampled_from(["1.8.0", "C.1.0", "", "0.9.1", "1.8.0*01", "9.4&1", " "]),
        st.lists(
            st.sampled_from(["12.5*kWh", "", "   ", "088*C&082*C", "13925.5*", "x", "1&2"]),
            min_size=1,
            max_size=3,
        ),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=2000, deadline=None)
@given(CLEAN_LINES, st.sampled_from(["\r\n", "\n"]), st.booleans())
def test_lines_as_meters_send_them_take_the_line_path(
    lines: list[tuple[str, list[str]]], end: str, final_end: bool
) -> None:
    text = end.join(a + "".join(f"({r})" for r in raws) for a, raws in lines)
    text += end if final_end else ""
    fast = _parse_lines(text)
    assert fast is not None
    assert fast == _parse_exact(text)


def test_blocks_the_line_path_leaves_to_the_others() -> None:
    for text in [
        "1.8.0(1)2.8.0(2)\r\n",  # two data sets on one line
        "1.8.0(1)\r\n\r\n2.8.0(2)\r\n",  # an empty line
        "1.8.0(1)\r\n2.8.0(2)\n",  # mixed line ends
        "1.8.0(1))\r\n",
        "1.8.0(1\r\n2)\r\n",
        "a)b(1)\r\n",
        "1.8.0(a(b)\r\n",
        "x)\r\n(a(b)\r\n",  # a line without "(" and one with two: the counts alone agree
        "1.8.0(1) \r\n",
        "",
        "\r\n",
    ]:
        assert _parse_lines(text) is None, text
        assert parse_data_block(text) == _parse_exact(text)
