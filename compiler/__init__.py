"""mlspec: compile one ML model spec into GitOps manifests."""

from __future__ import annotations

from mlspec.core import compile_spec
from mlspec.errors import Diagnostic, MlspecError, SpecError

__version__ = "0.1.0"
__all__ = ["Diagnostic", "MlspecError", "SpecError", "compile_spec", "__version__"]
