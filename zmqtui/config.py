"""Endpoints and settings: defaults, environment variables and an optional TOML file.

Precedence, lowest first: built-in defaults, the TOML file (`--config`, `$ZMQTUI_CONFIG`, or
`$XDG_CONFIG_HOME/zmqtui/config.toml`, by default under `~/.config`), environment variables
(`ZMQTUI_<KEY>`), command-line options.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from zmqtui.decoders import parse_decoder_name
from zmqtui.feedmeta import (
    DEFAULT_FIELDS,
    DEFAULT_SEQUENCE_FIELDS,
    DEFAULT_TIMESTAMP_FIELDS,
    FieldNames,
)
from zmqtui.topics import TopicRule, parse_topic_rule

DEFAULT_PUB = "tcp://127.0.0.1:60400"
"""Where the watcher publishes change events."""
DEFAULT_REQ = "tcp://127.0.0.1:60401"
"""Where the filer (or the cluster's ROUTER) answers file requests."""
DEFAULT_STATS = "tcp://127.0.0.1:60402"
"""Where the cluster publishes its stats snapshots."""
DEFAULT_CONTROL = "tcp://127.0.0.1:60403"
"""Where the cluster takes orders (`zmqtui ctl`)."""

REQUEST_TIMEOUT_MS = 2500
"""Lazy Pirate: how long a client waits for a reply before it retries."""
REQUEST_TRIES = 3
HEARTBEAT_INTERVAL_MS = 1000
"""Paranoid Pirate: how often a worker says it is alive."""
HEARTBEAT_LIVENESS = 3
"""Missed heartbeats before a worker counts as stale."""
MAX_FILE_BYTES = 1024 * 1024
"""Largest file the filer serves."""
DEFAULT_MAX_FEED_BYTES = 4 * 1024 * 1024
"""Largest message a feed (`[[feeds]]`) accepts by default: real feeds carry bigger messages
than the book's events, and a bound keeps one peer from pinning memory."""
TABLE_SETTINGS = frozenset({"feeds", "decoders"})
"""Settings only a TOML file holds (`[[feeds]]`, `[decoders]`), never an environment variable."""
PATH_SETTINGS = frozenset({"curve_secret", "curve_server", "curve_authorized", "export_dir"})
"""Settings that name files or directories; an empty value unsets them."""


class ConfigError(ValueError):
    """A setting that cannot be used, with a message fit to show the user."""


DecoderPairs = tuple[tuple[str, str], ...]
"""Topic prefix -> decoder name, as `[decoders]` tables give them (`zmqtui.decoders.DecoderMap`
takes them)."""


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One `[[feeds]]` table: a publisher to subscribe to and how to read its messages."""

    name: str
    endpoint: str
    subscribe: tuple[str, ...] = ("",)
    """Topic prefixes to subscribe to (raw ZeroMQ prefixes; "" is everything)."""
    topic: TopicRule = "auto"
    """Where its messages carry their topic (`zmqtui.topics`)."""
    decoders: DecoderPairs = ()
    """Its own topic prefix -> decoder overrides, over the `[decoders]` table's."""
    curve_server: str | None = None
    """Public key file of the publisher, for a feed secured with CURVE."""
    max_message_bytes: int = DEFAULT_MAX_FEED_BYTES
    fields: FieldNames = DEFAULT_FIELDS
    """Which payload fields carry a send time and a sequence number."""


_FEED_KEYS = (
    "name",
    "endpoint",
    "subscribe",
    "topic",
    "decoders",
    "curve_server",
    "max_message_bytes",
    "timestamp_fields",
    "sequence_fields",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Endpoints and client settings shared by the CLI commands and the monitor."""

    pub: str = DEFAULT_PUB
    req: str = DEFAULT_REQ
    stats: str = DEFAULT_STATS
    control: str = DEFAULT_CONTROL
    timeout_ms: int = REQUEST_TIMEOUT_MS
    tries: int = REQUEST_TRIES
    curve_secret: str | None = None
    """This process's CURVE `.key_secret` file (`zmqtui keygen`); setting it turns CURVE on."""
    curve_server: str | None = None
    """Public key file of the server a CURVE client trusts (default: our own key)."""
    curve_authorized: str | None = None
    """Directory of client public key files (`*.key`) a CURVE server admits."""
    export_dir: str | None = None
    """Where the monitor exports captures and records (default: `captures_dir()`)."""
    record_compress: bool = True
    """The monitor's record key writes `.jsonl.zst` (zstd), else plain `.jsonl`."""
    feeds: tuple[FeedConfig, ...] = ()
    """`[[feeds]]`: publishers to subscribe to, each with its own way of reading messages."""
    decoders: DecoderPairs = ()
    """`[decoders]`: topic prefix -> decoder, for every feed."""

    def decoders_for(self, feed: FeedConfig | None = None) -> DecoderPairs:
        """The `[decoders]` overrides with `feed`'s own over them."""
        if feed is None:
            return self.decoders
        return tuple({**dict(self.decoders), **dict(feed.decoders)}.items())

    def merged(self, values: Mapping[str, Any]) -> Settings:
        """A copy with the given non-None values set, each checked and converted."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            if key not in known:
                raise ConfigError(f"unknown setting {key!r} (known: {', '.join(known)})")
            if key == "feeds":
                value = parse_feeds(value)
            elif key == "decoders":
                value = parse_decoders(value, "[decoders]")
            elif known[key] == "int":
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"setting {key!r} must be a whole number") from None
                if value < 1:
                    raise ConfigError(f"setting {key!r} must be at least 1")
            elif known[key] == "bool":
                value = parse_switch(value, key)
            elif key in PATH_SETTINGS:
                value = str(Path(str(value)).expanduser()) if value != "" else None
            else:
                value = check_endpoint(str(value))
            changes[key] = value
        return replace(self, **changes)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from defaults, the TOML file, `ZMQTUI_*` variables, then `overrides`."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    path = config_file or environ.get("ZMQTUI_CONFIG")
    if path:
        settings = settings.merged(read_toml(Path(path)))
    elif (user_config := user_config_path(environ)).is_file():
        settings = settings.merged(read_toml(user_config))
    from_env = {
        f.name: environ[f"ZMQTUI_{f.name.upper()}"]
        for f in fields(Settings)
        if f"ZMQTUI_{f.name.upper()}" in environ and f.name not in TABLE_SETTINGS
    }
    return settings.merged(from_env).merged(overrides)


def user_config_path(environ: Mapping[str, str]) -> Path:
    """`$XDG_CONFIG_HOME/zmqtui/config.toml`, by default under `~/.config`."""
    config_home = environ.get("XDG_CONFIG_HOME") or Path(environ.get("HOME", "~")) / ".config"
    return Path(config_home).expanduser() / "zmqtui" / "config.toml"


def captures_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_DATA_HOME/zmqtui/captures`, by default under `~/.local/share`: the monitor's exports
    land outside the directory its embedded stack watches and serves, so an export is never
    published as a change of its own."""
    environ = os.environ if environ is None else environ
    data_home = environ.get("XDG_DATA_HOME") or Path(environ.get("HOME", "~")) / ".local/share"
    return Path(data_home).expanduser() / "zmqtui" / "captures"


def read_toml(path: Path) -> dict[str, Any]:
    """The `[zmqtui]` table of a TOML file (or its top level when there is no such table)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table = data.get("zmqtui", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [zmqtui] must be a table")
    if table is not data:  # [[feeds]] and [decoders] may sit beside a [zmqtui] table
        table = {**{k: data[k] for k in TABLE_SETTINGS if k in data}, **table}
    return table


def parse_feeds(value: Any) -> tuple[FeedConfig, ...]:
    """`[[feeds]]` tables checked and converted, or `ConfigError` naming the feed and key."""
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError("feeds must be an array of tables ([[feeds]] with endpoint = ...)")
    feeds = tuple(_feed(table, index) for index, table in enumerate(value, 1))
    names = [feed.name for feed in feeds]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise ConfigError(f"[[feeds]]: two feeds are named {twice[0]!r}; give each its own name")
    return feeds


def _feed(table: dict[str, Any], index: int) -> FeedConfig:
    where = f"[[feeds]] #{index}" + (f" ({table['name']!r})" if "name" in table else "")
    if unknown := sorted(set(table) - set(_FEED_KEYS)):
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_FEED_KEYS)})")
    if "endpoint" not in table:
        raise ConfigError(f'{where}: endpoint is missing (endpoint = "tcp://HOST:PORT")')
    try:
        endpoint = check_endpoint(_text(table["endpoint"], "endpoint"))
        name = _text(table.get("name", endpoint), "name")
        topic = parse_topic_rule(_text(table.get("topic", "auto"), "topic"))
        size = table.get("max_message_bytes", DEFAULT_MAX_FEED_BYTES)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError("max_message_bytes must be a whole number of bytes, at least 1")
        server = table.get("curve_server")
        return FeedConfig(
            name=name,
            endpoint=endpoint,
            subscribe=_texts(table.get("subscribe", [""]), "subscribe"),
            topic=topic,
            decoders=parse_decoders(table.get("decoders", {}), "decoders"),
            curve_server=None
            if server is None
            else str(Path(_text(server, "curve_server")).expanduser()),
            max_message_bytes=size,
            fields=FieldNames(
                _texts(table.get("timestamp_fields", DEFAULT_TIMESTAMP_FIELDS), "timestamp_fields"),
                _texts(table.get("sequence_fields", DEFAULT_SEQUENCE_FIELDS), "sequence_fields"),
            ),
        )
    except ValueError as exc:  # ConfigError, and the topic rule's ValueError
        raise ConfigError(f"{where}: {exc}") from None


def parse_decoders(value: Any, where: str) -> DecoderPairs:
    """A table of topic prefix -> decoder name, checked (`"md." = "msgpack"`)."""
    if not isinstance(value, dict):
        raise ConfigError(f'{where} must be a table of topic prefix = decoder ("md." = "msgpack")')
    try:
        return tuple(
            (prefix, parse_decoder_name(_text(name, prefix))) for prefix, name in value.items()
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {value!r}")
    return value


def _texts(value: Any, key: str) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{key} must be a string or a non-empty list of strings")


MAX_PORT = 65535


SWITCH_WORDS = {"true": True, "yes": True, "on": True, "1": True}
SWITCH_WORDS.update({"false": False, "no": False, "off": False, "0": False})


def parse_switch(value: Any, key: str) -> bool:
    """A TOML boolean, or a word an environment variable gives (true/false, yes/no, on/off,
    1/0, any case)."""
    if isinstance(value, bool):
        return value
    switch = SWITCH_WORDS.get(str(value).strip().lower())
    if switch is None:
        raise ConfigError(f"setting {key!r} must be true or false, not {value!r}")
    return switch


def check_endpoint(endpoint: str) -> str:
    """The endpoint if ZeroMQ can use it, else `ConfigError` with a hint."""
    transport, sep, address = endpoint.partition("://")
    if not sep or not address:
        raise ConfigError(f"endpoint {endpoint!r} must look like tcp://HOST:PORT or ipc://PATH")
    if transport not in ("tcp", "ipc", "inproc"):
        raise ConfigError(f"endpoint {endpoint!r}: transport must be tcp, ipc or inproc")
    if transport == "tcp":
        host, colon, port = address.rpartition(":")
        if not colon or not host or not (port == "*" or port.isdigit()):
            raise ConfigError(f"endpoint {endpoint!r} must look like tcp://HOST:PORT")
        if port != "*" and int(port) > MAX_PORT:
            # libzmq takes the port modulo 65536: 99999 would quietly be 34463
            raise ConfigError(f"endpoint {endpoint!r}: port {port} is out of range (0-{MAX_PORT})")
    return endpoint


def is_loopback(endpoint: str) -> bool:
    """True for `ipc://`, `inproc://` and TCP endpoints on 127.0.0.0/8, ::1 or localhost."""
    transport, _, address = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return True
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
