"""The documents hold: README.md, CHANGELOG.md and docs/*.md link only to what exists in
this repository (files, and `#anchors` as GitHub slugs the headings), every page has a
table of contents listing its sections, and every shell example either runs in a test
(`<!-- tested: tests/FILE -->` before it, and that test reads the page) or says why it
cannot (`<!-- illustrative: REASON -->`). The examples tested here are run below."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS]
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!\!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")
MARKER = re.compile(r"^<!-- (tested|illustrative): (.+?) -->$")


def _prose(text: str, keep_code_spans: bool = False) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks (examples write files of their own),
    inline code spans removed unless kept."""
    out, fence = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fence = not fence
            continue
        if not fence:
            out.append((number, line if keep_code_spans else re.sub(r"`[^`]*`", "``", line)))
    return out


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces as `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in _headings(page.read_text()):
        slug = github_slug(line)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def _headings(text: str) -> list[tuple[int, str]]:
    out, fence = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6} (.+?)\s*$", line)):
            out.append((number, m.group(1)))
    return out


def _links(page: Path) -> list[tuple[int, str]]:
    text = page.read_text()
    out, fence = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fence = not fence
        elif not fence:
            out += [(number, m.group(1)) for m in LINK.finditer(re.sub(r"`[^`]*`", "``", line))]
    return out


def broken_links(page: Path) -> list[str]:
    problems = []
    for number, target in _links(page):
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: — not a file of ours
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{where}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            problems.append(f"{where}: no heading with that anchor")
    return problems


def shell_blocks(page: Path) -> list[tuple[int, str | None, str | None, str]]:
    """(line, marker kind, marker text, code) of every ```sh block."""
    lines = page.read_text().splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i] in ("```sh", "```bash", "```shell", "```console"):
            start, j = i, i + 1
            while lines[j] != "```":
                j += 1
            marker = MARKER.match(lines[start - 1]) if start else None
            out.append((start + 1, marker.group(1) if marker else None, marker.group(2) if marker else None,
                        "\n".join(lines[start + 1:j]) + "\n"))
            i = j
        i += 1
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page: Path):
    assert broken_links(page) == []


def test_the_link_check_catches_a_missing_file_a_missing_anchor_and_a_way_out(tmp_path: Path, monkeypatch):
    # The nearest wrong neighbours of a good link: one letter off in the file, in the anchor, a `..` too many.
    import test_docs
    monkeypatch.setattr(test_docs, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## The `spec` (reference)\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "docs" / "a.md"
    page.write_text("[ok](b.md#the-spec-reference) [ok2](b.md#twice-1) [ok3](#a) [web](https://x.example/y)\n"
                    "# A\n"
                    "[f](c.md) [x](b.md#the-spec-referencex) [t](b.md#twice-2) [up](../../etc/passwd)\n"
                    "`[code](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n")
    problems = broken_links(page)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "c.md: no such file", "b.md#the-spec-referencex: no heading with that anchor",
        "b.md#twice-2: no heading with that anchor", "../../etc/passwd: outside the repository"]


def test_no_document_names_a_markdown_file_that_is_not_in_the_repository():
    # DESIGN.md was cited for years and never committed; a file named in prose or code spans must exist.
    missing = []
    for page in PAGES:
        for number, line in _prose(page.read_text(), keep_code_spans=True):
            for name in re.findall(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w.-]+\.md)\b", line):
                if not ((ROOT / name).exists() or (page.parent / name).exists()):
                    missing.append(f"{page.relative_to(ROOT)}:{number}: {name}")
    assert missing == []


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_page_has_a_table_of_contents_listing_its_sections(page: Path):
    text = page.read_text()
    sections = [(n, h) for n, h in _headings(text) if text.splitlines()[n - 1].startswith("## ")]
    assert sections, "a page without sections"
    toc_end = sections[0][0]
    toc = {target[1:] for number, target in _links(page) if number < toc_end and target.startswith("#")}
    assert {github_slug(h) for _, h in sections} <= toc


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shell_example_is_tested_or_says_why_not(page: Path):
    for line, kind, text, _ in shell_blocks(page):
        where = f"{page.relative_to(ROOT)}:{line}"
        assert kind, f"{where}: mark the block <!-- tested: tests/FILE --> or <!-- illustrative: REASON -->"
        if kind == "tested":
            test_file = ROOT / text.split()[0]
            assert test_file.is_file(), f"{where}: {text}"
            assert str(page.relative_to(ROOT)) in test_file.read_text(), f"{where}: {test_file.name} never reads it"
        else:
            assert len(text.split()) >= 3, f"{where}: give the reason"


def _block(page: str, after: str) -> str:
    lines = (ROOT / page).read_text().splitlines()
    for line, kind, _, code in shell_blocks(ROOT / page):
        if kind == "tested" and any(after in text for text in lines[max(0, line - 5):line - 1]):
            return code
    raise AssertionError(f"no tested block after {after!r} in {page}")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, capture_output=True, text=True, env=env)


def test_docs_delivery_md_coreutils_recipes_give_what_mlspec_digest_prints(tmp_path: Path):
    code = _block("docs/delivery.md", "Anyone can recompute it with coreutils:")
    (tmp_path / "model.joblib").write_bytes(b"weights\n")
    tree = tmp_path / "model-dir"
    (tree / "sub").mkdir(parents=True)
    (tree / "config.json").write_text("{}\n")
    (tree / "sub" / "w b.bin").write_bytes(b"\x00\x01")
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    file_line, dir_line = done.stdout.splitlines()
    digest = subprocess.run([str(Path(sys.executable).parent / "mlspec"), "digest", "model.joblib", "model-dir"],
                            cwd=tmp_path, capture_output=True, text=True, check=True).stdout.splitlines()
    assert file_line.split()[0] == digest[0].split()[0].removeprefix("sha256:")
    assert dir_line.split()[0] == digest[1].split()[0].removeprefix("sha256:")
    assert file_line.split()[0] != dir_line.split()[0]


def test_docs_spec_md_schema_command_regenerates_the_committed_schema(tmp_path: Path):
    code = _block("docs/spec.md", "it drifts. Regenerate it with:")
    (tmp_path / "schemas").mkdir()
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "schemas" / "mlspec.schema.json").read_text() == (ROOT / "schemas" / "mlspec.schema.json").read_text()


def _mutation_modules(text: str) -> set[str]:
    """The modules docs/mutation.md's *What runs* names (the sentence `The modules: ...`)."""
    found = re.search(r"The modules: (.*?)\.\n\n", text, re.DOTALL)
    assert found, "docs/mutation.md: no `The modules: ...` sentence"
    names = re.sub(r"\([^)]*\)|issue 28's|and ", "", found.group(1).replace("\n", " "))
    return {name.strip() for name in names.split(",") if name.strip()}


def test_the_mutation_page_names_the_modules_the_script_mutates():
    # scripts/mutation.py's MODULES is the one list of modules and their tests; the page names them
    # (it once copied the test sets too, and the copy drifted). A module added to one place only fails.
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import mutation
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    page = (ROOT / "docs" / "mutation.md").read_text()
    assert _mutation_modules(page) == set(mutation.MODULES)
    assert _mutation_modules(page.replace("mlflow_source.", "mlflow_source, traffics.")) != set(mutation.MODULES)
    for name in mutation.MODULES:  # each names exactly one file, and each of its tests exists
        assert (ROOT / mutation.module_path(name)).is_file()
        assert all((ROOT / test).is_file() for test in mutation.MODULES[name]), name
