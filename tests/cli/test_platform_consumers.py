"""The platform file's output read by the consumers' own validators (the Kubernetes and Argo
schemas): apart from test_platform.py, whose tests the mutation run uses (its scratch copies
carry no node_modules)."""

from __future__ import annotations

from test_platform import _load, repo, run  # noqa: F401 - `repo` is the fixture

from mlspec.pipeline import verify


def test_outputs_pass_the_strict_kubernetes_and_argo_schemas(repo):  # noqa: F811 - the fixture
    from tests.consumers.test_consumers import validate_crds

    assert run("build", "models", "-o", "out").exit_code == 0
    objects = {str(p): _load(p) for p in (repo / "out").glob("*/*/*.yaml") if p.name != "kustomization.yaml"}
    assert len(objects) > 30
    assert verify.full_check(objects) == []
    crds = [o for o in objects.values() if o["kind"] in ("Rollout", "AnalysisTemplate")]
    results = validate_crds(crds)
    assert len(results) == len(crds) and all(r.get("ok", r) for r in results), results
