"""`mlspec diff --platform`: which models and objects a platform file change changes.

Every spec is compiled twice, with the platform file as it is at a Git ref and as it
is in the working tree. The platform digest itself (on every object) is left out of
the comparison, so what is listed is what the change does to the manifests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mlspec.files.errors import MlspecError
from mlspec.pipeline import core
from mlspec.pipeline.core import Compiled
from mlspec.pipeline.resolve import Context
from mlspec.platform import platformfile


@dataclass
class PlatformDiff:
    base: str
    models: dict[str, list[str]] = field(default_factory=dict)  # model -> changed `<env>/<file>` (+ added/removed)
    failing: dict[str, str] = field(default_factory=dict)      # model -> first error with the new platform file


def _objects(items: list[Compiled], digest: str | None) -> dict[str, str]:
    files = core.to_files(items, "spec")
    return {path: text.replace(digest, "PLATFORM-DIGEST") if digest else text for path, text in files.items()}


def compare(specs: list[tuple[str, bytes]], old: platformfile.Platform | None, new: platformfile.Platform | None,
            base: str, env: str | None = None) -> PlatformDiff:
    """Compile every `(source, text)` with `old` and with `new`; what differs, per model.
    A spec that did not compile with the old file counts as all added; one that does not
    compile with the new file is listed with its first error."""
    result = PlatformDiff(base)
    for source, text in specs:
        try:
            before: tuple[str, dict[str, str]] | None = _compile(text, source, env, old)
        except MlspecError:
            before = None
        try:
            name, files = _compile(text, source, env, new)
        except MlspecError as exc:
            result.failing[before[0] if before else source] = str(exc.diagnostics[0]) if exc.diagnostics else "invalid"
            continue
        old_files = before[1] if before else {}
        changed = sorted(p for p in set(files) | set(old_files)
                         if files.get(p) != old_files.get(p) and not p.endswith("kustomization.yaml"))
        if changed:
            result.models[name] = changed
    return result


def _compile(text: bytes, source: str, env: str | None, plat: platformfile.Platform | None) -> tuple[str, dict[str, str]]:
    compiled = core.compile_document(text, source, env, platformfile.with_platform(Context(), plat))
    return compiled.key, _objects(compiled.items, plat.digest if plat else None)


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
