"""Validation of a spec with the rules that need the stages of this layer: how pods get
the artifact (`delivery`), which runtimes exist (the platform file's and the built-ins),
and the rollout arithmetic (`traffic`, `surge`, `autoscaling`, `placement`, `strategy`).

`mlspec.spec.check` knows the spec alone; this module adds the rest and is what every
caller that validates a whole spec uses.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from mlspec.files.loader import Document, Path
from mlspec.pipeline import autoscaling, delivery, placement, strategy, surge, traffic
from mlspec.platform import runtimes
from mlspec.spec import check
from mlspec.spec.model import ModelDeployment


def validate(doc: Document, secrets: bool = True,
             known_runtimes: Mapping[str, runtimes.RuntimeDefinition] = runtimes.BUILTIN) -> ModelDeployment:
    """Validate `doc` fully; raise `SpecError` with every problem found. `known_runtimes`:
    the runtimes `serving.runtime` may name (the platform file adds its own)."""
    return check.validate(doc, secrets, more=lambda spec: problems(spec, known_runtimes))


def problems(doc: ModelDeployment, known_runtimes: Mapping[str, runtimes.RuntimeDefinition] = runtimes.BUILTIN,
             ) -> Iterator[tuple[Path, str]]:
    """The rules of this layer, as (path, message) pairs, after the spec's own."""
    spec = doc.spec
    yield from delivery.problems(spec)
    yield from runtimes.spec_problems(spec, known_runtimes)
    yield from traffic.problems(spec)
    yield from surge.problems(spec, traffic.chosen_router(spec) is not None)
    yield from surge.budget_problems(spec)
    yield from autoscaling.problems(spec)
    yield from placement.problems(spec)
    yield from strategy.route_problems(spec)
