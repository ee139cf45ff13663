"""Where a model lives in the GitOps repository: the platform file's `layout`.

`flat` (the default, and the only layout before the platform file had one): a model
is known by its name, its manifests are `OUT/<env>/<name>/` and its ledger
`OUT/_ledger/<name>.yaml`, so model names are unique in a repository.

`namespaced`: a model is known by `NAMESPACE/NAME` (its `metadata.namespace`), its
manifests are `OUT/<env>/<namespace>/<name>/` (the namespace its objects land in
there, an environment's own when it sets one) and its ledger
`OUT/_ledger/<namespace>/<name>.yaml`. Two teams can then both have a model `fraud`.

The *key* (`fraud` or `risk/fraud`) is what every command addresses a model by and
what names its ledger; it is made and read only here.
"""

from __future__ import annotations

import re

# A DNS-1123 label; the spec's field type (`mlspec.spec.fields.DnsLabel`) is built on it.
DNS_LABEL_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

FLAT = "flat"
NAMESPACED = "namespaced"
LAYOUTS = (FLAT, NAMESPACED)

_DNS_LABEL = re.compile(DNS_LABEL_RE)


def key(name: str, namespace: str | None) -> str:
    """The model's key: `name`, or `namespace/name` in the namespaced layout."""
    return f"{namespace}/{name}" if namespace else name


def split(model_key: str) -> tuple[str | None, str]:
    """`(namespace, name)` of a key; the namespace is None in the flat layout."""
    namespace, _, name = model_key.rpartition("/")
    return namespace or None, name


def of_key(model_key: str) -> str:
    """The layout a key belongs to."""
    return NAMESPACED if "/" in model_key else FLAT


def directory(env: str, name: str, namespace: str | None) -> str:
    """An environment's output directory, relative to OUT."""
    return f"{env}/{namespace}/{name}" if namespace else f"{env}/{name}"


def is_label(text: str) -> bool:
    """Whether `text` is a DNS-1123 label (what a model name and a namespace are)."""
    return len(text) <= 63 and _DNS_LABEL.fullmatch(text) is not None


def valid_key(text: str) -> bool:
    """Whether `text` is NAME or NAMESPACE/NAME (DNS-1123 labels): safe to become a path."""
    parts = text.split("/")
    return len(parts) <= 2 and all(is_label(p) for p in parts)
