"""Saved requests: a directory of TOML files, one request each, and the variables they use.

A collection is a directory (`zmq-requests/` by default); every `*.toml` file in it or in its
subdirectories is one request, named by its path without `.toml` (`books/readme`), so a
folder groups requests. A file reads as a user would write it:

    endpoint = 'tcp://${host}:60401'
    socket = 'REQ'                      # or 'DEALER'; REQ when left out
    timeout_ms = 2500                   # optional: the configured timeout when left out
    frames = [
        'json:{"path": "README.md", "id": "${id}"}',
    ]

Frames are in the frame syntax of `zmqtui.frames`; a relative `@file` names a file relative to
the request file's directory (it is read as an absolute path, so the collection works from
any directory, and written relative again when saved inside the collection). The endpoint and
the frames may hold `${name}` variables, filled as text before the frames are read (a JSON
frame is checked once filled, so `${n}` may stand for a number), from `environments.toml` at
the collection's root (`$${` writes a literal `${`):

    default = 'dev'                     # chosen at start; else the first [env.*] table
    [shared]                            # every environment's, unless it sets its own
    id = 'r1'
    [env.dev]
    host = '127.0.0.1'
    [env.prod]
    host = '10.0.0.5'

A file that cannot be read is listed with the reason and left as it is: never rewritten,
never dropped. Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomlkit

from zmqtui.files import replace_file
from zmqtui.frames import anchor_file
from zmqtui.request_spec import SOCKET_KINDS, RequestSpec

DEFAULT_DIR = "zmq-requests"
"""The collection used when none is given, if the current directory has one."""
ENVIRONMENTS_FILE = "environments.toml"
SUFFIX = ".toml"
MAX_FILE_BYTES = 1024 * 1024
"""Largest request or environments file read: a collection is typed by hand."""
REQUEST_KEYS = ("endpoint", "socket", "timeout_ms", "frames")
"""The keys of a request file, in the order a saved one is written."""

_VARIABLE = re.compile(r"(?P<escaped>\$\$\{)|\$\{(?P<name>[^}]*)\}|(?P<open>\$\{)")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NAME_PART = re.compile(r"[\w][\w .+-]*")


class CollectionError(ValueError):
    """A collection, request or environment that cannot be used, said so the user can fix it."""


class VariableError(CollectionError):
    """A request whose variables cannot all be filled: it is not sent half-filled."""


@dataclass(frozen=True, slots=True)
class SavedRequest:
    """One file of a collection: its request, or why it cannot be read."""

    name: str
    """Its path under the collection without `.toml`, `/` between folders."""
    path: Path
    spec: RequestSpec | None
    error: str | None = None

    @property
    def folder(self) -> str:
        """The folder it is in ("" at the top)."""
        return self.name.rpartition("/")[0]


@dataclass(frozen=True, slots=True)
class Environments:
    """The variables of `environments.toml`: one table per deployment, and shared ones."""

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    shared: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None
    error: str | None = None
    """Why `environments.toml` cannot be read (then there are no variables)."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tables)

    def variables(self, environment: str | None) -> dict[str, str]:
        """The shared variables with `environment`'s over them (None: the shared ones only)."""
        if environment is not None and environment not in self.tables:
            raise CollectionError(
                f"no environment {environment!r} (there are: {', '.join(self.tables) or 'none'})"
            )
        return {**self.shared, **(self.tables.get(environment, {}) if environment else {})}

    def initial(self) -> str | None:
        """The environment chosen at start: `default`, else the first one, else None."""
        return self.default or next(iter(self.tables), None)


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection's requests (by name), its folders and its environments, as read once."""

    root: Path
    requests: tuple[SavedRequest, ...] = ()
    folders: tuple[str, ...] = ()
    """Every folder, empty ones too, parents before children."""
    environments: Environments = field(default_factory=Environments)

    def get(self, name: str) -> RequestSpec:
        """The request saved as `name`; `CollectionError` if there is none or it is broken."""
        for saved in self.requests:
            if saved.name == name:
                if saved.spec is None:
                    raise CollectionError(f"{saved.path}: {saved.error}")
                return saved.spec
        raise CollectionError(f"no request {name!r} in {self.root}")

    def fill(self, spec: RequestSpec, environment: str | None) -> RequestSpec:
        """`spec` with its variables filled from `environment` (see `fill_variables`); the
        error says so too when `environments.toml` could not be read."""
        environments = self.environments
        try:
            return fill_variables(spec, environments.variables(environment), environment)
        except VariableError as exc:
            if environments.error is None:
                raise
            raise VariableError(f"{exc}; {environments.error}") from None


