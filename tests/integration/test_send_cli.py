"""`zmqtui send` as a real process: to a ROUTER that echoes frames, and to `zmqtui serve`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import TARGET_TEXT, EchoRouter, Lines

from zmqtui.commands.send import command as send_command
from zmqtui.history import History
from zmqtui.request_spec import RequestSpec

WAIT = 20.0

MESSAGE = ['json:{"a": [1, 2]}', "text:hello world", "hex:00 ff 10"]
SHOWN = ['json:{"a": [1, 2]}', "text:hello world", "hex:00ff10"]


def send(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zmqtui", "send", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


@pytest.fixture
def echo(ctx, tcp_endpoint):
    router = EchoRouter(ctx, tcp_endpoint())
    yield router
    router.close()


@pytest.mark.integration
@pytest.mark.parametrize("dealer", [[], ["--dealer"]], ids=["REQ", "DEALER"])
def test_a_multi_frame_message_comes_back_from_an_echo(echo, dealer):
    result = send(echo.endpoint, *MESSAGE, *dealer)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    kind = "DEALER" if dealer else "REQ"
    assert lines[0] == f"Sending 3 frames to {echo.endpoint} over {kind}"
    assert lines[1].startswith("Received 3 frames in ")
    assert lines[2:] == SHOWN

    as_json = send(echo.endpoint, *MESSAGE, *dealer, "--json")
    assert as_json.returncode == 0, as_json.stderr
    line = json.loads(as_json.stdout)
    assert line["socket"] == kind
    assert line["reply"] == [{"json": {"a": [1, 2]}}, {"text": "hello world"}, {"b64": "AP8Q"}]


@pytest.mark.integration
def test_a_load_over_one_dealer_prints_the_summary(echo):
    result = send(echo.endpoint, '{"pid": 5}', "--dealer", "--count", "200", "--concurrency", "16")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"Sent 200 of 200 messages of 1 frame to {echo.endpoint} over DEALER, 16 in flight"
    )
    assert "Replies by pid: 5: 200" in lines
    assert echo.answered == 200


@pytest.mark.integration
def test_a_file_request_built_by_hand_against_zmqtui_serve(processes, served_root, tcp_endpoint):
    endpoint = tcp_endpoint()
    server = processes.start("serve", "--root", str(served_root), "--bind", endpoint, "-q")
    Lines(server.stdout).wait("Listening for zmq requesters")

    found = send(endpoint, 'json:{"path": "target.txt"}', "--json")
    assert found.returncode == 0, found.stderr
    reply = json.loads(found.stdout)["reply"]
    assert len(reply) == 1
    assert reply[0]["json"]["content"] == TARGET_TEXT
    assert reply[0]["json"]["pid"] == server.pid

    missing = send(endpoint, '{"path": "missing.txt"}', "--dealer")
    assert missing.returncode == 1
    assert missing.stdout.splitlines()[2].startswith('json:{"error":{"code":"NOT_FOUND"')
    assert missing.stderr == f"Received error NOT_FOUND from pid {server.pid}\n"

    load = send(endpoint, 'json:{"path": "target.txt"}', "--count", "50", "--concurrency", "4")
    assert load.returncode == 0, load.stderr
    assert f"Replies by pid: {server.pid}: 50" in load.stdout.splitlines()

    extra = send(endpoint, 'json:{"path": "target.txt"}', "text:second frame")
    assert extra.returncode == 1
    assert "BAD_REQUEST" in extra.stdout


@pytest.mark.integration
def test_silence_exits_3_after_every_try(tcp_endpoint):
    endpoint = tcp_endpoint()
    result = send(endpoint, "x", "--timeout-ms", "100", "--tries", "2", "--dealer")
    assert result.returncode == 3
    assert result.stderr == f"zmqtui: no reply from {endpoint} after 2 tries of 100 ms\n"


def test_a_bad_frame_exits_2_showing_where():
    result = CliRunner().invoke(send_command, ["tcp://127.0.0.1:1", "text:ok", "hex:0g"])
    assert result.exit_code == 2
    assert result.output == (
        "zmqtui: frame 2: hex: 'g' is not a hex digit (at character 6)\n  hex:0g\n       ^\n"
    )


def test_a_bad_endpoint_exits_2():
    result = CliRunner().invoke(send_command, ["tcp://127.0.0.1:99999", "x"])
    assert result.exit_code == 2
    assert "port" in result.output


def saved_collection(root, endpoint: str):
    """A collection with one request whose endpoint and frames take variables."""
    root.mkdir()
    (root / "environments.toml").write_text(
        f"[env.local]\nendpoint = '{endpoint}'\nid = 'r7'\n[env.empty]\n", encoding="utf-8"
    )
    (root / "greet.toml").write_text(
        "endpoint = '${endpoint}'\nsocket = 'DEALER'\n"
        "frames = ['json:{\"id\": \"${id}\"}', 'text:hi']\n",
        encoding="utf-8",
    )
    return root


def test_a_saved_request_is_sent_by_name_with_its_variables(echo, tmp_path):
    root = saved_collection(tmp_path / "requests", echo.endpoint)

    result = CliRunner().invoke(send_command, ["--collection", str(root), "greet"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"Sending 2 frames to {echo.endpoint} over DEALER"
    assert result.output.splitlines()[2:] == ['json:{"id": "r7"}', "text:hi"]


def test_a_variable_may_stand_as_a_json_number_filled_before_the_check(echo, tmp_path):
    root = saved_collection(tmp_path / "requests", echo.endpoint)
    (root / "environments.toml").write_text(
        f"[env.local]\nendpoint = '{echo.endpoint}'\nn = 7\n[env.bad]\nendpoint = 'x'\nn = 'q'\n"
    )
    (root / "number.toml").write_text("endpoint = '${endpoint}'\nframes = ['json:{\"n\": ${n}}']\n")
    runner = CliRunner()

    sent = runner.invoke(send_command, ["--collection", str(root), "number"])
    assert sent.exit_code == 0, sent.output
    assert sent.output.splitlines()[2:] == ['json:{"n": 7}']

    wrong = runner.invoke(send_command, ["--collection", str(root), "number", "--env", "bad"])
    assert wrong.exit_code == 2
    assert wrong.output.splitlines()[1:] == [
        '  json:{"n": q}',
        "             ^",
        "  (the saved request number, its variables filled from environment 'bad')",
    ]


def test_a_saved_request_with_an_unknown_variable_is_not_sent(echo, tmp_path):
    root = saved_collection(tmp_path / "requests", echo.endpoint)

    result = CliRunner().invoke(
        send_command, ["--collection", str(root), "--env", "empty", "greet"]
    )

    assert result.exit_code == 2
    assert result.output == (
        "zmqtui: unknown variable ${endpoint} in the endpoint, ${id} in frame 1"
        " (environment 'empty')\n"
    )
    assert echo.answered == 0


def test_each_send_is_kept_in_the_history_the_monitor_lists(echo, tmp_path, monkeypatch):
    """As the composer keeps its sends: the request as it went (a relative `@file` made
    absolute, so it names the same file from anywhere), its socket and outcome; a load run
    with its count and concurrency; nothing with --no-history."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "body.bin").write_bytes(b"\x00\x01")
    runner = CliRunner()

    single = runner.invoke(send_command, [echo.endpoint, "text:hi", "@body.bin"])
    load = runner.invoke(
        send_command, [echo.endpoint, "text:x", "--dealer", "--count", "4", "--concurrency", "2"]
    )
    unkept = runner.invoke(send_command, [echo.endpoint, "text:secret", "--no-history"])

    assert (single.exit_code, load.exit_code, unkept.exit_code) == (0, 0, 0), single.output
    newest, first = History().load()
    assert first.spec == RequestSpec(echo.endpoint, ("text:hi", f"@{tmp_path / 'body.bin'}"))
    assert first.ok and first.reply == "text:hi │ hex:0001" and first.latency_ms is not None
    assert (first.count, first.concurrency) == (1, 1)
    assert newest.spec.frames == ("text:x",) and newest.spec.socket == "DEALER"
    assert (newest.count, newest.concurrency) == (4, 2)
    assert newest.reply == "4/4 answered, " + newest.reply.split(", ")[1]


