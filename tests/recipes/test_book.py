"""The recipe table: packaged recipes with sources, the user's file, matching the captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate.errors import ConfigError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.recipes import apply_settings, builtin_recipes, core_fields, load_recipes
from obisgate.simulator import builtin_profiles
from obisgate.transport.base import LineSettings


def test_every_packaged_recipe_has_a_source_a_title_and_settings() -> None:
    book = builtin_recipes()
    assert len(book.entries) >= 8
    names = book.names()
    assert len(set(names)) == len(names)
    for entry in book.entries:
        assert entry.source and entry.title and entry.settings, entry.name
        assert entry.origin == "obisgate"
        assert (
            ("http" in entry.source)
            or ("field notes" in entry.source)
            or ("IEC 62056-21" in entry.source)
        ), entry.name


#: Identifications of the suite's captures and profiles -> the recipes that match them.
IDENTIFICATIONS = {
    "/LGZ4ZMF100AC.M23": [],  # e350, the protocol notes' transcript
    "/ISk5MT174-0001": ["lower-case-third-letter"],
    "/KAM 685-382-QR-10": ["kamstrup-685"],
    "/ELSDA1500-B": ["elster-a1500"],
    "/LUGCUH50": ["lug-uh50"],
    "/HAG3eHZ010C_EHZ1WA02": [],
    "/AUX5\\2SX330SKH10F10013": [],
    "/EKT5CE301v12": [],
    "/nzr4SEM16_S_v1.12": ["lower-case-third-letter"],
    "/LGZ5ZMD4104107.B26": [],
    "/HAgE2WR5": ["lower-case-third-letter"],
    "/ESY3EasyMeter": [],
    "/EBZ3DD3": ["ebz-dd3"],
    "/LGZ4\\2ZMD120APt.G03": ["lgz-zmd120"],  # pwitab/iec62056-21#33
    "/EMH5LZQJ-XC": ["emh-r5", "emh-lzqj"],
    "/ESY5Q3DA1024 V3.03": ["easymeter-q3d"],
    "/LGZ5\\2ZMD4054459.B40": [],  # zmd, mode E (the ZMD120 recipe names ZMD120 only)
    "/ISK5AM550-TD2": [],  # am550, direct HDLC
    "/ISk5MT174-0666": ["lower-case-third-letter"],  # poison (the chaos test's meter)
}


@pytest.mark.parametrize(("line", "names"), IDENTIFICATIONS.items())
def test_recipes_matching_the_captured_identifications(line: str, names: list[str]) -> None:
    ident = Identification.parse(line)
    assert [e.name for e in builtin_recipes().matching(ident)] == names


def test_every_builtin_profile_is_covered_by_the_table_above() -> None:
    for profile in builtin_profiles().values():
        line = profile.identification_message().decode("latin-1").rstrip("\r\n")
        assert line in IDENTIFICATIONS, line


def test_automatic_and_forced_only_settings() -> None:
    book = builtin_recipes()
    uh50 = book.get("LUG-UH50")  # any case
    assert uh50 is not None
    assert uh50.automatic == {}
    assert uh50.forced_only == {"wakeup": 40, "wakeup_delay_ms": 0}
    zmd = book.get("lgz-zmd120")
    assert zmd is not None
    assert zmd.automatic == {"switch_baud": False}
    assert zmd.core.adjust == (("switch_baud", False),)
    q3d = book.get("easymeter-q3d")
    assert q3d is not None
    assert q3d.forced_only == {"type": "D", "baudrate": 9600}  # a push meter: never automatic


def test_rules_from_the_book() -> None:
    book = builtin_recipes()
    keep = core_fields({"t2", "switch_baud", "device_alias", "wakeup"})
    assert keep == {"reaction_time_s", "switch_baud"}
    rules = book.rules(keep)
    assert rules.keep == keep
    assert rules.forced is None
    assert len(rules.recipes) == len(book.entries)
    forced = book.rules(forced="lgz-zmd120")
    assert forced.forced is not None and forced.forced.name == "lgz-zmd120"
    assert book.rules(forced="none").recipes == ()
    with pytest.raises(ConfigError, match="no recipe 'zmd'; known: lower-case-third-letter"):
        book.rules(forced="zmd")


OWN = """
[[recipe]]
name = "my-meter"
manufacturer = "ABC"
model = "X1"
title = "needs a longer delay here"
source = "our own tests, 2026"
settings = { baud_change_delay_ms = 400, wakeup = 66 }

