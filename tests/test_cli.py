"""The `zmqtui` group: help, version, and routing of anything else to the monitor."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from zmqtui.cli import COMMANDS, DEFAULT_COMMAND, main, route
from zmqtui.commands._run import load_command_settings
from zmqtui.commands.monitor import command as monitor
from zmqtui.security import active_profile, read_public_key_file, use_profile, write_key_pair


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_help_lists_the_monitors_options():
    """Bare `zmqtui` is the monitor: its top-level help says what the monitor takes."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "zmqtui [PATH]" in result.output
    options = [opt for param in monitor.params for opt in param.opts if opt.startswith("-")]
    assert {
        "--sub",
        "--req",
        "--stats",
        "--control",
        "--workers",
        "--recursive",
        "--config",
    } <= set(options)
    for option in options:
        assert option in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "version" in result.output


@pytest.mark.parametrize(
    ("args", "routed"),
    [
        ([], [DEFAULT_COMMAND]),
        (["some/dir"], [DEFAULT_COMMAND, "some/dir"]),
        (["--sub", "tcp://127.0.0.1:1"], [DEFAULT_COMMAND, "--sub", "tcp://127.0.0.1:1"]),
        (["serve", "--root", "."], ["serve", "--root", "."]),
    ],
)
def test_anything_but_a_subcommand_goes_to_the_monitor(args, routed):
    assert route(list(args)) == routed


def test_curve_keys_named_in_a_config_file_take_effect(tmp_path):
    keys = write_key_pair(tmp_path, "server")
    config = tmp_path / "zmqtui.toml"
    config.write_text(f'curve_secret = "{keys.secret}"\n')
    try:
        load_command_settings(str(config))
        profile = active_profile()
        assert profile is not None
        assert profile.public_key == read_public_key_file(keys.public)
    finally:
        use_profile(None)


@pytest.mark.parametrize(
    "args",
    [
        ["watch", "--bind", "tcp://127.0.0.1:99999", "."],
        ["serve", "--root", ".", "--bind", "tcp://127.0.0.1:99999"],
        ["subscribe", "--connect", "tcp://127.0.0.1:99999"],
        ["request", "x", "--connect", "tcp://127.0.0.1:99999"],
        ["ctl", "--control", "tcp://127.0.0.1:99999", "list"],
        ["--sub", "tcp://127.0.0.1:99999"],
    ],
)
def test_a_port_out_of_range_is_a_usage_error(args, tmp_path, monkeypatch):
    """libzmq takes ports modulo 65536: 99999 would listen on, or connect to, 34463."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "port 99999 is out of range" in result.output
