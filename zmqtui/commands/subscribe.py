"""`zmqtui subscribe`: print what publishers send. The book's change events as its
zmq-watcher-sub.js prints them; any other message as its time, topic and decoded payload."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import sys
from collections.abc import Sequence

import click
import zmq.asyncio

from zmqtui import security
from zmqtui.captures import Capture, claims_to_be_event, event_capture
from zmqtui.commands._run import config_option, load_command_settings, run_service
from zmqtui.config import ConfigError, FeedConfig, Settings, check_endpoint
from zmqtui.decoders import CHOICES, DecodedMessage, DecoderMap, decode_message
from zmqtui.feedmeta import GapTracker, Meta, meta_of_parts
from zmqtui.format import clock_time, js_date
from zmqtui.protocol import ChangeEvent
from zmqtui.security import CurveProfile
from zmqtui.services.subscriber import (
    SequenceTracker,
    describe_raw,
    iter_frame_batches,
    topic_for,
)
from zmqtui.text import printable, printable_json
from zmqtui.topics import TOPIC_RULES, topic_of

NS_PER_MS = 1_000_000


@click.command()
@click.option(
    "--connect",
    "endpoints",
    multiple=True,
    metavar="ENDPOINT",
    help="A publisher to connect to (repeatable: one feed each) [default: the `pub` setting, "
    "tcp://127.0.0.1:60400].",
)
@click.option(
    "--feed",
    "feed_names",
    multiple=True,
    metavar="NAME",
    help="A feed named in the config's [[feeds]] tables (repeatable).",
)
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    metavar="P",
    help="Only change events whose file path starts with P (repeatable; P starting with `{` is "
    "a raw prefix of the JSON message) [default: everything].",
)
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="T",
    help="Only messages starting with T: a ZeroMQ subscription, such as a topic frame's or a "
    "leading word's beginning (repeatable) [default: everything].",
)
@click.option(
    "--decoder",
    type=click.Choice(CHOICES),
    help="Read every payload frame with this decoder [default: auto, the first that fits, "
    "or the one the config's [decoders] table names for the topic].",
)
@click.option(
    "--topic-rule",
    type=click.Choice(TOPIC_RULES),
    help="Where messages carry their topic: frame 0 of a multipart message and the leading "
    "word of a single frame (auto), frame0, token, none [default: auto, or the feed's].",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print each message as one line of JSON (a change event as it was published).",
)
@config_option
def command(
    endpoints: tuple[str, ...],
    feed_names: tuple[str, ...],
    prefixes: tuple[str, ...],
    topics: tuple[str, ...],
    decoder: str | None,
    topic_rule: str | None,
    as_json: bool,
    config_file: str | None,
) -> None:
    """Print each message publishers send: `File <file> changed at <date>` for a change event
    (as the book's zmq-watcher-sub.js does), `<time> [<feed>] <topic> <payload>` for any other.

    Missed change events (when not filtering by prefix), a new or restarted publisher, gaps in
    another message's `seq` per topic and malformed change events are reported on stderr, one
    line each. A payload is decoded as JSON, msgpack, text, protobuf wire format or hex,
    whichever fits first; `--decoder` forces one, and a frame it cannot read is shown with ✗.
    """
    options = _Options(endpoints, feed_names, prefixes, topics, decoder, topic_rule, as_json)
    run_service(_subscribe(options, config_file))


@dataclasses.dataclass(frozen=True, slots=True)
class _Options:
    endpoints: tuple[str, ...]
    feed_names: tuple[str, ...]
    prefixes: tuple[str, ...]
    topics: tuple[str, ...]
    decoder: str | None
    topic_rule: str | None
    as_json: bool


async def _subscribe(options: _Options, config_file: str | None) -> int:
    pub = options.endpoints[0] if options.endpoints else None
    settings = load_command_settings(config_file, pub=pub)
    feeds = chosen_feeds(settings, options)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    curves = [security.curve_for_feed(feed) for feed in feeds]
    printer = FeedPrinter(settings, feeds, options.decoder, options.as_json)
    ctx = zmq.asyncio.Context()
    pumps = [
        asyncio.create_task(_pump(ctx, f, c, printer)) for f, c in zip(feeds, curves, strict=True)
    ]
    try:
        done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        for pump in done:
            pump.result()  # a feed that cannot connect ends them all, saying why
    except BrokenPipeError:  # `zmqtui subscribe | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        ctx.destroy(linger=0)
    return 0


async def _pump(
    ctx: zmq.asyncio.Context, feed: FeedConfig, curve: CurveProfile | bool, printer: FeedPrinter
) -> None:
    batches = iter_frame_batches(
        ctx,
        feed.endpoint,
        [topic.encode("utf-8", "surrogatepass") for topic in feed.subscribe],
        on_problem=_warn,
        max_message_bytes=feed.max_message_bytes,
        curve=curve,
    )
    async for batch in batches:
        printer.print_batch(feed, batch)


def chosen_feeds(settings: Settings, options: _Options) -> list[FeedConfig]:
    """The feeds to print: each `--connect` endpoint and each `--feed` named in the config,
    or the `pub` setting when neither is given; with the prefixes, topics and topic rule
    given on the command line."""
    known = {feed.name: feed for feed in settings.feeds}
    feeds = []
    for name in options.feed_names:
        if name not in known:
            names = ", ".join(known) or "none"
            raise ConfigError(f"no feed named {name!r} in the config (its feeds: {names})")
        feeds.append(known[name])
    endpoints = [check_endpoint(e) for e in options.endpoints] or ([] if feeds else [settings.pub])
    feeds += [FeedConfig(name=endpoint, endpoint=endpoint) for endpoint in endpoints]
    subscriptions = [topic_for(p).decode("utf-8", "surrogatepass") for p in options.prefixes]
    subscriptions += options.topics
    changes: dict[str, object] = {}
    if subscriptions:
        changes["subscribe"] = tuple(subscriptions)
    if options.topic_rule is not None:
        changes["topic"] = options.topic_rule
    return [dataclasses.replace(feed, **changes) for feed in dict.fromkeys(feeds)]


class FeedPrinter:
    """Prints the messages of one or more feeds as they arrive, with the notes they call for
    on stderr: the book's change events through a `SequenceTracker` per feed, other
    messages' `seq` through a `GapTracker` per feed and topic."""

    def __init__(
        self,
        settings: Settings,
        feeds: Sequence[FeedConfig],
        decoder: str | None = None,
        as_json: bool = False,
    ) -> None:
        self._decoder = decoder
        self._as_json = as_json
        self._show_feed = len(feeds) > 1
        self._decoders = {feed.name: DecoderMap(settings.decoders_for(feed)) for feed in feeds}
        self._events = {
            feed.name: SequenceTracker(report_gaps="" in feed.subscribe) for feed in feeds
        }
        self._gaps = GapTracker()
        self._lines: list[str] = []

    def print_batch(self, feed: FeedConfig, batch: list[Capture]) -> None:
        decoders = self._decoders[feed.name]
        for capture in batch:
            frames, received_ns = capture.frames, capture.received_ns
            decoder = self._decoder or decoders.decoder_for(topic_of(frames, feed.topic))
            if claims_to_be_event(frames, decoder):
                self._print_event(feed, event_capture(frames, received_ns))
            else:
                message = decode_message(frames, feed.topic, decoders, self._decoder)
                self._print_message(feed, message, received_ns)
        self._flush()

    def _print_event(self, feed: FeedConfig, capture: Capture) -> None:
        event = capture.event
        if event is None:
            self._note(f"malformed message ({capture.error}): {describe_raw(capture.frames)}")
            return
        for note in self._events[feed.name].observe(event, capture.received_ms):
            self._note(note)
        self._lines.append(json_line(event) if self._as_json else human_line(event))

    def _print_message(self, feed: FeedConfig, message: DecodedMessage, received_ns: int) -> None:
        meta = meta_of_parts(message.parts, feed.fields)
        if meta.seq is not None:
            gap = self._gaps.observe((feed.name, message.topic), meta.seq)
            if gap is not None:
                where = message.topic_text() or "the feed"
                self._note(gap.note(f"{where} of {feed.name}" if self._show_feed else where))
        name = feed.name if self._show_feed else None
        if self._as_json:
            self._lines.append(message_json(message, received_ns, feed.name, meta))
        else:
            self._lines.append(message_line(message, received_ns, name))

    def _note(self, text: str) -> None:
        self._flush()
        _warn(text)

    def _flush(self) -> None:
        if self._lines:
            sys.stdout.write("\n".join(self._lines) + "\n")
            sys.stdout.flush()
            self._lines.clear()


def _warn(text: str) -> None:
    sys.stderr.write(f"zmqtui subscribe: warning: {printable(text)}\n")
    sys.stderr.flush()


def human_line(event: ChangeEvent) -> str:
    """The book's line: `File <file> changed at <date>`."""
    return f"File {printable(event.file)} changed at {js_date(event.timestamp)}"


def json_line(event: ChangeEvent) -> str:
    """The event as it was published, as one line of JSON (controls as JSON escapes)."""
    return printable_json(event.to_wire())


def message_line(message: DecodedMessage, received_ns: int, feed: str | None = None) -> str:
    """`<time> [<feed>] <topic> <payload>`: the feed only when given, the topic when there is
    one, each frame of the payload decoded, separated by ` │ `, escaped."""
    words = [clock_time(received_ns // NS_PER_MS)]
    if feed is not None:
        words.append(f"[{printable(feed)}]")
    if message.topic is not None:
        words.append(message.topic_text())
    words.append(message.summary())
    return " ".join(words)


def message_json(message: DecodedMessage, received_ns: int, feed: str, meta: Meta) -> str:
    """One JSON object: receive time (ns), feed, topic, payload frames decoded, and the
    message's `seq` and lag in ms when it carries them."""
    obj: dict[str, object] = {"time_ns": received_ns, "feed": feed, **message.to_plain()}
    if meta.seq is not None:
        obj["seq"] = meta.seq
    lag = meta.lag_ms(received_ns)
    if lag is not None:
        obj["lag_ms"] = round(lag, 3)
    return printable_json(obj)
