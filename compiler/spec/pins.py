"""A model's pins: the facts that define a released model, as the ledger records them."""

from __future__ import annotations

from typing import Any

from mlspec.spec.model import ModelDeployment


def spec_record(spec: ModelDeployment) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


def pins(spec: ModelDeployment) -> dict[str, Any]:
    """What defines the model itself: a recorded version may never change these."""
    s = spec.spec
    out: dict[str, Any] = {
        "artifact": s.model.artifact.model_dump(by_alias=True, exclude_none=True),  # unsigned: as before signatures
        "code": s.training.code.model_dump(by_alias=True),
        "data": s.training.data.model_dump(by_alias=True, exclude_none=True),
        "seed": s.training.seed,
        "environment": s.training.environment.model_dump(by_alias=True, exclude_none=True),
    }
    if s.features:
        out["features"] = s.features.model_dump(by_alias=True, exclude_none=True)
    # What the model is judged on: another holdout set or evaluator under a released
    # version would let its gate verdict mean something else than what was recorded.
    out["evaluation"] = {"dataset": s.evaluation.dataset.model_dump(by_alias=True, exclude_none=True),
                         "image": s.evaluation.image}
    return out
