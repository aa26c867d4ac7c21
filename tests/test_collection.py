"""Saved requests: the files a collection holds, their variables, and what a save writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqtui import collection as collection_module
from zmqtui.collection import (
    CollectionError,
    VariableError,
    check_name,
    default_collection_dir,
    fill_variables,
    load_collection,
    load_one,
    request_toml,
    save_request,
)
from zmqtui.frames import parse_frames
from zmqtui.request_spec import RequestSpec

ENVIRONMENTS = """\
default = 'prod'
[shared]
id = 'r1'
[env.dev]
host = '127.0.0.1'
[env.prod]
host = '10.0.0.5'
port = 60401
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class TestLoading:
    def test_requests_by_path_folders_and_environments(self, tmp_path):
        write(tmp_path, "environments.toml", ENVIRONMENTS)
        write(tmp_path, "ping.toml", "endpoint = 'tcp://${host}:1'\nframes = ['text:ping']\n")
        write(
            tmp_path,
            "books/readme.toml",
            "endpoint = 'tcp://h:1'\nsocket = 'DEALER'\ntimeout_ms = 900\n"
            "frames = ['text:', 'json:{\"path\": \"README.md\"}']\n",
        )
        (tmp_path / "empty").mkdir()
        (tmp_path / ".git").mkdir()
        write(tmp_path, ".git/config.toml", "x = 1")
        write(tmp_path, "notes.txt", "not a request")

        collection = load_collection(tmp_path)

        assert [saved.name for saved in collection.requests] == ["ping", "books/readme"]
        assert collection.folders == ("books", "empty")
        assert collection.get("books/readme") == RequestSpec(
            "tcp://h:1", ("text:", 'json:{"path": "README.md"}'), "DEALER", "books/readme", 900
        )
        environments = collection.environments
        assert environments.names == ("dev", "prod")
        assert environments.initial() == "prod"
        assert environments.variables("prod") == {"id": "r1", "host": "10.0.0.5", "port": "60401"}
        assert environments.variables(None) == {"id": "r1"}

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("endpoint = 'tcp://h:1'\nframes = [", "not valid TOML"),
            ("frames = ['x']\n", "'endpoint' must be a non-empty string"),
            ("endpoint = 'e'\nframes = []\n", "'frames' must be a non-empty array"),
            ("endpoint = 'e'\nframes = [1]\n", "'frames' must be a non-empty array"),
            ("endpoint = 'e'\nframes = ['x']\nsocket = 'REP'\n", "'socket' must be one of"),
            ("endpoint = 'e'\nframes = ['x']\ntimeout_ms = 0\n", "'timeout_ms' must be"),
            ("endpoint = 'e'\nframes = ['x']\nendpont = 'e'\n", "unknown key 'endpont'"),
        ],
    )
    def test_a_file_that_cannot_be_read_is_listed_with_its_reason_and_kept(
        self, tmp_path, text, reason
    ):
        path = write(tmp_path, "broken.toml", text)

        (saved,) = load_collection(tmp_path).requests

        assert saved.spec is None
        assert reason in saved.error
        assert path.read_text() == text
        with pytest.raises(CollectionError, match=r"broken\.toml"):
            load_collection(tmp_path).get("broken")

    def test_a_missing_directory_is_an_empty_collection(self, tmp_path):
        assert load_collection(tmp_path / "none").requests == ()

    def test_malformed_environments_say_why(self, tmp_path):
        write(tmp_path, "environments.toml", "[env.dev]\nhost = ['a']\n")

        environments = load_collection(tmp_path).environments

        assert environments.names == ()
        assert (
            environments.error
            == "environments.toml: [env.dev]: host must be a string or an integer"
        )

    def test_default_collection_only_when_the_directory_exists(self, tmp_path):
        assert default_collection_dir(tmp_path) is None
        (tmp_path / "zmq-requests").mkdir()
        assert default_collection_dir(tmp_path) == tmp_path / "zmq-requests"


