"""Settings precedence and validation: defaults < TOML file < environment < options."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqtui.config import (
    DEFAULT_PUB,
    DEFAULT_REQ,
    ConfigError,
    Settings,
    captures_dir,
    check_endpoint,
    is_loopback,
    load_settings,
)


def test_defaults_follow_the_design(tmp_path):
    settings = load_settings(environ={"HOME": str(tmp_path)})
    assert (settings.pub, settings.req) == (DEFAULT_PUB, DEFAULT_REQ)
    assert (settings.timeout_ms, settings.tries) == (2500, 3)


def test_precedence_file_then_env_then_options(tmp_path):
    config = tmp_path / "zmqtui.toml"
    config.write_text('[zmqtui]\nreq = "ipc:///tmp/from-file"\npub = "tcp://127.0.0.1:1"\n')
    environ = {"ZMQTUI_CONFIG": str(config), "ZMQTUI_PUB": "tcp://127.0.0.1:2"}
    settings = load_settings(environ=environ, tries=5, stats=None)
    assert settings.req == "ipc:///tmp/from-file"
    assert settings.pub == "tcp://127.0.0.1:2"
    assert settings.tries == 5
    assert settings.stats == Settings().stats


def test_exports_go_to_the_users_data_directory_unless_set(tmp_path):
    assert captures_dir({"HOME": "/home/ann"}) == Path("/home/ann/.local/share/zmqtui/captures")
    assert captures_dir({"XDG_DATA_HOME": "/data"}) == Path("/data/zmqtui/captures")
    settings = load_settings(environ={"HOME": str(tmp_path), "ZMQTUI_EXPORT_DIR": "~/caps"})
    assert settings.export_dir == str(Path("~/caps").expanduser())
    assert load_settings(environ={"HOME": str(tmp_path)}).export_dir is None


def test_user_config_file_is_read(tmp_path):
    user_config = tmp_path / "zmqtui" / "config.toml"
    user_config.parent.mkdir()
    user_config.write_text('stats = "ipc:///tmp/stats"\n')
    assert load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path)}).stats == "ipc:///tmp/stats"


def test_top_level_keys_work_without_a_table(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("timeout_ms = 100\n")
    assert load_settings(config, environ={}).timeout_ms == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("req = ", "not valid TOML"),
        ('nonsense = "x"', "unknown setting 'nonsense'"),
        ('tries = "many"', "whole number"),
        ("tries = 0", "at least 1"),
        ('req = "http://x"', "transport must be"),
        ('pub = "tcp://127.0.0.1"', "tcp://HOST:PORT"),
    ],
)
def test_bad_config_file_says_what_is_wrong(tmp_path, content, message):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:1", True),
        ("tcp://127.3.2.1:1", True),
        ("tcp://[::1]:1", True),
        ("tcp://localhost:1", True),
        ("ipc:///tmp/x", True),
        ("inproc://x", True),
        ("tcp://0.0.0.0:1", False),
        ("tcp://*:1", False),
        ("tcp://192.168.1.2:1", False),
        ("tcp://example.org:1", False),
    ],
)
def test_is_loopback(endpoint, loopback):
    assert is_loopback(endpoint) is loopback


def test_check_endpoint_accepts_wildcard_port():
    assert check_endpoint("tcp://127.0.0.1:*") == "tcp://127.0.0.1:*"


@pytest.mark.parametrize("port", ["0", "65535"])
def test_check_endpoint_accepts_every_port(port):
    assert check_endpoint(f"tcp://127.0.0.1:{port}") == f"tcp://127.0.0.1:{port}"


@pytest.mark.parametrize("port", ["65536", "99999", "0099999", "18446744073709551617"])
def test_check_endpoint_refuses_a_port_out_of_range(port):
    """libzmq would take it modulo 65536: 99999 listened on 34463."""
    with pytest.raises(ConfigError, match=f"port {port} is out of range"):
        check_endpoint(f"tcp://127.0.0.1:{port}")
