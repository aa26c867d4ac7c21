"""Settings precedence and validation: defaults < TOML file < environment < options."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqtui.config import (
    DEFAULT_MAX_FEED_BYTES,
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


def test_record_compress_is_a_switch_from_toml_or_the_environment(tmp_path):
    home = {"HOME": str(tmp_path)}
    assert load_settings(environ=home).record_compress is True
    assert load_settings(environ={**home, "ZMQTUI_RECORD_COMPRESS": "no"}).record_compress is False
    config = tmp_path / "c.toml"
    config.write_text("record_compress = false\n")
    assert load_settings(config, environ=home).record_compress is False
    with pytest.raises(ConfigError, match="'record_compress' must be true or false"):
        load_settings(environ={**home, "ZMQTUI_RECORD_COMPRESS": "maybe"})


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


class TestFeeds:
    """`[[feeds]]` and `[decoders]` tables: parsed, validated, with errors that name the feed."""

    def load(self, tmp_path, text: str) -> Settings:
        config = tmp_path / "config.toml"
        config.write_text(text)
        return load_settings(config, environ={"HOME": str(tmp_path)})

    def test_feeds_and_decoders(self, tmp_path):
        settings = self.load(
            tmp_path,
            """
            [decoders]
            "md." = "msgpack"
            "log." = "json"

            [[feeds]]
            name = "market"
            endpoint = "tcp://127.0.0.1:5556"
            subscribe = ["md.", "status"]
            topic = "frame0"
            decoders = { "md.raw." = "hex", "log." = "text" }
            curve_server = "~/keys/market.key"
            max_message_bytes = 1048576
            timestamp_fields = ["sent_at"]

            [[feeds]]
            endpoint = "ipc:///tmp/weather"
            subscribe = "10001"
            """,
        )
        market, weather = settings.feeds
        assert (market.name, market.endpoint, market.subscribe) == (
            "market", "tcp://127.0.0.1:5556", ("md.", "status")
        )  # fmt: skip
        assert market.topic == "frame0" and market.max_message_bytes == 1024 * 1024
        assert market.curve_server == str(Path("~/keys/market.key").expanduser())
        assert market.fields.timestamp == ("sent_at",) and market.fields.sequence == ("seq",)
        assert settings.decoders == (("md.", "msgpack"), ("log.", "json"))
        assert dict(settings.decoders_for(market)) == {
            "md.": "msgpack", "log.": "text", "md.raw.": "hex"
        }  # fmt: skip
        assert weather.name == "ipc:///tmp/weather" and weather.subscribe == ("10001",)
        assert weather.topic == "auto" and weather.max_message_bytes == DEFAULT_MAX_FEED_BYTES
        assert weather.curve_server is None and settings.decoders_for(None) == settings.decoders

    def test_beside_a_zmqtui_table(self, tmp_path):
        settings = self.load(
            tmp_path,
            '[zmqtui]\npub = "tcp://127.0.0.1:1"\n[decoders]\nx = "hex"\n'
            '[[feeds]]\nendpoint = "tcp://127.0.0.1:2"\n',
        )
        assert settings.pub == "tcp://127.0.0.1:1" and settings.decoders == (("x", "hex"),)
        assert settings.feeds[0].endpoint == "tcp://127.0.0.1:2"

    def test_none_by_default_and_never_from_the_environment(self, tmp_path):
        settings = load_settings(environ={"HOME": str(tmp_path), "ZMQTUI_FEEDS": "x"})
        assert settings.feeds == () and settings.decoders == ()

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('feeds = "x"', "feeds must be an array of tables"),
            ("[[feeds]]\nname = 'a'", r"\[\[feeds\]\] #1 \('a'\): endpoint is missing"),
            ('[[feeds]]\nendpoint = "tcp://h"', "#1: endpoint 'tcp://h' must look like"),
            ('[[feeds]]\nendpoint = "tcp://127.0.0.1:1"\nport = 2', "unknown key 'port'"),
            ('[[feeds]]\nendpoint = "tcp://127.0.0.1:1"\ntopic = "last"', "topic rule must be"),
            (
                '[[feeds]]\nendpoint = "tcp://127.0.0.1:1"\ndecoders = {"a" = "yaml"}',
                "decoders: decoder must be one of",
            ),
            (
                '[[feeds]]\nendpoint = "tcp://127.0.0.1:1"\nmax_message_bytes = 0',
                "max_message_bytes must be a whole number",
            ),
            ('[[feeds]]\nendpoint = "tcp://127.0.0.1:1"\nsubscribe = 5', "subscribe must be"),
            (
                '[[feeds]]\nendpoint = "tcp://127.0.0.1:1"\n[[feeds]]\nendpoint = "tcp://127.0.0.1:1"',
                "two feeds are named 'tcp://127.0.0.1:1'",
            ),
            ('decoders = "msgpack"', r"\[decoders\] must be a table"),
            ('[decoders]\n"md." = "yaml"', r"\[decoders\]: decoder must be one of"),
        ],
    )
    def test_clear_errors(self, tmp_path, text, message):
        with pytest.raises(ConfigError, match=message):
            self.load(tmp_path, text)
