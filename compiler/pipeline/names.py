"""The names of the objects one release emits, derived from `metadata.name`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mlspec.spec.check import LONGEST_SUFFIX


@dataclass(frozen=True)
class Names:
    rollout: str
    stable: str
    canary: str
    offline: str
    online: str
    lineage: str
    gate: str
    runtime: str
    eval_job: str
    active: str
    preview: str
    reader: str

    @classmethod
    def of(cls, name: str, eval_inputs: str) -> Names:
        """The names of model `name`'s objects; the evaluation Job's is keyed on
        `eval_inputs`, what the evaluation depends on (a new evaluation, a new Job)."""
        return cls(
            rollout=name, stable=f"{name}-stable", canary=f"{name}-canary", offline=f"{name}{LONGEST_SUFFIX}",
            online=f"{name}-online", lineage=f"{name}-lineage", gate=f"{name}-gate", runtime=f"{name}-runtime",
            eval_job=f"{name}-eval-{hashlib.sha256(eval_inputs.encode()).hexdigest()[:10]}",
            active=f"{name}-active", preview=f"{name}-preview", reader=f"{name}-eval-reader",
        )