[[recipe]]
name = "lgz-zmd120"
manufacturer = "LGZ"
model = "ZMD120"
source = "our site: it does switch with our heads"
settings = { max_baud = 4800 }
"""


def test_the_users_file_extends_the_table(tmp_path: Path) -> None:
    path = tmp_path / "recipes.toml"
    path.write_text(OWN, encoding="utf-8")
    book = load_recipes(path)
    names = book.names()
    assert names[-2:] == ["my-meter", "lgz-zmd120"]  # the user's come last (they win)
    assert names.count("lgz-zmd120") == 1  # same name: the user's replaces obisgate's
    zmd = book.get("lgz-zmd120")
    assert zmd is not None
    assert (zmd.settings, zmd.origin) == ({"max_baud": 4800}, str(path))
    mine = book.get("my-meter")
    assert mine is not None
    assert mine.core.adjust == (("baud_change_delay_s", 0.4),)


def test_the_environment_names_the_users_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "recipes.toml"
    path.write_text(OWN, encoding="utf-8")
    monkeypatch.setenv("OBISGATE_RECIPES", str(path))
    assert "my-meter" in load_recipes().names()
    monkeypatch.delenv("OBISGATE_RECIPES")
    assert "my-meter" not in load_recipes().names()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[recipe]\n", "not valid TOML"),
        ("[meters]\nx = 1\n", "unknown table 'meters'"),
        ('[[recipe]]\nname = "a b"\n', "recipe name 'a b'"),
        (
            '[[recipe]]\nname = "a"\nsource = "s"\nsettings = { t2 = 20 }\n',
            "manufacturer is required",
        ),
        (
            '[[recipe]]\nname = "a"\nmanufacturer = "A"\nsettings = { t2 = 20 }\n',
            "source is required",
        ),
        ('[[recipe]]\nname = "a"\nmanufacturer = "A"\nsource = "s"\n', "at least one setting"),
        (
            '[[recipe]]\nname = "a"\nmanufacturer = "A"\nsource = "s"\nsettings = { t3 = 1 }\n',
            "recipe a: unknown setting 't3'",
        ),
        (
            '[[recipe]]\nname = "a"\nmanufacturer = "A"\nsource = "s"\nsettings = { t2 = 5 }\n',
            "recipe a: t2 = 5: allowed a whole number 20-1500 ms",
        ),
        (
            '[[recipe]]\nname = "a"\nmanufacturer = "A"\nsource = "s"\nsettings = { switch_baud = 1 }\n',
            "switch_baud = 1: allowed true or false",
        ),
        (
            '[[recipe]]\nname = "a"\nmanufacturer = "["\nsource = "s"\nsettings = { t2 = 20 }\n',
            "manufacturer pattern",
        ),
        (
            '[[recipe]]\nname = "a"\nmanufacturer = "A"\nsource = "s"\nsettings = { t2 = 20 }\n'
            '[[recipe]]\nname = "A"\nmanufacturer = "A"\nsource = "s"\nsettings = { t2 = 20 }\n',
            "recipe A is defined twice",
        ),
        ('[[recipe]]\nname = "a"\nmodell = "x"\n', "unknown field 'modell'"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_recipe(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_recipes(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the recipes file .*missing\.toml"):
        load_recipes(tmp_path / "missing.toml")


def test_settings_apply_to_reader_and_line() -> None:
    options, line, rest = apply_settings(
        ReadoutOptions(),
        LineSettings(),
        {
            "type": "A",
            "t2": 250,
            "baud_change_delay_ms": 400,
            "wakeup": 66,
            "wakeup_delay_ms": 0,
            "request_start": "/#",
            "bcc_method": "sum7",
            "software_parity": True,
            "databits": 8,
            "parity": "NONE",
            "baudrate": 9600,
            "total_timeout_ms": 240000,
            "decimal_comma": True,
        },
    )
    assert options.mode is ProtocolMode.A
    assert (options.reaction_time_s, options.baud_change_delay_s) == (0.25, 0.4)
    assert (options.wakeup_nuls, options.wakeup_delay_s, options.request_start) == (66, 0, "/#")
    assert options.bcc_method is BccMethod.SUM7
    assert (options.initial_baud, line.baudrate) == (9600, 9600)
    assert (line.bytesize, line.parity, line.software_parity) == (8, "N", True)
    assert rest == {"total_timeout_ms": 240000, "decimal_comma": True}
