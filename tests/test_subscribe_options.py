"""`zmqtui subscribe`'s choice of feeds from its options and the config (no sockets)."""

from __future__ import annotations

import pytest
import zmq

from zmqtui import security
from zmqtui.commands.subscribe import _Options, chosen_feeds, message_line
from zmqtui.config import DEFAULT_PUB, ConfigError, FeedConfig, Settings
from zmqtui.decoders import decode_message

MARKET = FeedConfig("market", "tcp://127.0.0.1:5556", ("md.",), "frame0")


def options(**given) -> _Options:
    values = dict(
        endpoints=(), feed_names=(), prefixes=(), topics=(), decoder=None, topic_rule=None,
        as_json=False,
    )  # fmt: skip
    return _Options(**{**values, **given})


def test_the_pub_setting_by_default():
    (feed,) = chosen_feeds(Settings(), options())
    assert (feed.name, feed.endpoint, feed.subscribe, feed.topic) == (
        DEFAULT_PUB, DEFAULT_PUB, ("",), "auto"
    )  # fmt: skip


def test_configured_feeds_by_name_beside_endpoints():
    settings = Settings(feeds=(MARKET,))
    market, other = chosen_feeds(
        settings, options(feed_names=("market",), endpoints=("tcp://127.0.0.1:9",))
    )
    assert market == MARKET and other.endpoint == "tcp://127.0.0.1:9"
    assert chosen_feeds(settings, options(feed_names=("market",))) == [MARKET]
    with pytest.raises(ConfigError, match="no feed named 'x' in the config \\(its feeds: market"):
        chosen_feeds(settings, options(feed_names=("x",)))
    with pytest.raises(ConfigError, match="must look like"):
        chosen_feeds(settings, options(endpoints=("tcp://nowhere",)))


def test_prefixes_topics_and_rule_from_the_command_line():
    (feed,) = chosen_feeds(
        Settings(feeds=(MARKET,)),
        options(feed_names=("market",), prefixes=("src/",), topics=("log.",), topic_rule="none"),
    )
    assert feed.subscribe == ('{"type":"changed","file":"src/', "log.")
    assert feed.topic == "none"


def test_message_line():
    message = decode_message([b"md.A", b'{"bid": 1}'])
    assert message_line(message, 0, "f\x1b").endswith(' [f\\x1b] md.A {"bid":1}')
    assert message_line(decode_message([b"{}"]), 0).endswith(":00.000 {}")


def test_a_feeds_curve_server_key(monkeypatch, tmp_path):
    feed = FeedConfig("secure", "tcp://127.0.0.1:1", curve_server=str(tmp_path / "server.key"))
    assert security.curve_for_feed(MARKET) is True  # the process's profile, if any
    monkeypatch.setattr(security.profile, "active_profile", lambda: None)
    with pytest.raises(ConfigError, match="'secure': curve_server needs curve_secret"):
        security.curve_for_feed(feed)
    public, secret = zmq.curve_keypair()
    server_public, _ = zmq.curve_keypair()
    (tmp_path / "server.key").write_text(
        f'metadata\ncurve\n    public-key = "{server_public.decode()}"\n'
    )
    own = security.CurveProfile(public, secret, public)
    monkeypatch.setattr(security.profile, "active_profile", lambda: own)
    profile = security.curve_for_feed(feed)
    assert profile.server_key == server_public and profile.public_key == public
