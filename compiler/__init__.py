"""mlspec: compile one ML model spec into GitOps manifests.

The package is a handful of subpackages, one per role; dependencies point down this
list, never up and never in a circle (`tests/test_architecture.py` checks it):

    pod       programs shipped verbatim into pods (standard library only)
    files     safe paths, the budgeted YAML loader, canonical emit, the output tree
    spec      the spec's pydantic models, checks, credential scan, JSON Schema
    platform  the platform file: defaults, runtimes, layout
    pipeline  overlay resolution, rollout arithmetic, policy, render, verify, the pure core
    records   ledger, reconciliation, releases, diff, the release editor and its sources
    cli       click commands, one module per command group

The library entry points below are loaded on first use, so `import mlspec` (and
`mlspec --help`) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Diagnostic", "MlspecError", "SpecError", "compile_spec", "__version__"]

if TYPE_CHECKING:
    from mlspec.files.errors import Diagnostic, MlspecError, SpecError
    from mlspec.pipeline.core import compile_spec

_LAZY = {"compile_spec": "mlspec.pipeline.core", "Diagnostic": "mlspec.files.errors",
         "MlspecError": "mlspec.files.errors", "SpecError": "mlspec.files.errors"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlspec' has no attribute {name!r}")
