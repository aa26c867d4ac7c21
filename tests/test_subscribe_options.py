"""`zmqtui subscribe`'s choice of feeds from its options and the config (no sockets)."""

from __future__ import annotations

import pytest
import zmq

from zmqtui import security
from zmqtui.captures import Capture
from zmqtui.commands.subscribe import FeedPrinter, _Options, chosen_feeds, message_line
from zmqtui.config import DEFAULT_PUB, ConfigError, FeedConfig, Settings
from zmqtui.decoders import decode_message
from zmqtui.protocol import ChangeEvent

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


@pytest.mark.parametrize(
    ("decoder", "decoders", "printed"),
    [
        (None, (), "File a.txt changed at "),
        ("json", (), "File a.txt changed at "),
        ("hex", (), "7b 22 74 79 70 65"),
        (None, (("", "text"),), '{"type":"changed","file":"a.txt"'),
    ],
)
def test_a_change_event_is_one_unless_another_decoder_reads_it(capsys, decoder, decoders, printed):
    """The book's event is printed as the book does, unless `--decoder` or the config names a
    decoder other than JSON for it: then it is printed as any other message, decoded so."""
    settings = Settings(decoders=decoders)
    feed = FeedConfig("f", "tcp://127.0.0.1:1")
    printer = FeedPrinter(settings, [feed], decoder)
    wire = ChangeEvent(file="a.txt", timestamp=1_700_000_000_000).encode()
    printer.print_batch(feed, [Capture((wire,), 0)])
    assert printed in capsys.readouterr().out


def test_a_topic_before_a_change_event_makes_another_message(capsys):
    """As in the monitor: only a frame that is a JSON object claims to be the book's event."""
    feed = FeedConfig("f", "tcp://127.0.0.1:1")
    printer = FeedPrinter(Settings(), [feed])
    printer.print_batch(feed, [Capture((b'news {"type":"changed","file":"x"}',), 0)])
    out, err = capsys.readouterr()
    assert out.endswith(' news {"type":"changed","file":"x"}\n') and err == ""
