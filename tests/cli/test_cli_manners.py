"""The command line refuses what would do nothing or be wrong, with one line and exit 2,
and every error line has the same prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from obisgate.cli import main

DEMO_CONFIG = Path(__file__).parents[2] / "src" / "obisgate" / "gateway" / "demo.toml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="obisgate")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["read", "--t2", "5000", "tcp://127.0.0.1:1"], "'--t2': 5000: allowed 200-1500 ms"),
        (["read", "--t2", "20", "tcp://127.0.0.1:1"], "'--t2': 20: allowed 200-1500 ms"),
        (
            ["read", "--baudrate", "12345", "tcp://127.0.0.1:1"],
            "'--baudrate': 12345: allowed 300, 600, 1200, 2400, 4800, 9600, 19200 Bd",
        ),
        (["read", "--wakeup", "-1", "tcp://127.0.0.1:1"], "'--wakeup': -1: allowed 0-10000 NULs"),
        (["read", "--repeat-requests", "-1", "tcp://127.0.0.1:1"], "'--repeat-requests': -1"),
        (["read", "--baud-change-delay", "-5", "tcp://127.0.0.1:1"], "-5: allowed 0-10000 ms"),
        (["read", ""], "'URL': empty URL: give a serial device"),
        (["read", "  "], "'URL': empty"),
        (["init", ""], "'URL': empty"),
        (["init", "--t2", "5000", "tcp://127.0.0.1:1"], "'--t2': 5000: allowed 200-1500 ms"),
        (["init", "--alias", "bad alias", "tcp://127.0.0.1:1"], "'--alias': 'bad alias': 1-64"),
        (["init", "--alias", "x" * 65, "tcp://127.0.0.1:1"], "'--alias'"),
        (["run", "--duration", "-5", str(DEMO_CONFIG)], "'--duration': -5: allowed more than 0 s"),
        (["run", "--duration", "0", str(DEMO_CONFIG)], "'--duration': 0: allowed more than 0 s"),
        (
            [
                "sink",
                "postgres",
                "--mqtt",
                "mqtt://127.0.0.1:1",
                "--dsn",
                "postgresql://x@h/x",
                "--duration",
                "-5",
            ],
            "'--duration': -5: allowed more than 0 s",
        ),
        (
            ["run", "--db", "/nonexistent-folder/h.sqlite", str(DEMO_CONFIG)],
            "the folder /nonexistent-folder does not exist",
        ),
        (["demo", "--duration", "-1"], "'--duration': -1: allowed at least 0 s"),
        (["demo", "--db", "/nonexistent-folder/h.sqlite"], "/nonexistent-folder does not exist"),
        (["history", "m", "s", "--limit", "-1", "--db", "x"], "'--limit'"),
        (["nonsense"], "No such command 'nonsense'"),
        (["read", "--bogus", "x"], "No such option '--bogus'"),
    ],
)
def test_bad_input_is_one_usage_error_line(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("obisgate: error: ")
    assert message in err
    assert "Traceback" not in err


def test_storage_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        '[storage]\npath = "missing/history.sqlite"\n\n'
        '[[devices]]\ndevice_alias = "m"\nip = "127.0.0.1"\nport = 1\n\n'
        '[[signals]]\ndevice_alias = "m"\nsignal_alias = "e"\ntag_job_todo = "1.8.0"\n'
        'number_type = "FLOAT"\nlog = 1\n',
        encoding="utf-8",
    )
    code, _, err = run("run", str(config), "--duration", "1")
    assert code == 2
    assert err == (
        f"obisgate: error: [storage] path {tmp_path / 'missing/history.sqlite'}: "
        f"the folder {tmp_path / 'missing'} does not exist\n"
    )
    assert not (tmp_path / "missing").exists()


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.startswith("obisgate, version ")


COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert f"Usage: obisgate {command}" in out
    assert "Example" in out, f"obisgate {command} --help has no example"
    assert f"obisgate {command} " in out.split("Example", 1)[1]