class TestVariables:
    SPEC = RequestSpec("tcp://${host}:${port}", ('json:{"id": "${id}"}', "text:$${literal}"))

    def test_filled_from_the_environment(self):
        filled = fill_variables(self.SPEC, {"host": "h", "port": "1", "id": "r1"})

        assert filled.endpoint == "tcp://h:1"
        assert filled.frames == ('json:{"id": "r1"}', "text:${literal}")

    def test_an_unknown_variable_is_named_and_nothing_is_filled(self):
        with pytest.raises(VariableError) as raised:
            fill_variables(self.SPEC, {"host": "h"}, "dev")

        assert str(raised.value) == (
            "unknown variable ${port} in the endpoint, ${id} in frame 1"
            " (environment 'dev'; known: host)"
        )

    @pytest.mark.parametrize(
        ("endpoint", "reason"),
        [("tcp://${host", "without a closing"), ("tcp://${a b}", "not a variable name")],
    )
    def test_a_variable_written_wrong(self, endpoint, reason):
        with pytest.raises(VariableError, match=reason):
            fill_variables(RequestSpec(endpoint, ("x",)), {"host": "h"})


class TestSaving:
    def test_the_file_reads_as_written_by_hand(self, tmp_path):
        spec = RequestSpec("tcp://${host}:60401", ('json:{"path": "README.md"}', "text:it's"))

        save_request(tmp_path, "books/readme", spec)

        assert (tmp_path / "books/readme.toml").read_text() == (
            "endpoint = 'tcp://${host}:60401'\n"
            "frames = [\n"
            """    'json:{"path": "README.md"}',\n"""
            """    "text:it's",\n"""
            "]\n"
        )

    def test_round_trip_with_every_field(self, tmp_path):
        spec = RequestSpec("ipc://x", ("hex:00ff", "text:a\tb\x1b"), "DEALER", "", 1200)

        save_request(tmp_path, "all", spec)

        assert load_collection(tmp_path).get("all") == RequestSpec(
            "ipc://x", ("hex:00ff", "text:a\tb\x1b"), "DEALER", "all", 1200
        )

    def test_a_readable_request_is_replaced_a_broken_one_kept(self, tmp_path):
        save_request(tmp_path, "r", RequestSpec("tcp://a:1", ("x",)))
        save_request(tmp_path, "r", RequestSpec("tcp://b:1", ("x",)))
        assert load_collection(tmp_path).get("r").endpoint == "tcp://b:1"

        write(tmp_path, "broken.toml", "endpoint = ")
        with pytest.raises(CollectionError, match="cannot be read"):
            save_request(tmp_path, "broken", RequestSpec("tcp://b:1", ("x",)))
        assert (tmp_path / "broken.toml").read_text() == "endpoint = "

    def test_toml_of_a_dealer_with_timeout(self):
        text = request_toml(RequestSpec("e", ("x",), "DEALER", "n", 5))
        assert (
            text == "endpoint = 'e'\nsocket = 'DEALER'\ntimeout_ms = 5\nframes = [\n    'x',\n]\n"
        )

    @pytest.mark.parametrize(
        "name", ["", "/", "../up", "a/../b", ".hidden", "a//b", "environments", "x\x1b", "a/b."]
    )
    def test_names_that_cannot_be_saved(self, name):
        with pytest.raises(CollectionError):
            check_name(name)

    @pytest.mark.parametrize(
        ("name", "cleaned"), [("get readme", "get readme"), ("/books/r.toml", "books/r")]
    )
    def test_names_that_can(self, name, cleaned):
        assert check_name(name) == cleaned


def test_a_broken_environments_file_is_named_when_a_variable_is_missing(tmp_path):
    write(tmp_path, "environments.toml", "[env.dev\n")
    collection = load_collection(tmp_path)
    spec = RequestSpec("tcp://${host}:1", ("x",))

    with pytest.raises(VariableError, match=r"environments\.toml: not valid TOML"):
        collection.fill(spec, None)
    assert collection.fill(RequestSpec("tcp://h:1", ("x",)), None).endpoint == "tcp://h:1"


