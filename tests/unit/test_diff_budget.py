"""A PR comment that fits: `diff --format markdown` is at most 60,000 characters for any
input, the ML summaries come first and are never cut, hunks are cut last with a note
and the command that shows everything. Every shape is rendered with cmark-gfm
(GitHub's renderer) and the HTML checked: tables intact, no stray HTML, the note there."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from click.testing import CliRunner
from cmarkgfm.cmark import Options

from mlspec.cli.main import main
from mlspec.records import diffmarkdown
from mlspec.records.diff import Change, SpecDiff, ThresholdChange
from mlspec.records.diffmarkdown import LIMIT, MARKER

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import diff_sizes  # noqa: E402


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.closed: list[str] = []
        self.tables: list[list[int]] = []  # cells per row, per table

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append(0)
        if tag in ("td", "th"):
            self.tables[-1][-1] += 1

    def handle_endtag(self, tag: str) -> None:
        self.closed.append(tag)


def _rendered(markdown: str) -> _Html:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parsed = _Html()
    parsed.feed(html)
    assert "img" not in parsed.tags and "a" not in parsed.tags and "script" not in parsed.tags
    assert parsed.tags.count("details") == parsed.closed.count("details")
    assert all(len(set(rows)) == 1 for rows in parsed.tables), parsed.tables  # every row as wide as its header
    return parsed


def _run_shape(tmp_path: Path, name: str) -> tuple[str, list[str]]:
    base, head = diff_sizes.shapes()[name]
    repo = tmp_path / "repo"
    diff_sizes.make_repo(repo, base, head)
    specs = sorted(f"models/{n}" for n in head)
    old = Path.cwd()
    import os

    os.chdir(repo)
    try:
        result = CliRunner().invoke(main, ["diff", *specs, "--base", "HEAD", "--format", "markdown"])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return result.stdout, specs


@pytest.mark.parametrize("shape", ["release-3env", "pr-20-specs", "every-object", "envs-64"])
def test_every_measured_shape_fits_and_renders(tmp_path, shape):
    markdown, specs = _run_shape(tmp_path, shape)
    assert len(markdown) <= LIMIT
    assert markdown.startswith(MARKER + "\n")
    parsed = _rendered(markdown)
    assert parsed.tables  # the summaries' tables survived
    first_hunk = markdown.find("<details>")
    headings = [m.start() for m in re.finditer(r"^### ", markdown, re.MULTILINE)]
    assert len(headings) == len(specs) and (first_hunk == -1 or max(headings) < first_hunk)  # summaries first
    total = len(re.findall(r"^\*\*`[^`]+\.yaml`\*\*$", markdown, re.MULTILINE))
    note = re.search(r"Cut to fit a pull-request comment \(60,000 characters\): (\d+) of (\d+) manifest file", markdown)
    if note:  # what was cut is counted, and the command shows it all
        assert int(note.group(2)) - int(note.group(1)) == total
        assert f"`mlspec diff {' '.join(specs)} --base HEAD`" in markdown
    else:
        assert "Cut to fit" not in markdown


def test_sixty_four_environments_keep_every_environment_in_the_summary(tmp_path):
    markdown, _ = _run_shape(tmp_path, "envs-64")
    summary = markdown[:markdown.find("<details>")] if "<details>" in markdown else markdown
    envs = ["prod", "staging", *(f"env-{n:02d}" for n in range(62))]
    assert all(re.search(rf"\b{env}\b", summary) for env in envs)
    assert "Cut to fit" in markdown and len(markdown) <= LIMIT  # 64 environments of hunks cannot all fit


def _synthetic(i: int, hunk: str = "", files: int = 0) -> SpecDiff:
    name = f"model-{i:05d}-" + "x" * 40
    changes = [Change("model version", "1.0.0", f"1.0.{i}"), Change("artifact digest", "sha256:" + "a" * 64,
                                                                     "sha256:" + "b" * 64)]
    thresholds = [ThresholdChange("auc", "min", 0.9, 0.85, "loosened")]
    manifests = {f"prod/{name}/file-{n}.yaml": hunk for n in range(files)}
    return SpecDiff(name, changes, thresholds, manifests, stamped=[f"prod/{name}/service.yaml"],
                    stamp_line="1 object: release stamps only (1.0.0 -> 1.0.1)", source=f"models/{name}.yaml")


def test_when_summaries_cannot_fit_they_are_compacted_then_the_list_ends_and_it_says_so():
    few = [_synthetic(i) for i in range(150)]
    compacted = diffmarkdown.document(few, "mlspec diff models/ --base origin/main")
    assert len(compacted) <= LIMIT and "summaries compacted to one line per spec" in compacted
    assert all(f"`{d.name}`" in compacted for d in few)  # one line each, none lost
    assert "⚠️" in compacted  # a loosened gate still stands out
    many = [_synthetic(i) for i in range(5_000)]
    ended = diffmarkdown.document(many, "mlspec diff models/ --base origin/main")
    assert len(ended) <= LIMIT and "and the list ended" in ended
    shown = len(re.findall(r"^- ⚠️ `model-", ended, re.MULTILINE))
    assert f"- … and {len(many) - shown} more spec(s)" in ended
    _rendered(ended)
    # the neighbour: specs that fit keep their full summary (tables, not one line each)
    full = diffmarkdown.document(few[:3], "mlspec diff models/ --base origin/main")
    assert "compacted" not in full and full.count("| model version |") == 3


def test_huge_and_binary_looking_hunks_stay_bounded_and_fenced():
    line = "+    blob: " + "Q" * 200_000
    hostile = "+ `````` </details> <img src=x> \x00\x1b[31m\u202e @octocat"
    hunk = f"--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n{line}\n{hostile}\n"
    d = _synthetic(1, hunk, files=3)
    markdown = diffmarkdown.document([d], "mlspec diff models/a.yaml --base HEAD")
    assert len(markdown) <= LIMIT
    assert f"… ({len(line) - diffmarkdown.LONG_LINE} more characters)" in markdown
    assert "\u202e" not in markdown and "\x00" not in markdown and "\\u202e" in markdown
    parsed = _rendered(markdown)
    assert parsed.tags.count("pre") == len(re.findall(r"^`{3,}diff$", markdown, re.MULTILINE)) == 3
    # the neighbour: two hunks of 35,000 characters: the first fits, the second is cut, with the note
    big = _synthetic(2, "+" + "\n+".join("y" * 349 for _ in range(100)) + "\n", files=2)
    cut = diffmarkdown.document([big], "mlspec diff models/b.yaml --base HEAD")
    assert len(cut) <= LIMIT and "1 of 2 manifest file(s) not shown" in cut
    assert "`mlspec diff models/b.yaml --base HEAD`" in cut


@pytest.mark.parametrize("limit", [4_000, 12_345, LIMIT])
def test_the_limit_holds_at_any_size_of_the_budget(limit):
    diffs = [_synthetic(i, "+" + "z" * 300 + "\n", files=40) for i in range(30)]
    assert len(diffmarkdown.document(diffs, "mlspec diff models/ --base HEAD", limit)) <= limit
