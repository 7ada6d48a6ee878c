"""``obisgate check`` fails, with the same message, for every configuration ``run`` refuses.

Each case is a configuration that loads (it is valid) but that ``run`` would refuse or
would run without one of its outputs: ``check`` must say so in the same words (prefixed
with the file, as its other problems are), and ``run`` must refuse it before polling
anything (one ``obisgate: error:`` line per problem, exit 2). ``check`` also lists the
outputs a configuration turns on, and both show the same warnings.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.gateway.outputs.mqtt.config import default_client_id

DEVICE = """\
[[devices]]
device_alias = "m1"
url = "tcp://127.0.0.1:9"

[[signals]]
device_alias = "m1"
signal_alias = "e"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
log = 1
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


CASES = {
    "mqtt password variable": (
        '[mqtt]\nurl = "mqtt://127.0.0.1:1"\nusername = "u"\npassword_env = "OG_TEST_UNSET"\n',
        ["[mqtt] the variable named in password_env (OG_TEST_UNSET) is not set"],
    ),
    "http token variable": (
        '[http]\nlisten = "127.0.0.1:0"\ntoken_env = "OG_TEST_UNSET"\n',
        ["[http] the variable named in token_env (OG_TEST_UNSET) is not set"],
    ),
    "postgres password variable": (
        '[postgres]\ndsn = "postgresql://u@127.0.0.1:1/db"\npassword_env = "OG_TEST_UNSET"\n',
        ["[postgres] the variable named in password_env (OG_TEST_UNSET) is not set"],
    ),
    "mqtt password file": (
        '[mqtt]\nurl = "mqtt://127.0.0.1:1"\nusername = "u"\npassword_file = "gone.pw"\n',
        [
            "[mqtt] password_file {dir}/gone.pw: cannot read the password file: "
            "No such file or directory"
        ],
    ),
    "postgres password file": (
        '[postgres]\ndsn = "postgresql://u@127.0.0.1:1/db"\npassword_file = "gone.pw"\n',
        [
            "[postgres] password_file {dir}/gone.pw: cannot read the password file: "
            "No such file or directory"
        ],
    ),
    "mqtt ca and certificate files": (
        '[mqtt]\nurl = "mqtts://127.0.0.1:1"\nca_file = "ca.pem"\ncert_file = "me.pem"\n',
        [
            "[mqtt] ca_file {dir}/ca.pem: cannot read it (No such file or directory)",
            "[mqtt] cert_file {dir}/me.pem: cannot read it (No such file or directory)",
        ],
    ),
    "storage in a missing folder": (
        '[storage]\npath = "nowhere/h.sqlite"\n',
        ["[storage] path {dir}/nowhere/h.sqlite: the folder {dir}/nowhere does not exist"],
    ),
    "storage naming a folder": (
        '[storage]\npath = "data"\n',
        ["[storage] path {dir}/data is a folder: name a file in it, e.g. "
         "{dir}/data/obisgate-history.sqlite"],
    ),
    "outbox beside a history in a missing folder": (
        '[storage]\npath = "nowhere/h.sqlite"\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n',
        ["[storage] path {dir}/nowhere/h.sqlite: the folder {dir}/nowhere does not exist"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_check_fails_with_the_message_run_refuses_with(tmp_path: Path, case: str) -> None:
    section, messages = CASES[case]
    (tmp_path / "data").mkdir()
    path = write(tmp_path, section + DEVICE)
    assert "OG_TEST_UNSET" not in os.environ
    expected = [m.format(dir=tmp_path) for m in messages]

    code, out, err = invoke("check", str(path))
    assert (code, out) == (1, ""), err
    count = len(expected)
    assert err.splitlines() == [
        *(f"{path}: {m}" for m in expected),
        f"obisgate: error: {count} problem{'s' if count > 1 else ''} in {path}",
    ]

    code, out, err = invoke("run", str(path), "--format", "jsonl", "--duration", "5")
    assert (code, out) == (2, ""), err  # refused before anything was polled
    assert err.splitlines() == [f"obisgate: error: {m}" for m in expected]


def test_a_file_that_is_no_certificate(tmp_path: Path) -> None:
    (tmp_path / "not-a-cert.pem").write_text("hello\n", encoding="utf-8")
    path = write(
        tmp_path, '[mqtt]\nurl = "mqtts://127.0.0.1:1"\ncert_file = "not-a-cert.pem"\n' + DEVICE
    )
    code, _, err = invoke("check", str(path))
    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith(f"{path}: [mqtt] the TLS files ca_file / cert_file / key_file: ")
    code, _, err = invoke("run", str(path), "--format", "none")
    assert (code, err.splitlines()) == (2, [f"obisgate: error: {first.split(': ', 1)[1]}"])


def test_no_enabled_device(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DEVICE.replace('url = "tcp://127.0.0.1:9"', 'url = "tcp://127.0.0.1:9"\nenable = 0'),
    )
    code, _, err = invoke("check", str(path))
    assert code == 1
    assert f"{path}: no enabled device in the configuration" in err.splitlines()
    code, _, err = invoke("run", str(path), "--format", "none")
    assert (code, err.splitlines()) == (
        2,
        ["obisgate: error: no enabled device in the configuration"],
    )


def test_workers_sharing_a_configured_client_id(tmp_path: Path) -> None:
    """``run --workers 2`` would start two gateways with one client id: refused, and
    ``check --workers 2`` says the same; the default id is one per worker."""
    path = write(tmp_path, '[mqtt]\nurl = "mqtt://127.0.0.1:1"\nclient_id = "site-gw"\n' + DEVICE)
    message = (
        "[mqtt] client_id 'site-gw' is set, so all 2 workers would connect with it and the "
        "broker would throw each one off when the next connects: remove client_id (each "
        "worker then gets its own, site-gw-shard0 ...)"
    )
    code, _, err = invoke("check", str(path), "--workers", "2")
    assert code == 1
    assert f"{path}: {message}" in err.splitlines()
    code, _, err = invoke("run", str(path), "--workers", "2", "--format", "none")
    assert (code, err.splitlines()) == (2, [f"obisgate: error: {message}"])
    assert invoke("check", str(path))[0] == 0  # one process: one id
    default = write(tmp_path, '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n' + DEVICE)
    code, out, err = invoke("check", str(default), "--workers", "2")
    assert code == 0, err
    assert f"client id {default_client_id(default)}" in out


def test_check_lists_the_outputs_it_turns_on(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mqtt]\nurl = "mqtt://127.0.0.1:1883"\nclient_id = "gw"\nretain_state = 1\n'
        '[http]\nlisten = "127.0.0.1:8080"\n' + DEVICE,
    )
    code, out, err = invoke("check", str(path))
    assert code == 0, err
    assert out.splitlines() == [
        "ok: 1 devices, 1 signals",
        "outputs besides the printed updates:",
        f"  history  {tmp_path / 'obisgate-history.sqlite'} (1 logged signals)",
        "  mqtt     mqtt://127.0.0.1:1883, client id gw, Home Assistant discovery under "
        "homeassistant/, state retained",
        "  http     127.0.0.1:8080 (API, /metrics, web view; no token)",
    ]
    bare = write(tmp_path, DEVICE.replace("log = 1", "log = 0"))
    assert invoke("check", str(bare))[1].splitlines()[1:] == [
        "outputs: only the printed updates (no history, no network output)"
    ]


def test_warnings_of_both(tmp_path: Path) -> None:
    """A device with no signals and a text signal with a unit: warned by check and run."""
    path = write(
        tmp_path,
        DEVICE
        + '[[devices]]\ndevice_alias = "idle"\nurl = "tcp://127.0.0.1:9"\nserialnumber = "7"\n'
        '[[signals]]\ndevice_alias = "m1"\nsignal_alias = "reading"\ntag_job_todo = "1.8.1"\n'
        'number_type = "STRING"\nunit = "kWh"\n'
        '[[devices]]\ndevice_alias = "secret"\nurl = "tcp://127.0.0.1:8"\n'
        'password_file = "gone.pw"\n'
        '[[signals]]\ndevice_alias = "secret"\nsignal_alias = "e"\ntag_job_todo = "1.8.0"\n'
        'number_type = "FLOAT"\nread_by = "command"\n',
    )
    code, _, err = invoke("check", str(path))
    assert code == 0, err
    warnings = err.splitlines()
    assert any(
        w.startswith(f"obisgate: warning: {path}:")
        and w.endswith("devices[1]: device idle has no signals: it is polled for its _status alone")
        for w in warnings
    ), warnings
    assert any(
        w.startswith(f"obisgate: warning: {path}:")
        and w.endswith(
            "signals[1]: unit: STRING: the value is text, so no consumer takes it for a "
            "quantity in 'kWh' (Home Assistant gets it without unit or class); FLOAT makes it "
            "a number (with decimal_comma = 1 for values like 000007,4)"
        )
        for w in warnings
    ), warnings
    assert (
        f"obisgate: warning: device secret: password_file {tmp_path}/gone.pw: cannot read the "
        "password file: No such file or directory: its password is needed to read it"
    ) in warnings
    code, _, run_err = invoke("run", str(path), "--format", "none", "--duration", "0.2")
    assert code == 0, run_err
    assert set(warnings) <= set(run_err.splitlines())