def default_collection_dir(cwd: Path | None = None) -> Path | None:
    """`zmq-requests/` in the current directory when there is one."""
    candidate = (cwd or Path.cwd()) / DEFAULT_DIR
    return candidate if candidate.is_dir() else None


def load_collection(root: Path) -> Collection:
    """Read every request file and the environments of the collection at `root` (a missing
    directory is an empty collection, so the first save makes it)."""
    if not root.exists():
        return Collection(root)
    if not root.is_dir():
        raise CollectionError(f"collection {root} is not a directory")
    requests: list[SavedRequest] = []
    folders: list[str] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        base = Path(directory)
        relative = base.relative_to(root).as_posix()
        if relative != ".":
            folders.append(relative)
        for file_name in sorted(files):
            if not file_name.endswith(SUFFIX) or file_name.startswith("."):
                continue
            if relative == "." and file_name == ENVIRONMENTS_FILE:
                continue
            path = base / file_name
            name = path.relative_to(root).as_posix().removesuffix(SUFFIX)
            requests.append(read_request(path, name))
    return Collection(root, tuple(requests), tuple(folders), read_environments(root))


def load_one(root: Path, name: str) -> Collection:
    """The collection at `root` with only the request `name` read, and its environments: what
    sending one saved request needs (`get(name)` says why it cannot be had, as it would from
    `load_collection`)."""
    if root.exists() and not root.is_dir():
        raise CollectionError(f"collection {root} is not a directory")
    parts = name.split("/")
    path = root.joinpath(*parts[:-1], parts[-1] + SUFFIX)
    listed = all(part and not part.startswith(".") for part in parts) and path.is_file()
    requests = ()
    if listed and name != ENVIRONMENTS_FILE.removesuffix(SUFFIX):  # as `load_collection` lists
        requests = (read_request(path, name),)
    return Collection(root, requests, (), read_environments(root))  # none: `get` says so


def read_request(path: Path, name: str) -> SavedRequest:
    """The request in the file at `path`, or the reason it cannot be read; its relative
    `@file` frames made absolute from the file's directory."""
    try:
        data = _read_toml(path)
        spec = request_from_table(data, name)
    except CollectionError as exc:
        return SavedRequest(name, path, None, str(exc))
    directory = Path(os.path.abspath(path.parent))
    frames = tuple(_anchored(frame, directory) for frame in spec.frames)
    return SavedRequest(name, path, replace(spec, frames=frames))


def _anchored(frame: str, directory: Path) -> str:
    """`frame`, a relative `@file` made absolute from `directory`; one whose name starts with a
    variable is left for the variable to say."""
    return frame if frame.startswith("@${") else anchor_file(frame, directory)


def _relative(frame: str, directory: Path, root: Path) -> str:
    """`frame` as a request file in `directory` writes it: an `@file` (relative to the current
    directory, as the monitor reads it) relative to `directory` when it is inside the
    collection at `root`, else absolute."""
    if frame.startswith("@${"):
        return frame
    anchored = anchor_file(frame, Path.cwd())
    if not anchored.startswith("@") or len(anchored) == 1:
        return anchored
    path = Path(os.path.normpath(anchored[1:]))
    if not path.is_relative_to(Path(os.path.abspath(root))):
        return anchored
    return "@" + os.path.relpath(path, os.path.abspath(directory))


