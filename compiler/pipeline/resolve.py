"""Stage 3: environment overlay, defaults, derived names and digests.

`resolve(doc)` turns one loaded spec into one `Release` per environment: every
value the templates need, already defaulted, so templates hold no logic beyond
layout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from mlspec.files import layout
from mlspec.files.errors import Diagnostic, SpecError
from mlspec.files.loader import MAX_BUILD_CHARS, Document, diagnostic
from mlspec.pipeline import autoscaling, delivery, placement, policy, rules, strategy, surge, traffic
from mlspec.pipeline.names import Names
from mlspec.platform import platformfile, runtimes
from mlspec.platform.platformfile import Platform
from mlspec.spec import overlay, placeholders, scan
from mlspec.spec.model import ModelDeployment, Spec

DEFAULT_ENV = "default"
DEFAULT_SERVING_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
DEFAULT_EVAL_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
GATE_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}

METRICS_DIR = "/mlspec/out"
GATE_DIR = "/mlspec/gate"
RUNTIME_DIR = runtimes.RUNTIME_DIR


WAIT_SLACK = 900  # seconds the offline step waits beyond the evaluation's own deadline


@dataclass(frozen=True)
class Context:
    """What the GitOps repo adds to a spec: metrics recorded in the release ledger
    (`{model: {version: metrics}}`) and, for a rollback, the records to annotate. When
    `recorded_metrics` also reads ledgers (`releases.RecordedMetrics` of a directory), the
    build reconciles the spec with its model's ledger (`mlspec.reconcile`)."""

    recorded_metrics: Mapping[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    platform: Platform | None = None  # the repository's platform file (defaults and policy)
    layout: str = layout.FLAT  # where models live in the output (`mlspec.layout`; the platform file's choice)


NO_CONTEXT = Context()


@dataclass
class Release:
    """One environment of one spec, fully resolved."""

    env: str
    spec: ModelDeployment
    name: str
    namespace: str | None
    digest: str
    names: Names
    key: str        # what the repository knows the model by (`mlspec.layout`)
    directory: str  # its output directory for this environment, relative to OUT
    labels: dict[str, str]
    selector: dict[str, str]
    pod_security: dict[str, Any]
    annotations: dict[str, str]
    pod_annotations: dict[str, str]
    serving: dict[str, Any]
    evaluation: dict[str, Any]
    online_metrics: list[dict[str, Any]]
    prometheus: str | None
    gate_config: dict[str, Any]
    lineage: dict[str, Any]
    strategy: dict[str, Any]
    services: list[str]
    router: tuple[str, dict[str, Any]] | None
    warnings: list[Diagnostic] = field(default_factory=list)
    placeholders: list[Diagnostic] = field(default_factory=list)  # what `mlspec init` wrote for the user to fill in
    plan: surge.Plan | None = None  # surge settings and peak capacity (DESIGN.md "Rollout capacity")
    disruption_budget: dict[str, Any] | None = None  # the PodDisruptionBudget's bound, or none
    autoscaler: dict[str, Any] | None = None  # the HorizontalPodAutoscaler's spec (the Rollout then has no replicas)


def resolve(doc: Document, env: str | None = None, context: Context = NO_CONTEXT) -> tuple[ModelDeployment, list[Release]]:
    """Validate `doc`; resolve each selected environment. Raises `SpecError`.

    Returns the spec without overlays (the release's identity) and one `Release`
    per environment."""
    known = runtimes.registry(context.platform)
    merged = platformfile.under(context.platform, doc, None)
    # the platform file's own text was scanned once, when it was read: here only the spec's
    own = [] if merged is doc else list(scan.text_problems(doc))
    try:
        base = rules.validate(merged, secrets=merged is doc, known_runtimes=known)
    except SpecError as exc:  # one a platform default causes names the spec, as below
        raise SpecError(sorted(set(own + [policy.naming(d, doc.source) for d in exc.diagnostics]))) from None
    if own:
        raise SpecError(sorted(set(own)))
    reserved = [diagnostic(doc, ("metadata", "annotations", key), f"annotation `{key}` is in `{key.split('/')[0]}`, a "
                           "namespace reserved for Kubernetes, Argo CD and Argo Rollouts, Helm, kustomize or mlspec "
                           "itself: its annotations change security, sync or release semantics; use a key of your own "
                           "domain (e.g. `acme.example/oncall`)", rule="reserved-annotation")
                for key in base.metadata.annotations if overlay.reserved_annotation(key)]
    if reserved:
        raise SpecError(reserved)
    model_key = _model_key(doc, base, context)
    declared = sorted(base.spec.environments)
    if env is not None and declared and env not in declared:
        raise SpecError([diagnostic(doc, ("spec", "environments"),
                        f"environment `{env}` is not declared; declared: {', '.join(declared)}", rule="unknown-environment")])
    if env is not None and not declared and env != DEFAULT_ENV:
        raise SpecError([diagnostic(doc, ("metadata", "name"),
                        f"environment `{env}` is not declared; this spec has no `spec.environments`, so its only "
                        f"environment is `{DEFAULT_ENV}`", rule="unknown-environment")])
    selected = [env] if env is not None and declared else (declared or [DEFAULT_ENV])
    if len(selected) * doc.chars > MAX_BUILD_CHARS:
        raise SpecError([diagnostic(doc, ("spec", "environments"), (
            f"{len(selected)} environments of a spec of {doc.chars} characters is more than mlspec builds from one "
            f"spec (environments x characters at most {MAX_BUILD_CHARS}); build fewer at a time with --env, "
            "or make the spec smaller"), rule="spec-too-large")])
    over = policy.budget_problem(context.platform, doc, selected, bool(declared))  # with the platform's defaults
    if over is not None:
        raise SpecError([over])
    releases: list[Release] = []
    problems: list[Diagnostic] = []
    for name in selected:
        merged = platformfile.under(context.platform, overlay.overlay(doc, name) if declared else doc, name if declared else None)
        try:
            spec = rules.validate(merged, secrets=False, known_runtimes=known) if declared else base  # `doc` was scanned whole
        except SpecError as exc:
            problems.extend(policy.naming(replace(d, message=f"in environment `{name}`: {d.message}"), doc.source)
                            for d in exc.diagnostics)
            continue
        release = _release(spec, name, context, model_key)
        problems.extend(policy.problems(context.platform, merged, spec, name, bool(declared), release.plan))
        where = f"in environment `{name}`: " if declared else ""
        assert release.plan is not None
        shown = release.plan.settings
        release.warnings = [replace(policy.naming(diagnostic(merged, path, where + message, rule="canary-weight-unmet", key=False),
                                                  doc.source), severity="warning")
                            for path, message in traffic.exposure(spec.spec, strategy.default_steps(
                                spec.spec, shown.max_surge, shown.max_unavailable), shown.max_surge, shown.max_unavailable)]
        # Each placeholder once, where it is written (the spec, or the platform file's defaults).
        release.placeholders = [replace(diagnostic(merged, path, message, rule="placeholder", key=False), severity="warning")
                                for path, message in placeholders.find(merged.data)]
        release.warnings += release.placeholders
        capacity_note = release.plan.note()
        if capacity_note is not None:  # a note: informs, never fails the command (not even --strict)
            note = diagnostic(merged, release.plan.at, where + capacity_note, rule="capacity-note")
            release.warnings.append(replace(policy.naming(note, doc.source), severity="note"))  # a platform line names the spec
        acknowledged = _acknowledged(spec, context, name if declared else None)
        release.warnings = [w for w in release.warnings if w.rule not in acknowledged]
        releases.append(release)
    if problems:
        raise SpecError(sorted(set(problems)))
    return base, releases


def _acknowledged(spec: ModelDeployment, context: Context, env: str | None) -> set[str]:
    """The warning rules a model accepts: its own `spec.acknowledge` (after overlays) and
    the platform file's `defaults.acknowledge`, global and of `env`: a union, not the
    replacement lists in defaults get, so a model's list cannot drop the platform's."""
    found = set(spec.spec.acknowledge or ())
    if context.platform is not None:
        for prefix in ([("spec", "environments", env, "defaults")] if env is not None else []) + [("spec", "defaults")]:
            value = platformfile.value_at(context.platform.doc.data, (*prefix, "acknowledge"))
            found.update(v for v in value or () if isinstance(v, str))
    return found


def _model_key(doc: Document, base: ModelDeployment, context: Context) -> str:
    """What the repository knows the model by (`mlspec.layout`): in the namespaced
    layout its namespace is part of it, so the spec must name one."""
    if context.layout != layout.NAMESPACED:
        return base.metadata.name
    if base.metadata.namespace is None:
        where = context.platform.doc.position(("spec", "layout"), key=False) if context.platform else (1, 1)
        source = context.platform.source if context.platform else "the platform file"
        raise SpecError([diagnostic(doc, ("metadata", "name"), (
            f"`metadata.namespace` is required: the platform file sets `layout: namespaced` ({source}:{where[0]}:"
            f"{where[1]}), where a model is known by NAMESPACE/NAME and built into `OUT/<env>/<namespace>/<name>/`"),
            rule="namespace-required")])
    return layout.key(base.metadata.name, base.metadata.namespace)


# --- the release ---------------------------------------------------------------


def spec_digest(spec: ModelDeployment, env: str) -> str:
    """sha256 of the canonical JSON of the resolved spec (comments and key order do not count)."""
    # Values equal to their default are left out: a spec that writes a default says the
    # same as one that omits it, and a field a later mlspec adds (with a default) leaves
    # the digest of every spec that does not use it unchanged.
    record = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude={"spec": {"environments"}})
    record["environment"] = env
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _release(doc: ModelDeployment, env: str, context: Context, model_key: str) -> Release:
    spec = doc.spec
    name = doc.metadata.name
    digest = spec_digest(doc, env)
    labels = dict(sorted(doc.metadata.labels.items()))
    labels.update({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/version": spec.model.version,
        "app.kubernetes.io/managed-by": "mlspec",
        "mlspec.dev/environment": env,
    })
    # The pins are release stamps: an object's bytes change when its release does, not
    # when an unrelated part of the spec does (DESIGN.md "Reviewable output"). The spec
    # and platform digests live in the lineage ConfigMap and the ledger only.
    pins = _pins(doc)
    annotations = dict(sorted(doc.metadata.annotations.items()))
    annotations.update(pins)
    annotations.update(context.annotations)
    # Pods carry the model's pins but not the user's annotations: on a pod they are
    # instructions to the kubelet, the admission controllers and sidecar injectors,
    # which an object's annotations are not.
    pod_annotations = {**pins, **context.annotations}
    baseline = spec.evaluation.baseline or (spec.rollback.previous.version if spec.rollback else None)
    recorded = context.recorded_metrics.get(model_key, {}).get(baseline or "")
    evaluation = _evaluation(doc, baseline)
    gate = gate_config(doc, baseline, recorded)
    pod_security = delivery.pod_user(spec)
    # One evaluation per release: the Job is named by what the evaluation depends on (what
    # its pod runs: model digest, dataset, evaluator image, command and args, resources; the
    # gate's thresholds and baseline), so replicas, rollout steps, labels or any other part
    # of the spec changing do not evaluate the same model again. (Rollback records are
    # annotations, not evaluation inputs: a rollback keeps the Job's name.)
    eval_inputs = json.dumps([evaluation, gate, pod_security], sort_keys=True)
    names = Names.of(name, eval_inputs)
    evaluation["wait_command"] = ["python3", f"{GATE_DIR}/jobwait.py", "--job", names.eval_job,
                                  "--timeout", str(evaluation["wait_deadline"])]
    serving = _serving(doc, runtimes.registry(context.platform))
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "server"}
    serving.update(topology_spread=placement.topology_spread(spec, selector), affinity=placement.affinity(spec))
    shown = surge.settings(spec, serving["resources"], traffic.chosen_router(spec) is not None)
    defaults = strategy.default_steps(spec, shown.max_surge, shown.max_unavailable)  # at the Rollout's real surge
    steps = strategy.steps(spec, names, defaults)
    capacity_plan = surge.plan(spec, serving["resources"], defaults)
    blue_green = spec.rollout.strategy == "blueGreen"
    services = [names.active, names.preview] if blue_green else [names.stable, names.canary]
    return Release(
        env=env, spec=doc, name=name, namespace=doc.metadata.namespace, digest=digest, names=names, key=model_key,
        directory=layout.directory(env, name, doc.metadata.namespace if layout.of_key(model_key) == layout.NAMESPACED
                                   else None),
        labels=labels, selector=selector,
        pod_security=pod_security, annotations=annotations, pod_annotations=pod_annotations,
        serving=serving, evaluation=evaluation,
        online_metrics=strategy.online_metrics(spec), prometheus=spec.rollout.analysis.prometheus.address if spec.rollout.analysis else None,
        gate_config=gate, lineage={**_lineage(doc, env, digest), **context.lineage,
                                   "capacity": surge.record(capacity_plan.peak)},
        strategy=surge.with_fields(strategy.strategy(doc, names, steps), capacity_plan.settings),
        services=services,
        router=traffic.router_object(spec, names.stable, names.canary, serving["port"]),
        plan=capacity_plan,
        disruption_budget=surge.disruption_budget(spec),
        autoscaler=autoscaling.horizontal_pod_autoscaler(spec, names.rollout),
    )


