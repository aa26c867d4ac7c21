"""How the composer shows a reply (a file, or any message's frames decoded), an error and a load
summary, as Rich renderables.

Everything that came over the wire is shown as `Text` (never parsed as markup) with control
characters made visible, so a payload cannot style the screen or talk to the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text

from zmqtui.decoders import AUTO, Decoded, decode_frame, detail_lines, hex_dump
from zmqtui.decoders.render import HEX_LINE_BYTES
from zmqtui.format import plural
from zmqtui.protocol import ErrorReply, FileReply
from zmqtui.results import error_code, reply_json, reply_pid
from zmqtui.text import MULTI_LINE, printable

if TYPE_CHECKING:
    from zmqtui.results import LoadFigures, LoadSummary, RequestResult, SendResult, SendSummary

MAX_SHOWN_LINES = 500
MAX_SHOWN_CHARS = 64 * 1024
"""Highlighting runs on the UI thread: a 1 MiB file is shown in part, and says so."""

RAW_PREVIEW_BYTES = 400
PID_BAR_WIDTH = 24


def lexer_for(path: str) -> str:
    """The Pygments lexer for a path's file name ("text" when unknown)."""
    lexer = Syntax.guess_lexer(path)
    return "text" if lexer == "default" else lexer


@dataclass(frozen=True, slots=True)
class Palette:
    """Styles taken from the pane's CSS, so themes apply."""

    ok: Style
    error: Style
    label: Style
    value: Style
    dark: bool = True


def _facts(palette: Palette, *pairs: tuple[str, str]) -> Text:
    text = Text()
    for label, value in pairs:
        if text:
            text.append("  ")
        text.append(f"{label} ", palette.label)
        text.append(value, palette.value)
    return text


def _tries(tries: int) -> str:
    return plural(tries, "try", "tries")


def render_result(result: RequestResult, palette: Palette) -> list[RenderableType]:
    """A reply with its content highlighted, or the error as what it is."""
    reply = result.reply
    path = printable(result.path)
    if isinstance(reply, FileReply):
        content = reply.content
        lines = content.splitlines()
        head = "\n".join(lines[:MAX_SHOWN_LINES])
        shown = head[:MAX_SHOWN_CHARS]
        cut = len(lines) > MAX_SHOWN_LINES or len(head) > MAX_SHOWN_CHARS
        lexer = lexer_for(result.path)
        out: list[RenderableType] = [
            Text.assemble(("✔ ", palette.ok), (path, palette.value)),
            _facts(
                palette,
                ("pid", str(reply.pid)),
                ("latency", f"{result.latency_ms:.1f} ms"),
                ("tries", str(result.tries)),
                ("size", plural(len(content), "char")),
                ("as", lexer),
            ),
        ]
        if cut:
            out.append(
                Text(
                    f"showing the start: {shown.count(chr(10)) + 1:,} of {len(lines):,} lines",
                    palette.label,
                )
            )
        out.append(Text())
        out.append(
            Syntax(
                printable(shown, keep=MULTI_LINE),
                lexer,
                theme="ansi_dark" if palette.dark else "ansi_light",
                line_numbers=True,
                word_wrap=True,
            )
        )
        return out
    if isinstance(reply, ErrorReply):
        return [
            Text.assemble(
                ("✖ ", palette.error),
                (printable(reply.code), palette.error + Style(bold=True)),
                "  ",
                printable(reply.message),
            ),
            _facts(
                palette,
                ("path", path),
                ("pid", str(reply.pid)),
                ("latency", f"{result.latency_ms:.1f} ms"),
                ("tries", str(result.tries)),
            ),
        ]
    out = [
        Text.assemble(
            ("✖ ", palette.error), (printable(result.error or "no reply"), palette.error)
        ),
        _facts(
            palette,
            ("path", path),
            ("waited", f"{result.latency_ms:.1f} ms"),
            ("tries", str(result.tries)),
        ),
    ]
    if result.raw:
        preview = result.raw[:RAW_PREVIEW_BYTES].decode("utf-8", "backslashreplace")
        out += [
            Text(),
            Text("what arrived:", palette.label),
            Text(printable(preview, keep=MULTI_LINE)),
        ]
    return out


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def render_summary(summary: LoadSummary, palette: Palette) -> list[RenderableType]:
    """Counts, rate, latency percentiles, errors by code and answers per worker pid."""
    errors = sum(summary.errors_by_code.values())
    failed = errors + summary.unavailable + summary.malformed
    return [
        _load_head(bool(failed), summary.count, printable(summary.path), summary, palette),
        *_load_figures(
            summary, palette, ("replies", summary.replies), ("malformed", summary.malformed)
        ),
    ]


def _load_head(failed: bool, count: int, what: str, figures: LoadFigures, palette: Palette) -> Text:
    return Text.assemble(
        ("✖ " if failed else "✔ ", palette.error if failed else palette.ok),
        (f"{count:,} × ", palette.value),  # noqa: RUF001
        (what, palette.value),
        (f", {figures.concurrency} at a time", palette.label),
    )


