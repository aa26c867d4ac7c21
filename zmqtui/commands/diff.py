"""`zmqtui diff A B`: compare two recordings topic by topic; the exit status says if they differ."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from zmqtui.format import NO_VALUE, format_rate, plural
from zmqtui.recording import RecordingError
from zmqtui.recording_diff import RecordingDiff, RecordingSummary, TopicDiff, compare_recordings
from zmqtui.text import printable, printable_json

EXIT_EQUAL = 0
EXIT_DIFFERENT = 1
EXIT_BAD_INPUT = 2


@click.command()
@click.argument("a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object.")
def command(a: Path, b: Path, as_json: bool) -> None:
    """Compare the recordings A and B topic by topic.

    For each topic (per feed when the recordings have several): the messages in A and B, their
    rates, and the first message that differs (its index within the topic, from 0) with what
    differs in it. Recordings are equal when every topic holds the same messages, frames byte
    for byte, in the same order; rates never make them differ.

    \b
    Exit status:
      0  equal
      1  they differ
      2  A or B cannot be read, is not a recording or has a malformed line
    """
    try:
        diff = compare_recordings(a, b)
    except RecordingError as exc:
        click.echo(f"zmqtui diff: {printable(str(exc))}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(printable_json(diff_json(diff)) if as_json else "\n".join(diff_lines(diff)))
    sys.exit(EXIT_EQUAL if diff.equal else EXIT_DIFFERENT)


def diff_lines(diff: RecordingDiff) -> list[str]:
    """The comparison as a plain-text table, a recording per line first, a verdict last."""
    several_feeds = any(topic.feed for topic in diff.topics)
    header = ["topic", *(["feed"] if several_feeds else []), "A", "B", "A rate", "B rate"]
    rows = [
        [
            topic.topic_text,
            *([printable(topic.feed)] if several_feeds else []),
            f"{topic.a.count:,}",
            f"{topic.b.count:,}",
            format_rate(topic.a.rate),
            format_rate(topic.b.rate),
        ]
        for topic in diff.topics
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = range(len(header) - 4, len(header))

    def line(cells: list[str], last: str) -> str:
        padded = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join([*padded, last]).rstrip()

    lines = [_side_line("A", diff.a), _side_line("B", diff.b), ""]
    lines.append(line(header, "first difference"))
    lines.extend(line(row, _difference(t)) for row, t in zip(rows, diff.topics, strict=True))
    differing = sum(not topic.equal for topic in diff.topics)
    lines.append("")
    if differing:
        lines.append(f"{differing:,} of {plural(len(diff.topics), 'topic')} differ")
    else:
        lines.append(f"equal: {plural(len(diff.topics), 'topic')}, the same messages in each")
    return lines


def _side_line(label: str, side: RecordingSummary) -> str:
    return printable(
        f"{label}: {side.path}: {plural(side.messages, 'message')} over {side.span_s:.1f} s"
    )


def _difference(topic: TopicDiff) -> str:
    if topic.index is None:
        return NO_VALUE
    return f"#{topic.index:,}: {topic.difference}"


def diff_json(diff: RecordingDiff) -> dict[str, Any]:
    """The comparison as JSON can hold it (topics as text, invalid UTF-8 escaped)."""

    def side(summary: RecordingSummary) -> dict[str, Any]:
        return {"path": summary.path, "messages": summary.messages, "span_s": summary.span_s}

    return {
        "equal": diff.equal,
        "a": side(diff.a),
        "b": side(diff.b),
        "topics": [
            {
                "feed": topic.feed,
                "topic": None
                if topic.topic is None
                else topic.topic.decode("utf-8", "backslashreplace"),
                "a": {"messages": topic.a.count, "rate": topic.a.rate},
                "b": {"messages": topic.b.count, "rate": topic.b.rate},
                "equal": topic.equal,
                "first_difference": None
                if topic.index is None
                else {"index": topic.index, "description": topic.difference},
            }
            for topic in diff.topics
        ],
    }
