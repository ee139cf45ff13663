"""Schema and compiler agree: whatever the JSON Schema accepts, `mlspec validate`
accepts too, except for the cross-field rules a schema cannot express. Those are
listed here and in the README ("Rules beyond the schema"). And whatever the compiler
accepts compiles to objects the Kubernetes strict schemas accept."""

from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis_jsonschema import from_schema

from mlspec import compile_spec
from mlspec.files.errors import SpecError
from mlspec.pipeline import verify
from mlspec.platform import runtimes
from mlspec.spec import fields, model, scan, schema

CROSS_FIELD_RULES = (
    "`maxDrop` needs a baseline",
    "is greater than `max`",
    "the baseline is the candidate itself",
    "equals the model version",
    "weights must not decrease",
    "duplicate online metric name",
    "duplicate env variable",
    "which mlspec does not pass",  # {{args.*}} in an online query
    "derived object names",  # metadata.name + longest suffix must fit 63
    "looks like",  # credentials
    "as a template tag",  # `{{` outside a query's {{args.*}}: Argo Rollouts would fail the analysis
    "which Kubernetes tooling cannot carry",  # DEL, C1 controls, U+FFFE/U+FFFF, lone surrogates
    "is above its limit",  # resource requests <= limits
    "is an extended resource",  # nvidia.com/gpu request == limit
    "are fetched into the pod by a storage initializer",  # remote scheme needs serving.storageInitializer
    "cannot load format",  # model.format vs serving.runtime
    "unknown runtime",  # serving.runtime names a built-in or a platform runtime
    "names no image",  # serving.image, unless the platform's runtime names one
    "needs to know the model's implementation",  # mlserver + custom format needs MLSERVER_MODEL_IMPLEMENTATION
    "a dataset with a `digest` is delivered like the model",  # dataset scheme once it has a digest
    "`steps` are canary steps",  # rollout.strategy decides which settings apply
    "`trafficRouting` is for canary",
    "settings need `strategy: blueGreen`",
    "is a canary setting",  # maxSurge / dynamicStableScale under blueGreen
    "`dynamicStableScale` needs `spec.rollout.trafficRouting`",
    "are both 0",  # maxSurge and maxUnavailable
    "larger than any Kubernetes quantity",  # a magnitude past 2^63-1 (the schema has no bound for strings)
    "is above `maxReplicas`",  # autoscaling bounds
    "`replicas` and `autoscaling` both set",
    "a metric is exactly one of", "a target is `{type",  # oneOf the schema states, checked by the compiler too
    "one constraint per topology",  # topologySpread: one entry per `by`
    "step needs `spec.rollout.trafficRouting.istio`",  # mirror / headerRoute steps need Istio
    "a header route needs `match`", "a match is exactly one of",
    # model.artifact.signature: the chosen method's block, no other's; the verifier image
    # (usually from the platform file, so the schema cannot require it); a pvc bundle's form
    "needs `publicKey`", "needs `certificate`", "needs `sigstore`", "belongs to `method:",
    "`verifierImage` is required", "a `pvc://` bundle",
    "allows no eviction",  # a disruption budget at the fewest pods (issue 28)
    "needs a non-empty `values`", "takes no `values`", "needs exactly one value", "compares integers",  # affinity
    "is not a node label key", "supports only `metadata.name`", "with exactly one value", "is not a namespace name",
)
# An overlay may add a section the spec lacks; merged, that section must be complete.
OVERLAY_RULE = ("in environment `", "missing required field")


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(from_schema(schema.json_schema()))
def test_instances_the_schema_accepts_are_accepted_by_the_compiler(instance):
    try:
        files = compile_spec(yaml.safe_dump(instance, allow_unicode=True), source="generated.yaml")
    except SpecError as exc:
        other = [str(d) for d in exc.diagnostics
                 if not any(rule in d.message for rule in CROSS_FIELD_RULES)
                 and not all(part in d.message for part in OVERLAY_RULE)]
        assert other == [], "the schema accepted what the compiler rejects"
    else:  # an accepted spec nobody wrote by hand still yields objects Kubernetes accepts
        objects = {path: yaml.safe_load(text) for path, text in files.items() if not path.endswith("kustomization.yaml")}
        assert verify.full_check(objects) == []


