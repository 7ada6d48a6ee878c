"""Data sets and data blocks (§3.10, §9, field notes §1)."""

from __future__ import annotations

import time

import pytest

from obisgate.protocol.dataset import DataSet, Value, parse_data_block


def ds(address: str, *raws: str) -> DataSet:
    return DataSet(address, tuple(Value.from_raw(r) for r in raws))


# -- Value ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "unit"),
    [
        ("001234.120*kWh", "001234.120", "kWh"),
        ("12314330", "12314330", None),
        ("", "", None),
        ("        ", "        ", None),
        (" 20000", " 20000", None),
        ("013925.5*", "013925.5", ""),
        ("*kWh", "", "kWh"),
        ("---.-*V", "---.-", "V"),
        ("088*C&082*C", "088", "C"),
        ("2024-03-15&13:15:19", "2024-03-15", None),
        ("1*2*3", "1", "2*3"),
        ("12*P/S", "12", "P/S"),
        ("\x00" * 8, "\x00" * 8, None),
        ("000007,4*kW", "000007,4", "kW"),
    ],
)
def test_value_from_raw(raw: str, value: str, unit: str | None) -> None:
    v = Value.from_raw(raw)
    assert v == Value(raw, value, unit)
    assert v.to_text() == f"({raw})"


def test_subvalues() -> None:
    v = Value.from_raw("088*C&082*C")
    assert v.subvalues == (Value("088*C", "088", "C"), Value("082*C", "082", "C"))
    assert Value.from_raw("5*kWh").subvalues == (Value("5*kWh", "5", "kWh"),)
    assert Value.from_raw("").subvalues == (Value("", "", None),)
    assert Value.from_raw("a&&b").subvalues == (
        Value("a", "a", None),
        Value("", "", None),
        Value("b", "b", None),
    )


def test_dataset_accessors() -> None:
    d = ds("1.6.0", "02.468*kW", "2511180930")
    assert d.value == Value("02.468*kW", "02.468", "kW")
    assert d.to_text() == "1.6.0(02.468*kW)(2511180930)"
    assert ds("", "0.116", "0.060").to_text() == "(0.116)(0.060)"


# -- parse_data_block -------------------------------------------------------------

E350_BLOCK = (
    "F.F(00)\r\nC.1.0(12314330)\r\n0.0.0(00188123)\r\n1.8.0(001234.120*kWh)\r\n"
    "2.8.0(000000.000*kWh)\r\n32.7(229*V)\r\n31.7(000.03*A)\r\n0.9.1(131519)\r\n"
    "0.9.2(240315)\r\n"
)


def test_e350_block() -> None:
    sets, unparsed = parse_data_block(E350_BLOCK)
    assert sets == [
        ds("F.F", "00"),
        ds("C.1.0", "12314330"),
        ds("0.0.0", "00188123"),
        ds("1.8.0", "001234.120*kWh"),
        ds("2.8.0", "000000.000*kWh"),
        ds("32.7", "229*V"),
        ds("31.7", "000.03*A"),
        ds("0.9.1", "131519"),
        ds("0.9.2", "240315"),
    ]
    assert unparsed == []


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_line_ends(eol: str) -> None:
    text = eol.join(["1.8.0(1*kWh)", "2.8.0(2*kWh)", "(3)(4)", ""])
    sets, unparsed = parse_data_block(text)
    assert sets == [ds("1.8.0", "1*kWh"), ds("2.8.0", "2*kWh"), ds("", "3", "4")]
    assert unparsed == []


def test_several_sets_on_one_line() -> None:
    sets, unparsed = parse_data_block("6.8(0.000*MWh)6.26(00000.00*m3)9.21(66153690)\r\n")
    assert sets == [ds("6.8", "0.000*MWh"), ds("6.26", "00000.00*m3"), ds("9.21", "66153690")]
    assert unparsed == []


def test_several_value_groups_under_one_address() -> None:
    text = "1.6.0(02.468*kW)(2511180930)\r\n1-1:9.6.0(00.440*MVA)(13-07-19 08:30)\r\n"
    sets, _ = parse_data_block(text)
    assert sets == [
        ds("1.6.0", "02.468*kW", "2511180930"),
        ds("1-1:9.6.0", "00.440*MVA", "13-07-19 08:30"),
    ]
    assert sets[0].values[1] == Value("2511180930", "2511180930", None)


def test_value_only_lines_are_kept_with_empty_address() -> None:
    text = (
        "P.01(1220823161500)(00000000)(15)(2)(1.5)(kW)(2.5)(kW)\r\n"
        "(0.18374)(0.00078)\r\n"
        "(0.16832)(0.00000)\r\n"
    )
    sets, unparsed = parse_data_block(text)
    assert sets == [
        ds("P.01", "1220823161500", "00000000", "15", "2", "1.5", "kW", "2.5", "kW"),
        ds("", "0.18374", "0.00078"),
        ds("", "0.16832", "0.00000"),
    ]
    assert unparsed == []


