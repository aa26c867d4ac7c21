"""`zmqtui --open FILE`: a file that is not a readable recording is told on the command line
(exit 2, the line named) before any screen opens, and the file is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner
from local_playback import write_recording

from zmqtui.cli import main

HEADER = b'{"format":"zmqtui-recording","version":1,"start_ns":1,"feeds":[]}\n'


@pytest.mark.parametrize(
    ("content", "told"),
    [
        (b"", "empty file: not a zmqtui-recording"),
        (b"hello\n", "line 1: not a zmqtui-recording (line 1 is not JSON)"),
        (HEADER.replace(b"1,", b"9,", 1), "line 1: version 9 is newer than this zmqtui reads"),
        (HEADER + b'{"t":1,"feed":"a","frames":["x"]}\n{"t":2,"feed":"a"}\n', "line 3: frames"),
    ],
    ids=["empty", "not-json", "newer", "bad-line"],
)
def test_a_malformed_recording_is_told_with_exit_2(tmp_path: Path, content: bytes, told: str):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["--open", str(path)])
    assert result.exit_code == 2, result.output
    assert f"zmqtui: cannot open {path}" in result.stderr and told in result.stderr
    assert path.read_bytes() == content  # nothing lost


def test_a_bad_line_in_the_middle_of_a_compressed_one_is_named(tmp_path: Path) -> None:
    plain = write_recording(tmp_path / "r.jsonl", 30).read_bytes().splitlines(keepends=True)
    plain[15] = b'{"t":1,"feed":"fs","frames":[{"b64":"not base64!"}]}\n'
    path = tmp_path / "r.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"".join(plain)))
    result = CliRunner().invoke(main, ["--open", str(path)])
    assert result.exit_code == 2 and "line 16: a frame's base64 is not valid" in result.stderr


def test_live_options_do_not_apply_to_a_recording(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "r.jsonl", 3)
    result = CliRunner().invoke(main, ["--open", str(path), "--sub", "tcp://127.0.0.1:5556"])
    assert result.exit_code == 2 and "--open shows a recording: not with --sub" in result.output
    result = CliRunner().invoke(main, ["--open", str(path), "--with-tap", "-r"])
    assert result.exit_code == 2 and "not with --with-tap, --recursive" in result.output
