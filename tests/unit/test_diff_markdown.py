"""`mlspec diff --format markdown` is posted as a pull-request comment: rendered by
cmark-gfm (GitHub's own renderer), no spec value becomes an image, a link, HTML or a
mention, breaks out of its table cell, or closes the manifests' code fence."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
from click.testing import CliRunner
from cmarkgfm.cmark import Options

from mlspec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
# One printable line each (a record), carrying every markdown construct that could inject.
HOSTILE = ["x` ![x](https://evil.example/p.png) @octocat <img src=x onerror=alert(1)>",
           "a | b ``` `` ` [click](https://evil.example) </details> <details>",
           "a\\| ![y](https://evil.example/q.png) \\\\| @octocat"]


class _Html(HTMLParser):
    """Tags, and the text outside code (where GitHub links mentions and URLs)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.code_depth = 0
        self.outside_code: list[str] = []
        self.cells_per_row: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("code", "pre"):
            self.code_depth += 1
        if tag == "tr":
            self.cells_per_row.append(0)
        if tag in ("td", "th"):
            self.cells_per_row[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre"):
            self.code_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.code_depth:
            self.outside_code.append(data)


def _diff(tmp_path: Path) -> str:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(MINIMAL)
    hostile = MINIMAL.replace('data: {uri: gs://data/churn, version: "2026-11-01"}',
                              f"data: {{uri: gs://data/churn, version: '{HOSTILE[0]}'}}")
    hostile = hostile.replace('dataset: {uri: gs://data/churn-holdout, version: "2026-11-01"}',
                              f"dataset: {{uri: gs://data/churn-holdout, version: '{HOSTILE[1]}'}}")
    hostile = hostile.replace('version: "1.0.0"', 'version: "1.0.1"').replace(
        "  evaluation:\n", f"  evaluation:\n    baseline: '{HOSTILE[2]}'\n")
    new.write_text(hostile)
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_hostile_values_render_as_code_and_nothing_else(tmp_path):
    markdown = _diff(tmp_path)
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parsed = _Html()
    parsed.feed(html)
    assert "img" not in parsed.tags and "a" not in parsed.tags
    assert parsed.tags.count("details") == 1  # mlspec's own, around the manifests
    outside = "".join(parsed.outside_code)
    assert "@octocat" not in outside and "evil.example" not in outside and "onerror" not in outside
    # Every row kept its cells (3 in the table of changes, 5 in the rollout plan the
    # release brings): no pipe in a value split one.
    assert parsed.cells_per_row and set(parsed.cells_per_row) == {3, 5}
    # The values are all there, as code.
    assert all(len(value) <= 80 for value in HOSTILE)  # shown whole, not shortened


def test_manifest_diffs_stay_inside_their_fence(tmp_path):
    markdown = _diff(tmp_path)
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parsed = _Html()
    parsed.feed(html)
    # One <pre> per changed file (and per Mermaid chart), and the hostile text inside them only.
    changed = len(re.findall(r"^`{3,}diff$", markdown, re.MULTILINE))
    charts = len(re.findall(r"^```mermaid$", markdown, re.MULTILINE))
    assert changed >= 1 and parsed.tags.count("pre") == changed + charts


CELLS = ["a|b", "a\\|b", "a\\\\|b", "a\\\\\\|b", "|", "\\", "`", "``x``", " a ", "a`", "`a", "x\n|y"]


def test_a_code_span_in_a_table_cell_holds_any_text_and_keeps_its_row():
    from mlspec.files.text import markdown_code, one_line

    for value in CELLS:
        html = cmarkgfm.github_flavored_markdown_to_html(
            f"| h | h |\n|---|---|\n| {markdown_code(value, table=True)} | end |\n")
        parsed = _Html()
        parsed.feed(html)
        assert parsed.cells_per_row == [2, 2], (value, html)
        assert html.count("<code>") == 1 and "<td>end</td>" in html, (value, html)
        paragraph = cmarkgfm.github_flavored_markdown_to_html(markdown_code(value))
        code = paragraph.split("<code>", 1)[1].split("</code>", 1)[0]
        assert code == one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
            .replace('"', "&quot;"), (value, paragraph)