def _load_figures(
    figures: LoadFigures, palette: Palette, *counts: tuple[str, int]
) -> list[RenderableType]:
    """What any load run saw, `counts` first among the outcomes."""
    errors = sum(figures.errors_by_code.values())
    out: list[RenderableType] = [
        _facts(
            palette,
            ("answered", f"{figures.answered:,}"),
            ("in", f"{figures.elapsed_s:.2f} s"),
            ("rate", f"{figures.rate:,.1f} req/s"),
        ),
        _facts(
            palette,
            *((label, f"{value:,}") for label, value in counts[:1]),
            ("errors", f"{errors:,}"),
            ("unavailable", f"{figures.unavailable:,}"),
            *((label, f"{value:,}") for label, value in counts[1:]),
            ("retries", f"{figures.retries:,}"),
            ("not sent", f"{figures.not_sent:,}"),
        ),
    ]
    latency = Text("latency ms  ", palette.label)
    latency.append_text(
        _facts(
            palette,
            ("p50", _ms(figures.percentile(50))),
            ("p90", _ms(figures.percentile(90))),
            ("p99", _ms(figures.percentile(99))),
            ("max", _ms(max(figures.latencies_ms, default=None))),
        )
    )
    out.append(latency)
    if figures.handshake_failure:
        out.append(Text(printable(figures.handshake_failure), palette.error))
    if figures.errors_by_code:
        out += [Text(), Text("errors by code", palette.label)]
        for code, count in figures.errors_by_code.most_common():
            out.append(Text.assemble("  ", (printable(code), palette.error), f"  {count:,}"))
    if figures.replies_by_pid:
        out += [Text(), Text("answers by pid", palette.label)]
        top = max(figures.replies_by_pid.values())
        width = max(len(str(pid)) for pid in figures.replies_by_pid)
        for pid, count in sorted(figures.replies_by_pid.items()):
            bar = "█" * max(1, round(PID_BAR_WIDTH * count / top))
            out.append(
                Text.assemble(
                    f"  {pid:>{width}}  ", (bar.ljust(PID_BAR_WIDTH), palette.ok), f" {count:,}"
                )
            )
    return out


def render_send_result(
    result: SendResult, palette: Palette, decoder: str = AUTO
) -> list[RenderableType]:
    """A message's reply, each frame decoded (`decoder`, or for each frame the one that fits:
    JSON, msgpack, protobuf, text, hex), or why no reply came."""
    if result.reply is None:
        out: list[RenderableType] = [
            Text.assemble(("✖ ", palette.error), (_no_reply(result), palette.error)),
            _facts(
                palette, ("waited", f"{result.latency_ms:.1f} ms"), ("tries", str(result.tries))
            ),
        ]
        return out
    reply = result.reply
    code = error_code(reply)
    if code is None:
        head = Text.assemble(("✔ ", palette.ok), (plural(len(reply), "frame"), palette.value))
    else:
        message = (reply_json(reply) or {}).get("error", {}).get("message")
        head = Text.assemble(
            ("✖ ", palette.error), (printable(code), palette.error + Style(bold=True))
        )
        if isinstance(message, str):
            head.append("  " + printable(message))
    facts = [("latency", f"{result.latency_ms:.1f} ms"), ("tries", str(result.tries))]
    if (pid := reply_pid(reply)) is not None:
        facts.insert(0, ("pid", str(pid)))
    if decoder != AUTO:
        facts.append(("read as", decoder))
    out = [head, _facts(palette, *facts)]
    budget = MAX_SHOWN_LINES
    for number, frame in enumerate(reply, 1):
        decoded = decode_frame(frame, decoder)
        out += [
            Text(),
            Text.assemble(
                (f"frame {number} ", palette.label),
                (decoded.decoder, palette.value),
                (f"  {plural(len(frame), 'byte')}", palette.label),
            ),
        ]
        lines, note = _frame_lines(decoded, max(budget, 0))
        budget -= len(lines)
        out += [Text(line) for line in lines]
        if note:
            out.append(Text(note, palette.label))
    return out


def _frame_lines(decoded: Decoded, budget: int) -> tuple[list[str], str]:
    """At most `budget` lines of a reply's frame, and a note when that is not all of it. A frame
    larger than `MAX_SHOWN_CHARS` is shown in part without decoding it whole (an indented
    6 MiB JSON or a hex dump of it would hold up the screen for seconds): text and JSON as the
    text they start with, anything else as a dump of its first bytes."""
    frame = decoded.frame
    if len(frame) > MAX_SHOWN_CHARS and decoded.decoder in ("json", "text"):
        head = frame[:MAX_SHOWN_CHARS].decode("utf-8", "backslashreplace")
        lines = printable(head, keep=MULTI_LINE).splitlines()[:budget]
        return lines, f"showing the start of {len(frame):,} bytes, as text"
    if decoded.decoder == "hex" or len(frame) > MAX_SHOWN_CHARS:
        lines = hex_dump(frame[: budget * HEX_LINE_BYTES])
        total = -(-len(frame) // HEX_LINE_BYTES)
    else:
        every = detail_lines(decoded)
        lines, total = every[:budget], len(every)
    note = f"showing {len(lines):,} of {total:,} lines" if len(lines) < total else ""
    return lines, note


def _no_reply(result: SendResult) -> str:
    if result.handshake_failure:
        return printable(result.handshake_failure)
    return f"no reply after {_tries(result.tries)}"


def render_send_summary(summary: SendSummary, what: str, palette: Palette) -> list[RenderableType]:
    """A message sent many times (`what` names it): the same figures as a file request's."""
    failed = sum(summary.errors_by_code.values()) + summary.unavailable
    return [
        _load_head(bool(failed), summary.count, what, summary, palette),
        _facts(palette, ("over", summary.kind), ("frames", str(summary.frames))),
        *_load_figures(summary, palette),
    ]