def test_value_only_line_first() -> None:
    sets, _ = parse_data_block("(1)\r\n(2)")
    assert sets == [ds("", "1"), ds("", "2")]


def test_ampersand_subvalues_and_addresses() -> None:
    sets, _ = parse_data_block("9.4(088*C&082*C)\r\n1.8.0&01(00012.5*kWh)\r\n")
    assert sets == [ds("9.4", "088*C&082*C"), ds("1.8.0&01", "00012.5*kWh")]
    assert sets[0].value.subvalues[1] == Value("082*C", "082", "C")


@pytest.mark.parametrize(
    "address", ["C.1.0", "F.F", "P.01", "1-1:30D", "0-0:C.1.6*255", "C.8.0", "F.F.1", "0E0701FF"]
)
def test_letters_in_addresses(address: str) -> None:
    sets, unparsed = parse_data_block(f"{address}(42)\r\n")
    assert sets == [ds(address, "42")]
    assert unparsed == []


def test_empty_blank_and_unit_variants() -> None:
    text = "C.1.1()\r\n0.0(        )\r\n0.0.1( 20000)\r\n1.8.1(013925.5*)\r\n0.9.1(131519)\r\n"
    sets, _ = parse_data_block(text)
    assert [(d.address, d.value) for d in sets] == [
        ("C.1.1", Value("", "", None)),
        ("0.0", Value("        ", "        ", None)),
        ("0.0.1", Value(" 20000", " 20000", None)),
        ("1.8.1", Value("013925.5*", "013925.5", "")),
        ("0.9.1", Value("131519", "131519", None)),
    ]


def test_long_lines() -> None:
    # L+G UH50 style: many sets on one line, far beyond the 78-character limit.
    parts = [f"6.{i}({i:08d}*kWh)" for i in range(40)]
    line = "".join(parts)
    assert len(line) > 300
    sets, unparsed = parse_data_block(line + "\r\n" + "1.8.0(" + "9" * 400 + ")\r\n")
    assert sets[:40] == [ds(f"6.{i}", f"{i:08d}*kWh") for i in range(40)]
    assert sets[40] == ds("1.8.0", "9" * 400)
    assert unparsed == []


def test_slash_and_other_banned_characters_inside_values() -> None:
    sets, unparsed = parse_data_block("0.2.0(/SX330)\r\nC.90(a!b/c*P/S)\r\n")
    assert sets == [ds("0.2.0", "/SX330"), ds("C.90", "a!b/c*P/S")]
    assert unparsed == []


def test_text_that_is_not_a_data_set_is_reported() -> None:
    sets, unparsed = parse_data_block("garbage\r\n1.8.0(1)\r\n(unclosed\r\n2.8.0(2) tail")
    assert sets == [ds("1.8.0", "1"), ds("2.8.0", "2")]
    assert unparsed == ["garbage", "(unclosed", "tail"]


def test_blank_gaps_are_not_reported() -> None:
    sets, unparsed = parse_data_block("\x00\x00\r\n \t1.8.0(1)\r\n\r\n\r\n")
    # the address keeps its leading blanks exactly as sent
    assert sets == [ds(" \t1.8.0", "1")]
    assert unparsed == []


def test_stray_brackets() -> None:
    sets, unparsed = parse_data_block("1.8.0((1)\r\n2.8.0(2))\r\n")
    assert sets == [ds("", "1"), ds("2.8.0", "2")]
    assert unparsed == ["1.8.0(", ")"]


def test_empty_block() -> None:
    assert parse_data_block("") == ([], [])
    assert parse_data_block("\r\n") == ([], [])


def test_bracketless_junk_parses_in_linear_time() -> None:
    # A data block of 200 kB without a single bracket (a noisy line, a meter
    # in the wrong mode) must not make the parser go quadratic: this took
    # minutes before the address pattern was anchored.
    junk = "x" * 200_000
    t0 = time.perf_counter()
    sets, unparsed = parse_data_block(junk)
    elapsed = time.perf_counter() - t0
    assert sets == []
    assert unparsed == [junk]
    assert elapsed < 1.0
    sets, unparsed = parse_data_block(junk + "1.8.0(1)")
    assert sets == [ds(junk + "1.8.0", "1")]
    t0 = time.perf_counter()
    sets, unparsed = parse_data_block("(" + junk + "\r\n" + junk)
    elapsed = time.perf_counter() - t0
    assert sets == []
    assert unparsed == ["(" + junk + "\r\n" + junk]
    assert elapsed < 1.0
