"""docs/deploy.md: its systemd units and Kubernetes manifests parse and say what they must."""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.gateway.shard import Shard

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def units() -> list[configparser.ConfigParser]:
    parsed = []
    for text in blocks("ini"):
        parser = configparser.ConfigParser(interpolation=None, strict=True)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(text)
        parsed.append(parser)
    return parsed


def manifests() -> list[dict[str, Any]]:
    return [doc for text in blocks("yaml") for doc in yaml.safe_load_all(text) if doc]


def test_systemd_units_parse_and_run_real_commands() -> None:
    gateway, sink = units()
    for unit in (gateway, sink):
        assert set(unit.sections()) == {"Unit", "Service", "Install"}
        assert unit["Install"]["WantedBy"] == "multi-user.target"
    shard = gateway["Service"]["Environment"].removeprefix("OBISGATE_SHARD=")
    for i in range(3):
        assert Shard.parse(shard.replace("%i", str(i))) == Shard(i, 3)
    for unit, command in ((gateway, ["run"]), (sink, ["sink", "postgres"])):
        argv = shlex.split(unit["Service"]["ExecStart"])
        assert argv[0].endswith("/obisgate")
        assert argv[1 : 1 + len(command)] == command
        # every option is one the command really has
        names = {a.split("=")[0] for a in argv if a.startswith("--")}
        help_text = CliRunner().invoke(main, [*command, "--help"]).output
        assert all(name in help_text for name in names), names


def test_kubernetes_statefulset_takes_the_shard_from_the_pod_index() -> None:
    kinds = {m["kind"]: m for m in manifests()}
    assert set(kinds) == {"ConfigMap", "Secret", "StatefulSet", "Deployment"}
    sts = kinds["StatefulSet"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    field = env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.labels['statefulset.kubernetes.io/pod-index']"
    assert env["REPLICAS"]["value"] == str(sts["spec"]["replicas"])
    assert '--shard "$POD_INDEX/$REPLICAS"' in container["args"][0]
    assert container["envFrom"][0]["secretRef"]["name"] == kinds["Secret"]["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = sts["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    site = tomllib.loads(kinds["ConfigMap"]["data"]["site.toml"])
    assert Path(site["storage"]["path"]).parent == Path(mounts["state"])
    assert site["mqtt"]["password_env"] in kinds["Secret"]["stringData"]
    assert site["postgres"]["password_env"] in kinds["Secret"]["stringData"]
    assert "@" in site["postgres"]["dsn"] and ":change-me@" not in site["postgres"]["dsn"]
    assert "OBISGATE_DSN" in kinds["Secret"]["stringData"]
