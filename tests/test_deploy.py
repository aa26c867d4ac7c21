"""The files in deploy/: the systemd unit parses and runs a notify worker; the manifest probes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "systemd" / "zmqtui-worker@.service"
MANIFEST = DEPLOY / "kubernetes" / "zmqtui-worker.yaml"


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, by key (keys such as LoadCredential repeat)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_runs_a_notify_worker_with_a_watchdog_and_credentials():
    settings = unit_settings(UNIT.read_text())
    assert settings["Type"] == ["notify"]
    assert int(settings["WatchdogSec"][0]) > 3  # above the worker's liveness (3 x 1 s)
    assert settings["Restart"] == ["on-failure"]
    assert settings["ExecStart"][0].split()[1:3] == ["worker", "--connect"]
    credentials = {value.split(":")[0] for value in settings["LoadCredential"]}
    assert credentials == {"worker.key_secret", "cluster.key"}
    assert "ZMQTUI_CURVE_SECRET=%d/worker.key_secret" in settings["Environment"]


@pytest.mark.integration
def test_unit_passes_systemd_analyze_verify(tmp_path: Path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (Debian: apt-get install systemd)")
    # verify insists the command exists: point it at this environment's zmqtui.
    command = Path(sys.executable).parent / "zmqtui"
    text = UNIT.read_text().replace("/opt/zmqtui/bin/zmqtui", str(command))
    (tmp_path / UNIT.name).write_text(text)
    instance = tmp_path / "zmqtui-worker@1.service"
    result = subprocess.run(
        ["systemd-analyze", "verify", str(instance)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    ours = [
        line for line in (result.stdout + result.stderr).splitlines() if "zmqtui-worker" in line
    ]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_manifest_is_a_deployment_with_probes_and_keys_from_a_secret():
    (deployment,) = list(yaml.safe_load_all(MANIFEST.read_text()))
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (worker,) = spec["containers"]
    assert worker["command"][:2] == ["zmqtui", "worker"]
    for probe in ("readinessProbe", "livenessProbe"):
        command = " ".join(worker[probe]["exec"]["command"])
        assert "zmqtui worker --check" in command, probe
        assert worker[probe]["periodSeconds"] > 0
    env = {item["name"]: item["value"] for item in worker["env"]}
    assert env["ZMQTUI_CURVE_SECRET"].startswith("/keys/")
    secrets = [v for v in spec["volumes"] if "secret" in v]
    assert secrets and secrets[0]["secret"]["secretName"] == "zmqtui-worker-keys"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
