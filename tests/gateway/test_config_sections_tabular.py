"""Single tables ([storage], [output], output sections) in Excel workbooks and CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.http.spec import HTTP
from obisgate.gateway.outputs.iec104.spec import IEC104
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.spec import MODBUS
from obisgate.gateway.outputs.mqtt.spec import MQTT
from obisgate.gateway.outputs.opcua.spec import OPCUA
from tests.gateway.test_config_tabular import DEVICES, SIGNALS, problems, workbook

DEVICES_CSV = "device_alias,device\nm1,/dev/ttyUSB0\n"
SIGNALS_CSV = "device_alias,signal_alias,tag_job_todo,number_type,log\nm1,energy,1.8.0,FLOAT,1\n"


# -- Excel ------------------------------------------------------------------------------


def test_excel_section_sheets(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "plant.xlsx",
        {
            "Devices": DEVICES,
            "Signals": SIGNALS,
            "MQTT": [
                ["URL", "ca file", "Topic Prefix", "qos", "discovery_prefix"],
                ["mqtts://broker.example", "certs/ca.pem", "site1", 0.0, "none"],
            ],
            "Http": [["listen", "history_limit", "allow_anonymous"], ["0.0.0.0:0", 50, 1]],
            " storage ": [["path", "synchronous"], ["data/history.sqlite", "full"]],
            "OUTPUT": [["format"], ["table"]],
            "Modbus": [["unit_id", "word_order"], [7, "Little"]],
            "MQTT settings": [["anything"], ["ignored like every other sheet"]],
        },
    )
    config = load_config(path)
    mqtt = config.section(MQTT)
    assert mqtt is not None
    assert (
        mqtt.url,
        mqtt.topic_prefix,
        mqtt.qos,
    ) == (
        "mqtts://broker.example",
        "site1",
        0,
    )
    assert mqtt.discovery_prefix == ""
    # relative file names resolve against the workbook's folder, as in TOML
    assert mqtt.ca_file == tmp_path / "certs" / "ca.pem"
    assert config.storage.path == tmp_path / "data" / "history.sqlite"
    assert config.storage.synchronous == "FULL"
    assert config.section(HTTP) == HttpConfig(
        listen="0.0.0.0:0", history_limit=50, allow_anonymous=True
    )
    assert config.section(MODBUS) == ModbusConfig(unit_id=7, word_order="little")
    assert config.output.format == "table"
    assert "format" in config.output.model_fields_set
    assert (config.section(IEC104), config.section(OPCUA)) == (None, None)


def test_excel_section_sheet_without_values_has_the_defaults(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "plant.xlsx",
        {
            "Devices": DEVICES,
            "Signals": SIGNALS,
            "http": [],
            "Modbus": [["listen", "unit_id"]],
            "Output": [["format"], [None]],
        },
    )
    config = load_config(path)
    assert config.section(HTTP) == HttpConfig()
    assert config.section(MODBUS) == ModbusConfig()
    assert "format" not in config.output.model_fields_set


def test_excel_section_errors_name_sheet_row_and_field(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "bad.xlsx",
        {
            "Devices": DEVICES,
            "Signals": SIGNALS,
            "Http": [
                ["listen", "history_limt"],
                ["0.0.0.0:8080", 5],
                [],
                ["127.0.0.1:8081", 6],
            ],
            "Modbus": [["unit_id", None], [300, "stray"]],
            "MQTT": [["url"], [None], ["mqtt://late"]],
            "Storage": [[None], ["data.sqlite"]],
        },
    )
    assert problems(path) == [
        f"{path}: sheet Http row 1 column B: history_limt: unknown field 'history_limt'; "
        "did you mean 'history_limit'?",
        f"{path}: sheet Http row 4: the http sheet holds one row of values (row 2); "
        "row 4 is one too many",
        f"{path}: sheet Modbus row 2: value in column 2, which has no field name",
        f"{path}: sheet MQTT row 3: the values of the mqtt sheet go in row 2, "
        "under the field names",
        f"{path}: sheet Storage: row 1 of the storage sheet must hold the field names, "
        "row 2 the values",
        # then the sections' values, in the order mqtt, http, modbus, ...
        f"{path}: sheet MQTT: url: required field is missing",
        f"{path}: sheet Http row 2: listen = '0.0.0.0:8080' is reachable from other machines: "
        "set token_env (the variable holding a bearer token) or allow_anonymous = 1",
        f"{path}: sheet Modbus row 2: unit_id: got 300; allowed: 0 to 247",
    ]


def test_excel_two_sheets_for_one_section(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "two.xlsx",
        {"Devices": DEVICES, "Signals": SIGNALS, "Http": [], "HTTP ": []},
    )
    assert problems(path) == [f"{path}: two sheets for [http]: 'Http' and 'HTTP '"]


# -- CSV --------------------------------------------------------------------------------


def csv_directory(folder: Path, **sections: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "devices.csv").write_text(DEVICES_CSV, encoding="utf-8")
    (folder / "signals.csv").write_text(SIGNALS_CSV, encoding="utf-8")
    for name, text in sections.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_csv_directory_section_files(tmp_path: Path) -> None:
    folder = csv_directory(
        tmp_path / "site",
        **{
            "HTTP.CSV": "\nlisten;history_limit\n\n127.0.0.1:0;20\n\n",
            "storage.csv": "path\nhistory/site.sqlite\n",
            "mqtt.csv": "url,password_file,username\nmqtt://broker:1884,secret.txt,gw\n",
            "iec104.csv": "",
            "notes.csv": "anything\nat all\n",
        },
    )
    config = load_config(folder)
    assert config.section(HTTP) == HttpConfig(listen="127.0.0.1:0", history_limit=20)
    assert config.storage.path == folder / "history" / "site.sqlite"
    mqtt = config.section(MQTT)
    assert mqtt is not None
    assert (
        mqtt.host,
        mqtt.port,
        mqtt.username,
    ) == ("broker", 1884, "gw")
    assert mqtt.password_file == folder / "secret.txt"
    assert config.section(IEC104) is not None  # an empty file: the section with its defaults
    assert (config.section(MODBUS), config.section(OPCUA)) == (None, None)


@pytest.mark.parametrize("given", ["Plant1_Devices.csv", "Plant1_Signals.csv"])
def test_csv_pair_section_files_share_the_name(tmp_path: Path, given: str) -> None:
    (tmp_path / "Plant1_Devices.csv").write_text(DEVICES_CSV, encoding="utf-8")
    (tmp_path / "Plant1_Signals.csv").write_text(SIGNALS_CSV, encoding="utf-8")
    (tmp_path / "plant1_modbus.csv").write_text("unit_id\n9\n", encoding="utf-8")
    (tmp_path / "Plant1_Storage.csv").write_text("path\nplant1.sqlite\n", encoding="utf-8")
    (tmp_path / "plant2_http.csv").write_text("listen\n127.0.0.1:0\n", encoding="utf-8")
    (tmp_path / "http.csv").write_text("listen\n127.0.0.1:0\n", encoding="utf-8")
    config = load_config(tmp_path / given)
    assert config.section(MODBUS) == ModbusConfig(unit_id=9)
    assert config.storage.path == tmp_path / "plant1.sqlite"
    assert config.section(HTTP) is None  # another pair's file, or the directory form's


def test_csv_section_errors_name_file_line_and_field(tmp_path: Path) -> None:
    folder = csv_directory(
        tmp_path,
        **{
            "http.csv": "listen,token\n127.0.0.1:0,x\n127.0.0.1:1,y\n\n127.0.0.1:2\n",
            "modbus.csv": "unit_id,word_order\n-1,middle,3\n",
            "output.csv": "format\n",
        },
    )
    http = folder / "http.csv"
    modbus = folder / "modbus.csv"
    assert problems(folder) == [
        f"{http}:1: column 2: token: unknown field 'token'; did you mean 'token_env'?",
        f"{http}:3: the http file holds one line of values (line 2); line 3 is one too many",
        f"{http}:5: the http file holds one line of values (line 2); line 5 is one too many",
        f"{modbus}:2: value in column 3, which has no field name",
        f"{modbus}:2: unit_id: got '-1'; allowed: 0 to 247",
        f"{modbus}:2: word_order: got 'middle'; allowed: big, little",
    ]