def request_from_table(data: Mapping[str, Any], name: str) -> RequestSpec:
    """A request file's table as a `RequestSpec`, checked key by key."""
    unknown = [key for key in data if key not in REQUEST_KEYS]
    if unknown:
        raise CollectionError(f"unknown key {unknown[0]!r} (known: {', '.join(REQUEST_KEYS)})")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise CollectionError("'endpoint' must be a non-empty string")
    frames = data.get("frames")
    if (
        not isinstance(frames, list)
        or not frames
        or not all(isinstance(frame, str) for frame in frames)
    ):
        raise CollectionError("'frames' must be a non-empty array of strings (frame syntax)")
    socket = data.get("socket", "REQ")
    if socket not in SOCKET_KINDS:
        raise CollectionError(f"'socket' must be one of {', '.join(SOCKET_KINDS)}")
    timeout_ms = data.get("timeout_ms")
    if timeout_ms is not None and (
        not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms < 1
    ):
        raise CollectionError("'timeout_ms' must be a positive integer")
    return RequestSpec(endpoint, tuple(frames), socket, name, timeout_ms)


def read_environments(root: Path) -> Environments:
    """The collection's `environments.toml` (none: no variables); the reason when malformed."""
    path = root / ENVIRONMENTS_FILE
    if not path.exists():
        return Environments()
    try:
        data = _read_toml(path)
        return _environments(data)
    except CollectionError as exc:
        return Environments(error=f"{ENVIRONMENTS_FILE}: {exc}")


def _environments(data: Mapping[str, Any]) -> Environments:
    unknown = [key for key in data if key not in ("default", "shared", "env")]
    if unknown:
        raise CollectionError(f"unknown key {unknown[0]!r} (known: default, shared, env)")
    envs = data.get("env", {})
    if not isinstance(envs, dict):
        raise CollectionError("'env' must hold tables: [env.NAME]")
    tables = {name: _variables(table, f"[env.{name}]") for name, table in envs.items()}
    shared = _variables(data.get("shared", {}), "[shared]")
    default = data.get("default")
    if default is not None and default not in tables:
        raise CollectionError(f"default {default!r} is not an [env.*] table")
    return Environments(tables, shared, default)


def _variables(table: Any, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise CollectionError(f"{where} must be a table of variables")
    variables = {}
    for name, value in table.items():
        if not _VARIABLE_NAME.fullmatch(name):
            raise CollectionError(f"{where}: {name!r} is not a variable name")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise CollectionError(f"{where}: {name} must be a string or an integer")
        variables[name] = str(value)
    return variables


def fill_variables(
    spec: RequestSpec, variables: Mapping[str, str], environment: str | None = None
) -> RequestSpec:
    """`spec` with every `${name}` in its endpoint and frames replaced; `VariableError` naming
    each variable it does not know (and `environment`, to say where it looked)."""
    unknown: list[str] = []
    endpoint = _fill(spec.endpoint, variables, unknown, "the endpoint")
    frames = tuple(
        _fill(frame, variables, unknown, f"frame {number}")
        for number, frame in enumerate(spec.frames, 1)
    )
    if unknown:
        where = f"environment {environment!r}" if environment else "no environment"
        known = ", ".join(variables)
        raise VariableError(
            f"unknown variable {', '.join(dict.fromkeys(unknown))}"
            f" ({where}{'; known: ' + known if known else ''})"
        )
    return replace(spec, endpoint=endpoint, frames=frames)


@dataclass(frozen=True, slots=True)
class Filled:
    """Where a variable was filled: `start`:`end` of the text as written became
    `filled_start`:`filled_end` of the text filled."""

    name: str
    """The variable's name ("": a `$${` written `${`)."""
    value: str
    start: int
    end: int
    filled_start: int
    filled_end: int


def fill_text(
    text: str, variables: Mapping[str, str], where: str = "the frame"
) -> tuple[str, tuple[Filled, ...]]:
    """`text` with its variables filled, and where each went (so that an error in the text
    filled can point at the text written); `VariableError` as `fill_variables`."""
    unknown: list[str] = []
    filled = _filled(text, variables, unknown, where)
    if unknown:
        raise VariableError(f"unknown variable {', '.join(dict.fromkeys(unknown))}")
    return filled


def written_offset(offset: int, filled: tuple[Filled, ...]) -> tuple[int, Filled | None]:
    """The place in the text as written of `offset` in the text filled, and the variable
    (or `$${`) whose value it falls in (None: the text around them)."""
    shift = 0
    for part in filled:
        if offset < part.filled_start:
            break
        if offset < part.filled_end:
            return part.start, part
        shift = part.filled_end - part.end
    return offset - shift, None


def _fill(text: str, variables: Mapping[str, str], unknown: list[str], where: str) -> str:
    return _filled(text, variables, unknown, where)[0]


def _filled(
    text: str, variables: Mapping[str, str], unknown: list[str], where: str
) -> tuple[str, tuple[Filled, ...]]:
    pieces: list[str] = []
    filled: list[Filled] = []
    position = length = 0
    for match in _VARIABLE.finditer(text):
        before = text[position : match.start()]
        pieces.append(before)
        length += len(before)
        value = _value(match, variables, unknown, where)
        if value != match[0]:  # a variable filled, or `$${` written `${`
            name = match["name"] or ""
            filled.append(
                Filled(name, value, match.start(), match.end(), length, length + len(value))
            )
        pieces.append(value)
        length += len(value)
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces), tuple(filled)


