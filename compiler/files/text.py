"""The one escaping rule for text a user controls on its way out of mlspec.

Every user-derived string (a file name, a key, a value, a message quoting them)
passes exactly one of these at the boundary where it is written:

- `comment_safe`: into a YAML comment (the header above every document);
- `log_safe`: into a line of text output (diagnostics, `diff --format text`);
- `github_data` / `github_property`: into a GitHub Actions workflow command;
- `markdown_code`: into markdown, always as a code span (`diff --format markdown`);
- `kubelet_literal`: into a container's `command`, `args` or `env` value, which the
  kubelet expands (`$(NAME)` -> a variable's value, `$$` -> `$`).

The escapes are for reading, not for decoding back: what matters is that the text
stays on its line and cannot become YAML, a terminal escape, a workflow command,
an image, a link, a mention or HTML; `kubelet_literal` is exact: the container sees
the value as written. (Other manifest values are not escaped here: they
are data, and `emit` encodes them as YAML scalars.)
"""

from __future__ import annotations

import re

# Characters no output line may carry raw: C0 controls (newline, CR, tab, ESC, BEL, ...),
# DEL and C1 controls (U+0085 NEL is a YAML 1.1 line break), the Unicode line and
# paragraph separators (line breaks to YAML 1.1 and to JavaScript), bidirectional
# overrides (they reorder what a reader sees), the byte-order mark, the
# non-characters U+FFFE/U+FFFF (YAML readers reject them) and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
                     "\ufeff\ufffe\uffff\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# GitHub's runner reads a workflow command from any line that starts, after blanks,
# with `::` (and the older `##[`).
_COMMAND_START = re.compile(r"^(\s*)(:(?=:)|#(?=#\[))")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """`text` with every character that could end a line, or that a reader rejects, as an escape."""
    return _UNSAFE.sub(_escape, text)


def comment_safe(text: str) -> str:
    """Text that stays inside one YAML comment line (no line break of YAML 1.1 or 1.2)."""
    return one_line(text)


def log_safe(text: str) -> str:
    """Text for one line of terminal or CI-log output: one line, no terminal escapes,
    and no workflow command even when it starts the line."""
    return _COMMAND_START.sub(lambda m: m.group(1) + ("\\x3a" if m.group(2) == ":" else "\\x23"), one_line(text), count=1)


def github_data(text: str) -> str:
    """The message of a GitHub Actions workflow command (`::error ...::MESSAGE`)."""
    return one_line(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A property value of a workflow command (`file=VALUE`): also `:` and `,` escaped."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


# Markdown: a user's text is only ever shown as a code span, whose content markdown
# does not interpret (no emphasis, links, images, HTML or mentions). The fence is one
# backtick longer than the longest run inside, and padded with a space when the text
# starts or ends with a backtick or a blank (which a code span would strip).
_BACKTICKS = re.compile("`+")
# A pipe ends a table cell even inside a code span unless escaped; an odd number of
# backslashes before it keeps it escaped under both readings cmark-gfm has had
# (`\\` as an escaped backslash, or every `\|` as an escaped pipe).
_PIPE = re.compile(r"(\\*)\|")


def markdown_code(text: str, table: bool = False) -> str:
    """`text` as one inline code span, safe in a paragraph, a blockquote or (with `table`) a table cell."""
    body = one_line(text)
    if table:
        body = _PIPE.sub(lambda m: m.group(1) + ("\\" if len(m.group(1)) % 2 else "") + "\\|", body)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    if not body or body[0] in "` " or body[-1] in "` ":
        body = f" {body} "
    return f"{fence}{body}{fence}"


# The kubelet's expansion reads `$$` as `$` and `$(NAME)` as a variable; any other `$`
# stays. Doubling each `$` that starts either makes the expansion give the text back.
_EXPANDED = re.compile(r"\$(?=[$(])")


def kubelet_literal(text: str) -> str:
    """`text` for a container's command, args or env value: the kubelet's `$(VAR)` expansion yields it unchanged."""
    return _EXPANDED.sub("$$", text) if "$" in text else text