def test_a_saved_requests_send_is_kept_with_its_name_and_environment(echo, tmp_path):
    root = saved_collection(tmp_path / "requests", echo.endpoint)
    result = CliRunner().invoke(send_command, ["--collection", str(root), "greet"])
    assert result.exit_code == 0, result.output
    (kept,) = History().load()
    assert kept.spec == RequestSpec(
        echo.endpoint, ('json:{"id": "r7"}', "text:hi"), "DEALER", name="greet"
    )
    assert kept.environment == "local"


def test_a_send_that_got_no_reply_is_kept_with_why(tcp_endpoint):
    result = CliRunner().invoke(
        send_command, [tcp_endpoint(), "text:x", "--timeout-ms", "50", "--tries", "1"]
    )
    assert result.exit_code == 3
    (kept,) = History().load()
    assert kept.error == "no reply after 1 try" and kept.spec.timeout_ms == 50


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--collection", "c", "greet", "text:x"], "give only the saved request's NAME"),
        (["tcp://127.0.0.1:1"], "at least one FRAME"),
        (["--env", "dev", "tcp://127.0.0.1:1", "x"], "use it with --collection"),
    ],
)
def test_collection_usage_errors(arguments, error):
    result = CliRunner().invoke(send_command, arguments)
    assert result.exit_code == 2
    assert error in result.output