def _value(
    match: re.Match[str], variables: Mapping[str, str], unknown: list[str], where: str
) -> str:
    """What one `${...}` (or `$${`) of `_VARIABLE` stands for."""
    if match["escaped"]:
        return "${"
    if match["open"]:
        raise VariableError(f"'${{' without a closing '}}' in {where}")
    name = match["name"]
    if not _VARIABLE_NAME.fullmatch(name):
        raise VariableError(f"'${{{name}}}' in {where} is not a variable name")
    if name not in variables:
        unknown.append(f"${{{name}}} in {where}")
        return match[0]
    return variables[name]


def check_name(name: str) -> str:
    """`name` as a request's name (folders joined by `/`), or `CollectionError` saying why it
    cannot be one: each part a plain file name, nothing hidden, nothing outside the root."""
    cleaned = name.strip().strip("/").removesuffix(SUFFIX)
    if not cleaned:
        raise CollectionError("a name is needed")
    for part in cleaned.split("/"):
        if not _NAME_PART.fullmatch(part) or part.endswith((" ", ".")):
            raise CollectionError(
                f"{part!r}: a name's parts are letters, digits, spaces and . _ + -"
                " (not first), joined by /"
            )
    if cleaned == ENVIRONMENTS_FILE.removesuffix(SUFFIX):
        raise CollectionError(f"{ENVIRONMENTS_FILE} holds the environments, not a request")
    return cleaned


def request_path(root: Path, name: str) -> Path:
    """Where the request `name` is saved under `root`."""
    return root / f"{check_name(name)}{SUFFIX}"


def request_toml(spec: RequestSpec) -> str:
    """The file a user would write for `spec`: single-quoted strings where they can be, the
    frames one a line, the socket and timeout only when they say something."""
    document = tomlkit.document()
    document["endpoint"] = _string(spec.endpoint)
    if spec.socket != "REQ":
        document["socket"] = _string(spec.socket)
    if spec.timeout_ms is not None:
        document["timeout_ms"] = spec.timeout_ms
    frames = tomlkit.array()
    frames.extend(_string(frame) for frame in spec.frames)
    frames.multiline(True)
    document["frames"] = frames
    return tomlkit.dumps(document)


def save_request(root: Path, name: str, spec: RequestSpec) -> SavedRequest:
    """Write `spec` as the request `name` under `root` (folders made as needed), in place of
    a readable request of that name; a file that cannot be read is never written over."""
    name = check_name(name)
    path = request_path(root, name)
    if path.exists():
        existing = read_request(path, name)
        if existing.spec is None:
            raise CollectionError(f"{name} exists and cannot be read ({existing.error}): kept")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = tuple(_relative(frame, path.parent, root) for frame in spec.frames)
    replace_file(path, request_toml(replace(spec, name=name, frames=frames)).encode("utf-8"))
    return read_request(path, name)


def _string(text: str) -> tomlkit.items.String:
    literal = "'" not in text and text.isprintable()
    return tomlkit.string(text, literal=literal)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CollectionError(f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CollectionError(f"larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CollectionError("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise CollectionError(f"not valid TOML: {exc}") from None
