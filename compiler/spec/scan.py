"""Stage 2a: text no manifest may carry, in any key or value of a spec.

Credentials (a spec is committed to Git and its values reach pods, logs and pull-request
comments), characters Kubernetes tooling cannot carry, and `{{ }}`, which Argo Rollouts
reads as a template tag. Every string is searched once for all patterns together; only
what matches is looked at again to name it. `check.validate` runs this before the models.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from typing import Any, Callable, Iterator

from mlspec.files.errors import Diagnostic
from mlspec.files.loader import Document, Path, diagnostic
from mlspec.files.loader import dotted as _dotted

# The arguments mlspec passes to online analysis queries (`{{args.NAME}}`).
ONLINE_ARGS = ("service-name", "namespace", "canary-hash", "model-version")

# The last word of an option that takes a credential: `--db-pass`, `--api-key`, `--token`.
_OPTION_WORDS = r"(?:[a-z0-9]+[-_])*(?:password|passwd|pass|pwd|token|secret|api[-_]?key|access[-_]?key)"
# Each pattern names what it found; some carry a second look that keeps look-alikes out.
_SECRETS: list[tuple[re.Pattern[str], str, Callable[[str], bool] | None]] = [
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id", None),
    (re.compile(r"(?i)\baws_?secret_?access_?key\b[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
     "an AWS secret access key", None),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key", None),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token", None),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"), "a GitHub token", None),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), "a GitLab token", None),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), "a Slack token", None),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key", None),
    (re.compile(r"\bsk-(proj-)?[A-Za-z0-9_-]{20,}\b"), "an API secret key", None),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), "a Hugging Face token", None),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"), "a JSON Web Token", None),
    # Schemes in any case (`HTTPS://`), spelled out: IGNORECASE makes every position slower.
    (re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with an embedded password", None),
    # A user name alone is common (`ssh://git@host`); a long one with digits is a token.
    # (`oci://repo@sha256:…` is a digest reference, not a user.)
    (re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?=[^/\s:@]*[0-9])[^/\s:@]{20,}@(?!sha(256|512):)"),
     "a URL with an embedded token", None),
    (re.compile(r"(?i)\b(AccountKey|SharedAccessSignature|sig)=[A-Za-z0-9%+/=]{20,}"), "an Azure storage key or SAS token", None),
    (re.compile(r"(?i)[?&](access_token|id_token|refresh_token|token|api_?key|x-amz-signature|x-amz-security-token|"
                r"x-goog-signature|x-goog-credential|signature|password)=[^&\s#]{8,}"),
     "a signed URL or a credential in a URL query", None),
    (re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"), "an HTTP Basic credential",
     lambda found: _basic_credential(found)),
    (re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)"), "an HTTP bearer token",
     lambda found: _high_entropy(found)),
    # `--db-pass=VALUE` or `--db-password VALUE` in one string (a shell command); a file
    # path or a `$(VAR)` reference is no credential.
    (re.compile(rf"(?i)(?:^|\s)--?{_OPTION_WORDS}(?:=[^\s$/]|\s+[^\s$/-])\S{{3,}}"),
     "a credential passed as a command-line argument", None),
    # A password written out inside a string: `password=hunter2` in a DSN, `"password":
    # "hunter2"` in JSON, `PGPASSWORD=hunter2 psql`. The name decides, as for a key.
    (re.compile(r"(?i)(?<![A-Za-z0-9_.-])([\"']?[A-Za-z0-9_.-]*(?:passw(?:or)?d|passphrase|pass|pwd|secret)[\"']?"
                r"[ \t]*[:=][ \t]*[\"']?[^\s\"'$/{}(),;&]{3,})"), "a password written out in a string",
     lambda found: _embedded_password(found)),
    # An Authorization header with any literal credential, however short.
    (re.compile(r"(?i)\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:bearer|basic|token|digest)[ \t]+[^\s\"'$]{3,}"),
     "an HTTP Authorization header credential", lambda found: "{{" not in found),
    # AWS's secret access key under a name that does not say so: 40 characters of base64,
    # random-looking (a commit is lower-case hex; paths and words repeat letters).
    # (Upper case is required up front: the commit every spec pins never reaches the second look.)
    (re.compile(r"(?<![A-Za-z0-9/+=])(?=[a-z0-9/+]{0,39}[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
     "an AWS secret access key", lambda found: _aws_secret_shape(found)),
]

# One search per string; the patterns above, in order, only name what matched.
_ANY_SECRET = re.compile("|".join(f"(?:{p.pattern})" for p, _, _ in _SECRETS).replace("(?:(?i)", "(?i:"))
# A key (or an env `name`) that names a credential, word by word: its value must not be one.
_SECRET_NAME = re.compile(r"(^|[^a-z])(secret|passw(or)?d|token|key|credentials?)($|[^a-z])")
# A name that says its value is a password or a secret (its last word: `DB_PASSWORD`,
# `PGPASSWORD`, `db_pass`, `clientSecret`; not `password_file`, `secretName`,
# `envFromSecret`): any literal value under it is one, however short (`hunter2`).
_PASSWORD_NAME = re.compile(r"(passw(or)?d|passphrase|_pass|_pwd|(?<!from)(^|_)secret)$")
# An option whose next argument is a credential: `["--password", "hunter2"]`.
_SECRET_OPTION = re.compile(rf"(?i)--?{_OPTION_WORDS}")
# Values that refer to a credential rather than hold one: `$(VAR)`, `${VAR}`, a file
# (`/var/run/secrets/...`, `./pw`, `~/.pgpass`), a secret manager's name for it.
_REFERENCE = re.compile(r"\$|\.{0,2}/|~/|[A-Za-z][A-Za-z0-9+.-]*://|arn:|file:|\{\{")


def _words(name: str) -> str:
    """`name` in snake case: `dbPassword`, `DB-PASSWORD` -> `db_password`."""
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())


@functools.lru_cache(maxsize=4096)
def _names_credential(name: str) -> bool:
    return bool(_SECRET_NAME.search(_words(name)))


@functools.lru_cache(maxsize=4096)
def _names_password(name: str) -> bool:
    return bool(_PASSWORD_NAME.search(_words(name)))


def _literal_secret(name: str, value: str) -> bool:
    """Whether `value`, found under `name`, is a credential written out: any value but a
    reference under a password's name, a random-looking one under another credential's."""
    if not value.strip() or _REFERENCE.match(value.strip()):
        return False
    return _names_password(name) or (_names_credential(name) and _high_entropy(value))


def _high_entropy(text: str, bits: float = 3.5) -> bool:
    """A random-looking token: long, one word, letters of both cases and digits, few repeats
    (hex digests and commits have no upper case; words and paths repeat letters)."""
    if len(text) < 20 or not re.fullmatch(r"[A-Za-z0-9+/=_.~-]+", text):
        return False
    if not (re.search("[a-z]", text) and re.search("[A-Z]", text) and re.search("[0-9]", text)):
        return False
    counts = [text.count(c) for c in set(text)]
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts)
    return entropy >= bits


def _aws_secret_shape(text: str) -> bool:
    """40 random characters of base64: more random than the 3.5 bits of other tokens, and
    at most 3 of `/` and `+` (a key has 1.25 on average; a path of 40 has more)."""
    return text.count("/") + text.count("+") <= 3 and _high_entropy(text, 4.2)


def _embedded_password(text: str) -> bool:
    """`NAME=VALUE` or `NAME: VALUE` found in a string: a password when NAME is a
    password's name (`db_password`, not `--bypass` or `secretName`)."""
    name, _, value = re.split(r"[ \t]*([:=])[ \t]*", text, maxsplit=1)
    return _names_password(name.strip("\"'-")) and not _REFERENCE.match(value.strip("\"'"))


