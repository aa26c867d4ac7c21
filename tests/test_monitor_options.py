"""The monitor's feeds: every `--sub` and every `[[feeds]]`, each named once, with decoders."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from zmqtui import security
from zmqtui.commands.monitor import command, monitored_feeds
from zmqtui.config import ConfigError, FeedConfig, Settings


def test_every_sub_then_every_configured_feed_each_once() -> None:
    market = FeedConfig(
        "market", "tcp://127.0.0.1:5556", topic="frame0", decoders=(("md.", "hex"),)
    )
    twice = FeedConfig("tcp://127.0.0.1:1", "tcp://127.0.0.1:9")
    settings = Settings(feeds=(market, twice), decoders=(("md.", "msgpack"), ("log.", "json")))
    feeds = monitored_feeds("tcp://127.0.0.1:1", ["ipc:///tmp/x"], settings)
    assert [(f.name, f.endpoint) for f in feeds] == [
        ("tcp://127.0.0.1:1", "tcp://127.0.0.1:1"),  # the --sub comes first, named once
        ("ipc:///tmp/x", "ipc:///tmp/x"),
        ("market", "tcp://127.0.0.1:5556"),
    ]
    assert dict(feeds[0].decoders) == {"md.": "msgpack", "log.": "json"}
    assert dict(feeds[2].decoders) == {"md.": "hex", "log.": "json"}  # the feed's own win
    assert feeds[2].topic == "frame0"
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        monitored_feeds(None, ["nowhere"], Settings())


def test_a_bad_second_sub_is_a_usage_error() -> None:
    result = CliRunner().invoke(command, ["--sub", "tcp://127.0.0.1:1", "--sub", "bogus"])
    assert result.exit_code == 2 and "bogus" in result.output


def test_max_message_bytes_is_each_subs_and_a_configured_feed_keeps_its_own() -> None:
    market = FeedConfig("market", "tcp://127.0.0.1:5556", max_message_bytes=8 << 20)
    settings = Settings(feeds=(market,))
    feeds = monitored_feeds("tcp://127.0.0.1:1", ["tcp://127.0.0.1:2"], settings, 1000)
    assert [f.max_message_bytes for f in feeds] == [1000, 1000, 8 << 20]
    assert monitored_feeds("tcp://127.0.0.1:1", [], Settings())[0].max_message_bytes == 4 << 20


def test_a_feed_with_a_curve_server_key_needs_this_process_keys(monkeypatch, tmp_path) -> None:
    """Checked before the screen opens: a usage error, not a feed failing later."""
    monkeypatch.setattr(security.profile, "active_profile", lambda: None)
    secure = FeedConfig("secure", "tcp://127.0.0.1:1", curve_server=str(tmp_path / "s.key"))
    with pytest.raises(ConfigError, match="'secure': curve_server needs curve_secret"):
        monitored_feeds(None, [], Settings(feeds=(secure,)))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[feeds]]\nname = "secure"\nendpoint = "tcp://127.0.0.1:1"\n'
        f'curve_server = "{tmp_path / "s.key"}"\n'
    )
    result = CliRunner().invoke(command, ["--config", str(config)], env={"HOME": str(tmp_path)})
    assert result.exit_code == 2 and "curve_server needs curve_secret" in result.output
