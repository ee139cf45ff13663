"""`mlspec diff --platform`: which models and objects a platform file change changes.

Every spec is compiled twice, with the platform file as it is at a Git ref and as it
is in the working tree. Only objects whose behaviour changes are listed: release
stamps (the platform and spec digests among them, `stamps`) are left out of the
comparison, so what is listed is what the change does to the cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlspec.files.errors import MlspecError
from mlspec.pipeline import core
from mlspec.pipeline.core import Compiled
from mlspec.pipeline.resolve import Context
from mlspec.platform import platformfile
from mlspec.records import hunks


@dataclass
class PlatformDiff:
    base: str
    models: dict[str, list[str]] = field(default_factory=dict)  # model -> changed `<env>/<file>` (+ added/removed)
    failing: dict[str, str] = field(default_factory=dict)      # model -> first error with the new platform file


def compare(specs: list[tuple[str, bytes]], old: platformfile.Platform | None, new: platformfile.Platform | None,
            base: str, env: str | None = None) -> PlatformDiff:
    """Compile every `(source, text)` with `old` and with `new`; what differs, per model.
    A spec that did not compile with the old file counts as all added; one that does not
    compile with the new file is listed with its first error."""
    result = PlatformDiff(base)
    for source, text in specs:
        try:
            before: tuple[str, list[Compiled]] | None = _compile(text, source, env, old)
        except MlspecError:
            before = None
        try:
            name, items = _compile(text, source, env, new)
        except MlspecError as exc:
            result.failing[before[0] if before else source] = str(exc.diagnostics[0]) if exc.diagnostics else "invalid"
            continue
        changed = hunks.behaviour_paths(before[1] if before else [], items, source)
        if changed:
            result.models[name] = changed
    return result


def _compile(text: bytes, source: str, env: str | None,
             plat: platformfile.Platform | None) -> tuple[str, list[Compiled]]:
    compiled = core.compile_document(text, source, env, platformfile.with_platform(Context(), plat))
    if plat is None:
        return compiled.key, compiled.items
    # The lineage records the platform file's digest in its data too: a record of which
    # file built it, not behaviour, so it is compared as a stamp is.
    return compiled.key, [Compiled(item.release, {name: _unstamped(obj, plat.digest) for name, obj in item.objects.items()})
                          for item in compiled.items]


def _unstamped(data: Any, digest: str) -> Any:
    if isinstance(data, dict):
        return {key: _unstamped(value, digest) for key, value in data.items()}
    if isinstance(data, list):
        return [_unstamped(value, digest) for value in data]
    return data.replace(digest, "PLATFORM-DIGEST") if isinstance(data, str) else data


def render(d: PlatformDiff) -> str:
    lines = [f"platform change since {d.base}: {len(d.models)} model(s) change"
             + (f", {len(d.failing)} fail" if d.failing else "")]
    for name, paths in sorted(d.models.items()):
        lines.append(f"  {name}: {', '.join(paths)}")
    for name, message in sorted(d.failing.items()):
        lines.append(f"  {name}: fails: {message}")
    return "\n".join(lines) + "\n"


def render_json(d: PlatformDiff) -> str:
    return json.dumps({"base": d.base, "models": d.models, "failing": d.failing}, indent=2, sort_keys=True) + "\n"