def _basic_credential(text: str) -> bool:
    """`Basic <base64 of user:password>`, not the English word before a long one."""
    body = text.rstrip("=")  # padding missing or overdone: lenient decoders read both
    try:
        decoded = base64.b64decode(body + "=" * (-len(body) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


# Argo Rollouts substitutes `{{args.NAME}}` in AnalysisTemplates and fails an analysis on
# any other `{{ }}`: such text is refused everywhere but in queries' own arguments.
_ARGO_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
# Characters kustomize cannot carry even escaped: DEL and C1 controls (it re-emits them
# raw and then rejects them, U+0085 becomes a line break), the non-characters
# U+FFFE/U+FFFF, and lone surrogates (not Unicode text at all).
_UNCARRIED = re.compile("[\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def text_problems(doc: Document, root: Path = ()) -> Iterator[Diagnostic]:
    """Keys and values no manifest may carry: credentials (a spec is committed to Git),
    characters Kubernetes tooling cannot carry, and Argo Rollouts template tags (`root`:
    only the part of `doc` below that path, e.g. a platform file's runtimes)."""
    start: Any = doc.data
    for part in root:
        start = start.get(part) if isinstance(start, dict) else None
    stack: list[tuple[Path, Any]] = [(root, start)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            named = node.get("name") if isinstance(node.get("value"), str) else None
            # `{key, operator, values}` (a label selector's requirement, a toleration): `key`
            # holds a label's name, which says nothing of a credential.
            requirement = "operator" in node
            for k, v in node.items():
                if isinstance(k, str):
                    if _suspect_key(k):
                        yield from _string_problems(doc, path + (k,), k, key=True)
                    name = named if k == "value" and isinstance(named, str) else k
                    if isinstance(v, str) and not (requirement and k == "key") and _literal_secret(name, v):
                        yield _secret(doc, path + (k,), f"a secret value (`{name}` names a credential)")
                        continue  # said once: its shape would name the same credential again
                stack.append((path + (k,), v))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                previous = node[i - 1] if i else None
                if (isinstance(v, str) and isinstance(previous, str) and _SECRET_OPTION.fullmatch(previous)
                        and v and not v.startswith("-") and not _REFERENCE.match(v)):
                    yield _secret(doc, path + (i,), f"a credential (the value of `{previous}`)")
                stack.append((path + (i,), v))
        elif isinstance(node, str):
            yield from _string_problems(doc, path, node, key=False)


@functools.lru_cache(maxsize=4096)
def _suspect_key(key: str) -> bool:
    # Keys are mostly the spec's own field names, the same in every spec: searched once each.
    return bool(_ANY_SECRET.search(key) or _UNCARRIED.search(key) or "{{" in key)


def _secret(doc: Document, path: Path, what: str, key: bool = False) -> Diagnostic:
    # A key is not repeated: the message would print the credential into CI logs.
    where = f"a key in `{_dotted(path[:-1])}`" if key else f"`{_dotted(path)}`"
    return diagnostic(doc, path, f"{where} looks like {what}; never commit credentials: "
                      "store it in a Kubernetes Secret and reference it (`secretKeyRef`)", rule="credential-in-spec", key=key)


def _string_problems(doc: Document, path: Path, text: str, key: bool) -> Iterator[Diagnostic]:
    if not (_ANY_SECRET.search(text) or _UNCARRIED.search(text) or "{{" in text):  # the common case
        return
    where = f"the key `{_dotted(path)}`" if key else f"`{_dotted(path)}`"
    if _ANY_SECRET.search(text):
        for pattern, what, confirm in _SECRETS:
            if any(confirm is None or confirm(m.group(m.lastindex or 0)) for m in pattern.finditer(text)):
                yield _secret(doc, path, what, key=key)
                break
    uncarried = _UNCARRIED.search(text)
    if uncarried:
        yield diagnostic(doc, path, f"{where} holds U+{ord(uncarried.group()):04X}, which Kubernetes tooling "
                         "cannot carry (kustomize rejects or rewrites it); remove it", rule="uncarried-character", key=key)
    if "{{" in text:
        yield from _template_problems(doc, path, text, key, where)


def _template_problems(doc: Document, path: Path, text: str, key: bool, where: str) -> Iterator[Diagnostic]:
    is_query = not key and len(path) >= 4 and path[-4:-2] == ("analysis", "metrics") and path[-1] == "query"
    if is_query:
        for arg in _ARGO_ARG.findall(text):
            if arg not in ONLINE_ARGS:
                yield diagnostic(doc, path, f"query references `{{{{args.{arg}}}}}`, which mlspec does not pass; "
                                 f"available: {', '.join(ONLINE_ARGS)}", rule="unknown-query-arg", key=False)
        if "{{" not in _ARGO_ARG.sub("", text):
            return
    allowed = " other than a query's `{{args.NAME}}`" if is_query else ""
    yield diagnostic(doc, path, f"{where} holds `{{{{`{allowed}: Argo Rollouts reads `{{{{ }}}}` as a template "
                     "tag and fails every analysis on one it cannot resolve; remove it", rule="argo-template",
                     key=key)