def _scrub(node):
    """Free text without what no manifest may carry (`{{`, characters kustomize cannot carry)."""
    if isinstance(node, dict):
        return {_scrub(k): _scrub(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_scrub(v) for v in node]
    if isinstance(node, str):
        node = re.sub("[\x7f-\x9f\ufffe\uffff\ud800-\udfff]", "x", node)
        while "{{" in node:
            node = node.replace("{{", "{")
        # what the credential scan refuses (a spec is committed): URL user info, then any other
        # match, each character replaced by one the patterns of the fields allow
        node = re.sub(r"://[^/\s@]*@(?!sha256:)", "://h", node)  # never an empty authority
        node = scan._ANY_SECRET.sub(lambda m: "x" * len(m.group(0)), node)
    return node


def _repair(spec: dict) -> dict:
    """Make a schema-valid instance satisfy the cross-field rules too (deterministically)."""
    spec = _scrub(spec)
    s = spec["spec"]
    meta = spec["metadata"]
    meta["name"] = meta["name"][:40].rstrip("-") or "m"
    version = s["model"]["version"]
    if s.get("rollback", {}).get("previous", {}).get("version") == version:
        del s["rollback"]
    evaluation = s["evaluation"]
    if evaluation.get("baseline") == version:
        del evaluation["baseline"]
    has_baseline = "baseline" in evaluation or "rollback" in s
    for t in evaluation["thresholds"]:
        if not has_baseline:
            t.pop("maxDrop", None)
        if "min" in t and "max" in t and t["min"] > t["max"]:
            t["min"], t["max"] = t["max"], t["min"]
        if not any(k in t for k in ("min", "max", "maxDrop")):
            t["min"] = 0.0
    steps = s.get("rollout", {}).get("steps") or []
    weights = iter(sorted(step["setWeight"] for step in steps if "setWeight" in step))
    for step in steps:
        if "setWeight" in step:
            step["setWeight"] = next(weights)
    for i, m in enumerate(s.get("rollout", {}).get("analysis", {}).get("metrics", [])):
        m["name"] = f"m{i}"
        m["query"] = "up"
        if "min" in m and "max" in m and m["min"] > m["max"]:
            m["min"], m["max"] = m["max"], m["min"]
    for i, var in enumerate(s["serving"].get("env", [])):
        var["name"] = f"V{i}"
    for i, var in enumerate(s["serving"].get("storageInitializer", {}).get("env", [])):
        var["name"] = f"I{i}"
    # Delivery: a runtime gets a format it loads; remote schemes get an initializer;
    # a dataset digest stays only on a deliverable location.
    # Without a platform file only the built-in runtimes exist; they name no image.
    if s["serving"].get("runtime", "mlserver") not in runtimes.BUILTIN:
        s["serving"]["runtime"] = "mlserver"
    s["serving"].setdefault("image", "server@sha256:" + "0" * 64)
    runtime = s["serving"].get("runtime", "mlserver")
    loadable = runtimes.BUILTIN[runtime].formats
    if loadable and s["model"].get("format", "custom") not in loadable or (
            runtime == "mlserver" and s["model"].get("format", "custom") == "custom"):
        s["model"]["format"] = loadable[0]
    if "storageInitializer" not in s["serving"]:
        s["serving"]["storageInitializer"] = {"image": "init@sha256:" + "0" * 64}
    for artifact in (s["model"]["artifact"], s.get("rollback", {}).get("previous", {}).get("artifact", {})):
        _repair_signature(artifact)
    if fields.artifact_uri_problem(evaluation["dataset"]["uri"]):
        evaluation["dataset"].pop("digest", None)
    rollout = s.get("rollout", {})
    for key in (("steps", "trafficRouting", "maxSurge", "dynamicStableScale") if rollout.get("strategy") == "blueGreen"
                else ("blueGreen",)):
        rollout.pop(key, None)
    if "trafficRouting" not in rollout:
        rollout.pop("dynamicStableScale", None)
    if str(rollout.get("maxUnavailable", "")).rstrip("%") == "0":
        rollout["maxUnavailable"] = 1
    # Route steps need Istio and a match; the mirror's own match is optional.
    if "steps" in rollout and ("istio" not in rollout.get("trafficRouting", {})
                               or len(rollout.get("trafficRouting", {})) != 1):
        rollout["steps"] = [st for st in rollout.get("steps") or [] if not {"mirror", "headerRoute"} & st.keys()]
    for st in rollout.get("steps") or []:
        if "headerRoute" in st and not st["headerRoute"].get("match"):
            st["headerRoute"]["match"] = [{"headerName": "x-canary", "headerValue": {"exact": "1"}}]
        for m in st.get("headerRoute", {}).get("match", []):
            m["headerValue"] = {"exact": "1"}
        for m in st.get("mirror", {}).get("match", []):
            for key in ("method", "path"):
                m.pop(key, None)
            m.pop("headers", None)
        if st.get("mirror", {}).get("match") is not None:
            st["mirror"]["match"] = [{"path": {"prefix": "/"}}]
    serving = s["serving"]
    scaling = serving.get("autoscaling")
    if scaling is not None:
        serving.pop("replicas", None)
        scaling["minReplicas"], scaling["maxReplicas"] = sorted((scaling["minReplicas"], scaling["maxReplicas"]))
        scaling["metrics"] = [{"cpu": 70}]
    if "topologySpread" in serving:
        serving["topologySpread"] = list({t["by"]: t for t in serving["topologySpread"]}.values())
    for section in (s["serving"], evaluation):
        resources = section.get("resources", {})
        for kind in ("requests", "limits"):  # past 2^63-1 (the pattern cannot say it): refused, tested elsewhere
            for name, value in resources.get(kind, {}).items():
                if fields.quantity_value(str(value)) > fields.MAX_QUANTITY:
                    resources[kind][name] = "1"
        for name in resources.get("requests", {}).keys() & resources.get("limits", {}).keys():
            resources["limits"][name] = resources["requests"][name]
    # Overlays may only adjust the namespace and replicas here: anything else could
    # re-break the rules above once merged, which the first test already covers. Each
    # environment gets a namespace of its own (two in one namespace would emit the same objects).
    overlay = {} if scaling is not None else {"serving": {"replicas": 1}}  # the autoscaler owns the count
    s["environments"] = {name: {"namespace": f"n{i}", **overlay}
                         for i, name in enumerate(s.get("environments", {}))}
    return spec


def _repair_signature(artifact: dict) -> None:
    """A signature with its method's block only, a verifier image and a deliverable bundle."""
    sig = artifact.get("signature")
    if sig is None:
        return
    sig.setdefault("verifierImage", "verifier@sha256:" + "0" * 64)
    blocks = {"key": "publicKey", "certificate": "certificate", "sigstore": "sigstore"}
    given = [method for method, block in blocks.items() if block in sig]
    if not given:
        sig["publicKey"], given = {"configMap": "keys", "key": "k.pub"}, ["key"]
    sig["method"] = given[0]
    for method, block in blocks.items():
        if method != given[0]:
            sig.pop(block, None)
    if sig["bundle"].startswith("pvc://") and fields.artifact_uri_problem(sig["bundle"]):
        sig["bundle"] = "s3://bundles/model.sig"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(from_schema(schema.json_schema()))
def test_specs_nobody_wrote_by_hand_compile_to_valid_kubernetes_objects(instance):
    try:
        files = compile_spec(yaml.safe_dump(_repair(instance), allow_unicode=True), source="generated.yaml")
    except SpecError as exc:  # a cross-field rule the repair does not mend (a drain-blocking budget, ...)
        assert all(any(rule in d.message for rule in CROSS_FIELD_RULES) for d in exc.diagnostics), exc.diagnostics
        assume(False)
    objects = {path: yaml.safe_load(text) for path, text in files.items() if not path.endswith("kustomization.yaml")}
    assert len(objects) >= 7
    assert verify.full_check(objects) == []