def _pins(doc: ModelDeployment) -> dict[str, str]:
    spec = doc.spec
    pins = {
        "mlspec.dev/model-version": spec.model.version,
        "mlspec.dev/artifact-digest": spec.model.artifact.digest,
        "mlspec.dev/data-version": spec.training.data.version,
        "mlspec.dev/seed": str(spec.training.seed),
        "mlspec.dev/code-commit": spec.training.code.commit,
    }
    if spec.features:
        pins["mlspec.dev/feature-pipeline-version"] = spec.features.pipeline_version
    if doc.metadata.owner:
        pins["mlspec.dev/owner"] = doc.metadata.owner
    return pins


def _resources(section: Any, default: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Requests and limits merged per resource: a default (cpu, memory) stays unless the
    spec names that resource; an extended resource (`nvidia.com/gpu`) is added on both
    sides, since Kubernetes needs its request to equal its limit."""
    given_requests = {} if section is None else {k: str(v) for k, v in section.requests.items()}
    given_limits = {} if section is None else {k: str(v) for k, v in section.limits.items()}
    requests, limits = dict(default["requests"]), dict(default["limits"])
    for key in sorted(given_requests.keys() | given_limits.keys()):
        # One side given: the other copies it (Kubernetes itself defaults requests to
        # limits); a default on the missing side could sit below what was asked for.
        requests[key] = given_requests.get(key, given_limits.get(key, ""))
        limits[key] = given_limits.get(key, requests[key])
    return {"requests": dict(sorted(requests.items())), "limits": dict(sorted(limits.items()))}


def _serving(doc: ModelDeployment, known: Mapping[str, runtimes.RuntimeDefinition]) -> dict[str, Any]:
    spec = doc.spec
    s = spec.serving
    server = runtimes.container(spec, s.model_name or doc.metadata.name, known)
    pod = delivery.plan(spec, delivery.sources(doc, None, for_evaluation=False), s.verify_image or server["image"],
                        ("runtime", RUNTIME_DIR), users=("server",))
    env: list[dict[str, Any]] = [
        {"name": "MLSPEC_MODEL_NAME", "value": doc.metadata.name},
        {"name": "MLSPEC_MODEL_VERSION", "value": spec.model.version},
        {"name": "MLSPEC_ARTIFACT_URI", "value": spec.model.artifact.uri},
        {"name": "MLSPEC_ARTIFACT_DIGEST", "value": spec.model.artifact.digest},
        *pod["env"],
        # The root filesystem is read-only: caches go to /tmp, the server's own emptyDir
        # (the fetch steps have another: nothing they leave behind reaches the server).
        {"name": "HOME", "value": "/tmp"},
        *server["env"],
        *delivery.env_vars(s.env),
    ]
    return {
        **server, "replicas": s.replicas, "env": env,
        "resources": _resources(s.resources, DEFAULT_SERVING_RESOURCES),
        "node_selector": dict(sorted(s.node_selector.items())),
        "tolerations": [t.model_dump(by_alias=True, exclude_none=True) for t in s.tolerations],
        "init_containers": pod["init"], "volumes": pod["volumes"] + server["volumes"],
        "mounts": pod["mounts"] + server["mounts"],
        "service_account": pod["service_account"], "pod_annotations": pod["pod_annotations"],
        "runtime_dir": RUNTIME_DIR, **({"signed": True} if delivery.signed(spec) else {}),
    }


def _evaluation(doc: ModelDeployment, baseline: str | None) -> dict[str, Any]:
    spec = doc.spec
    e = spec.evaluation
    gate_image = e.gate_image or e.image
    pod = delivery.plan(spec, delivery.sources(doc, baseline, for_evaluation=True), gate_image, ("gate", GATE_DIR),
                        users=("evaluator", "gate"))
    env = [
        {"name": "MLSPEC_MODEL_NAME", "value": doc.metadata.name},
        {"name": "MLSPEC_MODEL_VERSION", "value": spec.model.version},
        {"name": "MLSPEC_ARTIFACT_URI", "value": spec.model.artifact.uri},
        {"name": "MLSPEC_ARTIFACT_DIGEST", "value": spec.model.artifact.digest},
        {"name": "MLSPEC_DATASET_URI", "value": e.dataset.uri},
        {"name": "MLSPEC_DATASET_VERSION", "value": e.dataset.version},
        {"name": "MLSPEC_SEED", "value": str(spec.training.seed)},
        {"name": "MLSPEC_METRICS_PATH", "value": f"{METRICS_DIR}/metrics.json"},
        {"name": "MLSPEC_THRESHOLDS", "value": json.dumps(_thresholds(spec), sort_keys=True, separators=(",", ":"))},
        *pod["env"],
        {"name": "HOME", "value": "/tmp"},
    ]
    if spec.features:
        env.append({"name": "MLSPEC_FEATURE_PIPELINE_VERSION", "value": spec.features.pipeline_version})
    if baseline is not None:
        env.append({"name": "MLSPEC_BASELINE_VERSION", "value": baseline})
        env.append({"name": "MLSPEC_BASELINE_METRICS_PATH", "value": f"{METRICS_DIR}/baseline-metrics.json"})
        prev = spec.rollback.previous if spec.rollback else None
        if prev is not None and prev.version == baseline:
            env.append({"name": "MLSPEC_BASELINE_ARTIFACT_URI", "value": prev.artifact.uri})
            env.append({"name": "MLSPEC_BASELINE_ARTIFACT_DIGEST", "value": prev.artifact.digest})
    gate_args = ["python3", f"{GATE_DIR}/gate.py", "--config", f"{GATE_DIR}/gate.json",
                 "--metrics", f"{METRICS_DIR}/metrics.json"]
    if baseline is not None:
        gate_args += ["--baseline-metrics", f"{METRICS_DIR}/baseline-metrics.json"]
    return {
        "image": e.image, "command": e.command, "args": e.args, "env": env,
        "gate_image": gate_image, "gate_command": gate_args,
        "deadline": duration_seconds(e.timeout),
        # Time for the Job to be scheduled, fetch its artifacts and evaluate.
        "wait_deadline": duration_seconds(e.timeout) + WAIT_SLACK,
        "resources": _resources(e.resources, DEFAULT_EVAL_RESOURCES), "gate_resources": GATE_RESOURCES,
        "metrics_dir": METRICS_DIR, "gate_dir": GATE_DIR,
        "init_containers": pod["init"], "volumes": pod["volumes"], "mounts": pod["mounts"],
        "service_account": pod["service_account"], "pod_annotations": pod["pod_annotations"],
        **({"signed": True} if delivery.signed(spec) else {}),  # unsigned: the Job's name as before
    }


def duration_seconds(text: str) -> int:
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        else:
            total += int(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
    return total


def _thresholds(spec: Spec) -> list[dict[str, Any]]:
    return [t.model_dump(by_alias=True, exclude_none=True) for t in spec.evaluation.thresholds]


def gate_config(doc: ModelDeployment, baseline: str | None, baseline_metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """What the in-cluster gate step checks: thresholds, plus a recorded baseline when known."""
    return {
        "model": doc.metadata.name,
        "version": doc.spec.model.version,
        "baseline": {"version": baseline, "metrics": baseline_metrics} if baseline else None,
        "thresholds": _thresholds(doc.spec),
    }


def _lineage(doc: ModelDeployment, env: str, digest: str) -> dict[str, Any]:
    record = doc.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"spec": {"environments"}})
    if doc.spec.serving.autoscaling is not None:  # the autoscaler owns the count: no `replicas` to record
        del record["spec"]["serving"]["replicas"]
    return {"environment": env, "specDigest": digest, **record}
