"""The OBIS catalogue: names kept from ``init``, every spelling, and every address the
suite's real captures carry resolving to what it is (or knowingly to nothing)."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.obis import describe, description, label_of, parse_address, signal_name
from obisgate.protocol.chars import MASK_7BIT
from obisgate.protocol.readout import parse_readout
from obisgate.simulator import builtin_profiles

ALIAS = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: What `obisgate init` named before the catalogue existed (its first release): kept.
INIT_NAMES = {
    "1.8.0": "energy_import",
    "2.8.0": "energy_export",
    "3.8.0": "reactive_energy_import",
    "4.8.0": "reactive_energy_export",
    "15.8.0": "energy_absolute",
    "1.7.0": "power",
    "16.7.0": "power",
    "2.7.0": "power_export",
    "21.7.0": "power_l1",
    "41.7.0": "power_l2",
    "61.7.0": "power_l3",
    "32.7.0": "voltage_l1",
    "52.7.0": "voltage_l2",
    "72.7.0": "voltage_l3",
    "31.7.0": "current_l1",
    "51.7.0": "current_l2",
    "71.7.0": "current_l3",
    "91.7.0": "current_neutral",
    "14.7.0": "frequency",
    "13.7.0": "power_factor",
    "1.6.0": "max_demand_import",
    "2.6.0": "max_demand_export",
    "0.9.1": "time",
    "0.9.2": "date",
    "0.0.0": "meter_address",
    "C.1.0": "serial_number",
    "0.2.0": "firmware_version",
    "F.F.0": "error_code",
}
TARIFF_REGISTERS = {
    "1.8": "energy_import",
    "2.8": "energy_export",
    "3.8": "reactive_energy_import",
    "4.8": "reactive_energy_export",
}


@pytest.mark.parametrize(("code", "name"), INIT_NAMES.items())
def test_init_names_are_kept_in_every_spelling(code: str, name: str) -> None:
    spellings = [code, f"1-0:{code}*255", f"1-0:{code}", f"{code}*255"]
    assert {signal_name(s) for s in spellings} == {name}
    assert signal_name(f"{code}*24") == f"{name}_p24"
    assert signal_name(f"{code}&24") == f"{name}_p24"


@pytest.mark.parametrize(("register", "name"), TARIFF_REGISTERS.items())
@pytest.mark.parametrize("tariff", range(1, 10))
def test_tariff_registers_keep_their_init_names(register: str, name: str, tariff: int) -> None:
    assert signal_name(f"{register}.{tariff}") == f"{name}_t{tariff}"
    assert signal_name(f"1-0:{register}.{tariff}*255") == f"{name}_t{tariff}"
    assert signal_name(f"{register}.{tariff}*3") == f"{name}_t{tariff}_p3"


def test_short_forms_of_init_names() -> None:
    assert signal_name("32.7") == "voltage_l1"
    assert signal_name("F.F") == "error_code"
    assert signal_name("1.6") == "max_demand_import"


@pytest.mark.parametrize(
    ("address", "name", "unit", "device_class", "state_class"),
    [
        ("1.8.0", "energy_import", "kWh", "energy", "total_increasing"),
        ("16.8.0", "energy_net", "kWh", "energy", "total"),
        ("1.9.0", "energy_import_period", "kWh", "energy", "total"),
        ("1.6.1", "max_demand_import_t1", "kW", "power", "measurement"),
        ("1.4.0", "demand_import", "kW", "power", "measurement"),
        ("3.7.0", "reactive_power_import", "kvar", "reactive_power", "measurement"),
        ("9.7.0", "apparent_power_import", "kVA", "apparent_power", "measurement"),
        ("36.7.0", "power_l1", "kW", "power", "measurement"),
        ("22.7.0", "power_export_l1", "kW", "power", "measurement"),
        ("21.8.0", "energy_import_l1", "kWh", "energy", "total_increasing"),
        ("32.6.0", "voltage_max_l1", "V", "voltage", "measurement"),
        ("33.7.0", "power_factor_l1", None, "power_factor", "measurement"),
        ("C.7.0", "power_failures", None, None, "total_increasing"),
        ("0-0:96.7.21*255", "power_failures_any_phase", None, None, "total_increasing"),
        ("1-3:0.2.8", "dsmr_version", None, None, None),
        ("0-1:24.2.1", "mbus1_reading", "m3", None, "total_increasing"),
        ("0-2:24.2.1", "mbus2_reading", "m3", None, "total_increasing"),
        ("7-0:3.0.0", "gas_volume", "m3", "gas", "total_increasing"),
        ("81.7.4", "angle_i1_u1", "deg", None, None),
        ("1-0:1.7.255*255", "power", "kW", "power", "measurement"),  # E 255: not used
    ],
)
def test_catalogue_entries(
    address: str, name: str, unit: str | None, device_class: str | None, state_class: str | None
) -> None:
    info = describe(address)
    assert info is not None
    assert (info.name, info.unit, info.ha_device_class, info.ha_state_class) == (
        name,
        unit,
        device_class,
        state_class,
    )
    assert info.description


@pytest.mark.parametrize(
    "address",
    [
        "1.7.1",  # an instantaneous value's E is no tariff
        "1.2.0",  # D 2 (cumulative maximum): not in the catalogue
        "83.8.0",  # losses
        "99.1.0",  # a load profile
        "2-0:1.8.0",  # medium 2 is not electricity
        "129-129:199.130.3*255",  # SML manufacturer code
        "1-0:96.50.1*1",
        "SNUMB",
        "",
        "1.999.0",
    ],
)
def test_codes_outside_the_catalogue_are_unknown(address: str) -> None:
    assert describe(address) is None


def test_another_channel_is_described_but_has_no_name() -> None:
    info = describe("1-1:1.8.0")
    assert info is not None
    assert info.name is None
    assert "channel 1" in info.description


def test_a_contradicting_unit_makes_the_code_unknown() -> None:
    assert describe("6.8", unit="MWh") is None  # electricity 6.8 is reactive energy (kvarh)
    assert describe("6.8", unit="kvarh") is not None
    assert describe("1.8.0", unit="KWH") is not None  # units as meters write them
    assert describe("1.8.0", unit="") is not None  # a bare "*"


def test_a_manufacturers_family_replaces_the_electricity_codes() -> None:
    heat = describe("6.8", manufacturer="LUG", unit="MWh")
    assert heat is not None
    assert (heat.name, heat.medium, heat.ha_device_class) == ("heat_energy", "heat", "energy")
    assert signal_name("6.26*01", manufacturer="LUG") == "volume_p1"
    assert describe("9.6", manufacturer="LUG") is None  # electricity 9.6 would be a maximum
    assert signal_name("0.0", manufacturer="LUG") == "meter_address"  # general codes still apply
    assert signal_name("6.8", manufacturer="lug") == "heat_energy"


#: Every address of the built-in profiles (modelled on captured readouts) -> its name,
#: or None when the catalogue knowingly does not name it.
CAPTURES: dict[str, dict[str, str | None]] = {
    "e350": {
        "F.F": "error_code",
        "C.1.0": "serial_number",
        "0.0.0": "meter_address",
        "1.8.0": "energy_import",
        "2.8.0": "energy_export",
        "32.7": "voltage_l1",
        "31.7": "current_l1",
        "0.9.1": "time",
        "0.9.2": "date",
    },
    "mt174": {
        "C.1.0": "serial_number",
        "0.0.0": "meter_address",
        "F.F": "error_code",
        "0.9.1": "time",
        "0.9.2": "date",
        "0.2.0": "firmware_version",
        "C.7.0": "power_failures",
        "1.8.0": "energy_import",
        "1.8.1": "energy_import_t1",
        "1.8.2": "energy_import_t2",
        "1.8.0*24": "energy_import_p24",
        "1.8.0*23": "energy_import_p23",
        "2.8.0": "energy_export",
        "1.6.0": "max_demand_import",
        "1.6.0*24": "max_demand_import_p24",
        "32.7.0": "voltage_l1",
        "52.7.0": "voltage_l2",
        "72.7.0": "voltage_l3",
        "31.7.0": "current_l1",
        "51.7.0": "current_l2",
        "71.7.0": "current_l3",
        "14.7.0": "frequency",
        "C.2.1": "last_parameterisation",
        "0.2.2": "tariff_program",
        "C.1.1": "device_id_2",
        "15.8.0": "energy_absolute",
    },
    "kamstrup": {
        "0.0": "meter_address",
        "1.8.0": "energy_import",
        "1.8.0*24": "energy_import_p24",
        "2.8.0": "energy_export",
        "1.6": "max_demand_import",
        "0.9.1": "time",
        "0.9.2": "date",
        "F.F": "error_code",
    },
    "mode-b": {
        "0.0.0": "meter_address",
        "C.1.0": "serial_number",
        "F.F": "error_code",
        "1.8.0": "energy_import",
        "1.8.0&01": "energy_import_p1",
        "1.8.0&02": "energy_import_p2",
        "2.8.0": "energy_export",
        "3.8.0": "reactive_energy_import",
        "4.8.0": "reactive_energy_export",
        "1.6.0": "max_demand_import",
        "0.9.1": "time",
        "0.9.2": "date",
    },
    "uh50": {
        "6.8": "heat_energy",
        "6.26": "volume",
        "9.21": "ownership_number",
        "6.26*01": "volume_p1",
        "6.8*01": "heat_energy_p1",
        "F": "error_number",
        "9.20": "device_number",
        "6.35": "measuring_period",
        "6.6": "power_max",
        "6.6*01": "power_max_p1",
        "6.33": "flow_max",
        "9.4": "temperatures_max",
        "6.31": "operating_hours",
        "6.32": "fault_hours",
        "6.32*01": "fault_hours_p1",
        "6.36": "due_date",
        "6.33*01": "flow_max_p1",
        "9.4*01": "temperatures_max_p1",
        "9.36": "meter_time",
        "9.24": "nominal_flow",
        "9.1": "settings_firmware",
        "9.31": "flow_hours",
        "0.0": "meter_address",
        # no public source found for these UH50 codes: knowingly unknown
        **dict.fromkeys(
            [
                "9.22",
                "9.6",
                "9.7",
                "6.8.1",
                "6.8.2",
                "6.8.3",
                "6.8.4",
                "6.8.5",
                "6.36.1",
                "6.36.1*01",
                "9.17",
                "9.18",
                "9.19",
                "9.25",
                "9.2",
                "9.29",
                "9.0.1",
                "9.0.2",
                "9.34.1",
                "9.34.2",
                "8.26.1",
                "8.26.2",
                "8.26.1*01",
                "8.26.2*01",
                "6.26.1",
                "6.26.4",
                "6.26.5",
                "6.26.1*01",
                "6.26.4*01",
                "6.26.5*01",
            ]
        ),
    },
    "ehz-push": {
        "1-0:0.0.0*255": "meter_address",
        "1-0:1.8.0*255": "energy_import",
        "1-0:2.8.0*255": "energy_export",
        "1-0:96.5.5*255": None,  # a status word of SML meters; not in the OBIS lists
        "0-0:96.1.255*255": "device_id",
        "1-0:16.7.0*255": "power",
    },
    "aux": {
        "0.0.0": "meter_address",
        "0.2.0": "firmware_version",
        "1.8.0": "energy_import",
        "2.8.0": "energy_export",
        "32.7.0": "voltage_l1",
        "31.7.0": "current_l1",
        "F.F.0": "error_code",
    },
    # Energomera mnemonics are no OBIS codes at all
    "ce301": dict.fromkeys(["SNUMB", "ET0PE", "VOLTA", "CURRE", "FREQU", "MODEL"]),
    "nzr": {
        "0.0.0": "meter_address",
        "1.8.0": "energy_import",
        "2.8.0": "energy_export",
        "0.9.1": "time",
        "0.9.2": "date",
    },
}


@pytest.mark.parametrize("profile_name", sorted(CAPTURES))
def test_every_address_of_the_captures_resolves_as_expected(profile_name: str) -> None:
    profile = builtin_profiles()[profile_name]
    expected = CAPTURES[profile_name]
    got: dict[str, str | None] = {}
    for ds in profile.datasets:
        unit = ds.values[0].unit if ds.values else None
        got[ds.address] = signal_name(ds.address, manufacturer=profile.manufacturer, unit=unit)
    assert got == expected


def test_the_large_profile_resolves_its_registers() -> None:
    """The synthetic 'large' profile: every register named, except 5.8.0 sent in kWh
    (reactive energy is in varh: the unit contradicts the code)."""
    profile = builtin_profiles()["large"]
    for ds in profile.datasets:
        unit = ds.values[0].unit
        name = signal_name(ds.address, manufacturer=profile.manufacturer, unit=unit)
        if ds.address.startswith("5.8.0"):
            assert name is None
        else:
            assert name is not None, ds.address


VECTORS = Path(__file__).parents[1] / "protocol" / "vectors"


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.hex")), ids=lambda p: p.stem)
def test_the_byte_vectors_addresses_have_names(path: Path) -> None:
    received = b"".join(
        bytes.fromhex(line[2:])
        for line in path.read_text().splitlines()
        if line.startswith(("< ", "  "))
    )
    readout = parse_readout(received.translate(MASK_7BIT), verify_bcc=False)
    assert readout.identification is not None
    for ds in readout.datasets:
        info = describe(ds.address, manufacturer=readout.identification.manufacturer)
        assert info is not None and info.name, ds.address


def test_every_catalogue_entry_is_valid() -> None:
    text = resources.files("obisgate.obis").joinpath("catalogue.toml").read_text("utf-8")
    data = tomllib.loads(text)
    for entry in data["code"]:
        assert parse_address(entry["address"]) is not None, entry
        assert ALIAS.fullmatch(entry["name"].format(b=1)), entry
        assert entry["text"]
    for family in data["family"]:
        assert family["source"]
        for entry in family["code"]:
            assert ALIAS.fullmatch(entry["name"]), entry


@given(
    st.from_regex(
        r"((1|0|7)-[0-4]:)?([0-9]{1,2}|C|F)\.([0-9]{1,2}|F)(\.[0-9]{1,2})?([*&][0-9]{1,3})?",
        fullmatch=True,
    )
)
def test_every_name_is_a_valid_alias(address: str) -> None:
    info = describe(address)
    if info is not None and info.name is not None:
        assert ALIAS.fullmatch(info.name)
        assert info.description


def test_the_read_table_shows_descriptions_only_when_asked() -> None:
    from obisgate.formats import render  # noqa: PLC0415
    from obisgate.protocol.client import ReadResult  # noqa: PLC0415
    from obisgate.protocol.identification import ProtocolMode  # noqa: PLC0415

    profile = builtin_profiles()["uh50"]
    readout = parse_readout(profile.identification_message() + profile.data_message())
    assert readout.identification is not None
    result = ReadResult(readout.identification, ProtocolMode.B, 2400, readout)
    plain = render(result, "table").splitlines()
    described = render(result, "table", describe=description).splitlines()
    assert plain[3].split() == ["address", "value", "unit"]
    assert described[3].split() == ["address", "value", "unit", "description"]
    assert described[4].split(maxsplit=3) == [
        "6.8",
        "0029.055",
        "MWh",
        "Heat energy (meter reading)",
    ]
    assert "Heat energy" not in "\n".join(plain)
    unknown = next(line for line in described if line.startswith("9.22 "))
    assert unknown.split() == ["9.22", "R"]  # a code the catalogue does not know: no text


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("1.8.0", "Energy import"),
        ("1-0:1.8.1*255", "Energy import T1"),
        ("32.7.0", "Voltage L1"),
        ("0-1:24.2.1", "M-Bus 1 reading"),
        ("C.1.0", "Serial number"),
        ("1-0:81.7.4", "Angle I1 U1"),
        ("1-1:1.8.0", None),  # another channel: described, no name, no label
    ],
)
def test_labels_for_people(address: str, label: str | None) -> None:
    info = describe(address)
    assert info is not None
    assert info.label == label


def test_label_of_any_short_name() -> None:
    assert label_of("device_id_2") == "Device ID 2"
    assert label_of("reactive_energy_q2") == "Reactive energy Q2"
    assert label_of("_") == "_"