class TestFiles:
    """`@file` frames name files relative to the request file, wherever zmqtui runs."""

    def test_a_relative_file_is_read_from_the_request_files_directory(self, tmp_path, monkeypatch):
        root = tmp_path / "requests"
        write(root, "books/readme.toml", "endpoint = 'e'\nframes = ['@body.bin', '@../top.bin']\n")
        write(root, "books/body.bin", "B")
        write(root, "top.bin", "T")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)

        spec = load_collection(Path("../requests")).get("books/readme")

        assert spec.frames == (f"@{root}/books/body.bin", f"@{root}/books/../top.bin")
        assert parse_frames(list(spec.frames)) == [b"B", b"T"]

    def test_absolute_files_text_and_variables_stay_as_written(self, tmp_path):
        frames = ["@/etc/hostname", "text:@body.bin", "@${data}/x.bin", "body.bin"]
        write(tmp_path, "r.toml", f"endpoint = 'e'\nframes = {frames!r}\n")
        assert load_collection(tmp_path).get("r").frames == tuple(frames)

    def test_a_save_writes_a_file_inside_the_collection_relative_to_the_request(
        self, tmp_path, monkeypatch
    ):
        """The form reads `@file` from the current directory; the file written reads it from
        its own directory, and loads back as the same file."""
        root = tmp_path / "requests"
        write(root, "data/body.bin", "B")
        monkeypatch.chdir(tmp_path)
        outside = tmp_path / "outside.bin"
        spec = RequestSpec("e", ("@requests/data/body.bin", f"@{outside}", "@${d}/x", "text:@y"))

        saved = save_request(root, "books/readme", spec)

        text = (root / "books/readme.toml").read_text()
        assert "'@../data/body.bin'" in text and f"'@{outside}'" in text
        assert saved.spec is not None
        assert saved.spec.frames == (
            f"@{root}/books/../data/body.bin",
            f"@{outside}",
            "@${d}/x",
            "text:@y",
        )
        assert load_collection(root).get("books/readme") == saved.spec


class TestOneRequest:
    """`zmqtui send --collection DIR NAME` reads the one request it sends, and the
    environments, not the whole collection; its errors read as the whole collection's."""

    def test_only_the_request_and_the_environments_are_read(self, tmp_path, monkeypatch):
        write(tmp_path, "environments.toml", ENVIRONMENTS)
        write(tmp_path, "books/readme.toml", "endpoint = 'tcp://${host}:1'\nframes = ['x']\n")
        for number in range(5):
            write(tmp_path, f"other{number}.toml", "endpoint = ")
        read = []
        original = collection_module._read_toml
        monkeypatch.setattr(
            collection_module, "_read_toml", lambda path: read.append(path) or original(path)
        )

        one = load_one(tmp_path, "books/readme")

        assert sorted(p.name for p in read) == ["environments.toml", "readme.toml"]
        assert one.fill(one.get("books/readme"), "dev").endpoint == "tcp://127.0.0.1:1"

    @pytest.mark.parametrize(
        "name", ["books/readme", "broken", "none", "../x", ".hidden", "environments", "a//b"]
    )
    def test_the_errors_are_the_whole_collections(self, tmp_path, name):
        write(tmp_path, "environments.toml", ENVIRONMENTS)
        write(tmp_path, "books/readme.toml", "endpoint = 'e'\nframes = ['x']\n")
        write(tmp_path, "broken.toml", "endpoint = ")
        write(tmp_path, ".hidden.toml", "endpoint = 'e'\nframes = ['x']\n")
        write(tmp_path.parent / "x.toml", "", "endpoint = 'e'\nframes = ['x']\n")

        def outcome(collection):
            try:
                return collection.get(name)
            except CollectionError as exc:
                return str(exc)

        assert outcome(load_one(tmp_path, name)) == outcome(load_collection(tmp_path))

    def test_a_missing_collection_or_a_file_in_its_place(self, tmp_path):
        with pytest.raises(CollectionError, match="no request 'r' in"):
            load_one(tmp_path / "none", "r").get("r")
        write(tmp_path, "file", "")
        with pytest.raises(CollectionError, match="is not a directory"):
            load_one(tmp_path / "file", "r")
