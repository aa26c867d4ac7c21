"""The manual: a short README whose links, and those of every docs page, lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS_PAGES = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, ROOT / "SECURITY.md", *DOCS_PAGES]

SETUP_COMMANDS = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/zmqtui",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest",
)
"""The README's first-screen commands; CI runs the second one (`.ci/run`)."""

README_MAX_LINES = 150
README_MAX_BYTES = 11 * 1024
"""The README holds what to run, the commands and the monitor's keys; the rest is in docs/."""
FIRST_SCREEN_LINES = 40

LINK_TARGET = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code removed: where links and headings live."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def heading_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` dropped, spaces to `-`."""
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every `#anchor` a link into `page` may use (duplicate headings get `-1`, `-2`, ...)."""
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6} (.+)", line)
        if fenced or not match:
            continue
        slug = heading_slug(match.group(1))
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file or `#anchor` does not exist."""
    broken = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK_TARGET.findall(line):
            if SCHEME.match(target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                broken.append(f"{target}: no such anchor")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_broken_file_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# A page: `zmqtui serve --root DIR`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Here\n\n```sh\n# not a heading\n```\n"
        "[ok](other.md#a-page-zmqtui-serve---root-dir) [ok](#here) [ok](https://example.com)\n"
        "[bad](missing.md) [bad](other.md#nope) [bad](#not-a-heading) `[code](missing.md)`\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nope: no such anchor",
        "#not-a-heading: no such anchor",
    ]


def test_the_readme_is_short_and_starts_with_the_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < README_MAX_LINES
    assert len(text.encode()) < README_MAX_BYTES
    first_screen = "\n".join(text.splitlines()[:FIRST_SCREEN_LINES])
    for setup in SETUP_COMMANDS:
        assert setup in first_screen.splitlines()


def test_the_readme_links_every_docs_page():
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for line in prose_lines(README.read_text(encoding="utf-8"))
        for target in LINK_TARGET.findall(line)
    }
    assert DOCS_PAGES
    assert [page for page in DOCS_PAGES if page not in linked] == []
