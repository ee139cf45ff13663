"""The platform's policy: rules every resolved environment of every spec must meet.

Each violation is positioned at the spec's offending value (at `metadata` when a
required field is missing) and names the rule and its line in the platform file; one
positioned in the platform file (a value its defaults gave) also names the spec. Also
what the platform demands of every spec besides its rules: environments it knows, and
its defaults inside the spec's build budget.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from mlspec.files.errors import Diagnostic
from mlspec.files.loader import MAX_BUILD_CHARS, Document, Path, diagnostic
from mlspec.platform import runtimes
from mlspec.platform.platformfile import value_at
from mlspec.spec.fields import quantity_value
from mlspec.spec.model import ModelDeployment

if TYPE_CHECKING:
    from mlspec.pipeline.surge import Plan
    from mlspec.platform.platformfile import Platform

OCI = "oci://"
# The rules in the order they are checked; the YAML spelling is the rule's name.
RULES = ("allowedRegistries", "requireOwner", "requireDataDigest", "minReplicas", "maxFirstStepWeight",
         "requireRelativeThreshold", "requireTrafficRouting", "requireSignature", "maxPeakPods",
         "maxPeakExtendedResources")
# Headers ordinary clients send (or every proxy adds): a header route matching one of them
# catches ordinary users' requests, so the policy counts it as all of the traffic. A route
# on any other header (`x-canary: 1`) reaches only the clients that opt in.
ORDINARY_HEADERS = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "authorization", "cache-control", "connection",
    "content-length", "content-type", "cookie", "forwarded", "host", "origin", "pragma", "referer", "te",
    "traceparent", "tracestate", "upgrade-insecure-requests", "user-agent", "via", "x-forwarded-for",
    "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "x-request-id", ":authority", ":method", ":path", ":scheme",
})


def rules(platform: Platform, env: str) -> dict[str, tuple[Any, int]]:
    """The rules in force in `env`: `{rule: (value, line in the platform file)}`; an
    environment's rule replaces the global one of the same name."""
    doc = platform.doc
    found: dict[str, tuple[Any, int]] = {}
    for prefix in (("spec", "policy"), ("spec", "environments", env, "policy")):
        section = value_at(doc.data, prefix)
        if isinstance(section, dict):
            for rule in RULES:
                if rule in section:
                    found[rule] = (section[rule], doc.position(prefix + (rule,))[0])
    return found


def problems(platform: Platform | None, doc: Document, spec: ModelDeployment, env: str,
             declared: bool = True, plan: Plan | None = None) -> list[Diagnostic]:
    """Every policy violation of one resolved environment (`doc` is its merged document;
    `declared`: the spec declares its environments, so messages name this one; `plan`:
    its rollout's peak, for the peak caps)."""
    if platform is None:
        return []
    active = rules(platform, env)
    out = [] if not declared else _unknown_environment(platform, doc, env)
    taken = runtimes.image_at(spec.spec, platform)
    registries = active.get("allowedRegistries")
    if taken is not None and registries is not None:
        image, _, at = taken
        for _, message in _registries_of([(at, image)], registries[0]):  # positioned at the runtime's image
            where = f"in environment `{env}`: " if declared else ""
            out.append(diagnostic(platform.doc, at, f"{where}{message} (runtime `{spec.spec.serving.runtime}` of "
                                  f"model `{spec.metadata.name}`; policy allowedRegistries, {platform.source}:"
                                  f"{registries[1]})", rule="platform-policy", key=False))
    for rule, (value, line) in active.items():
        found = (_PEAK_CHECKS[rule](plan, value) if rule in _PEAK_CHECKS
                 else _first_step(spec, value, plan) if rule == "maxFirstStepWeight" else _CHECKS[rule](spec, value))
        for path, message in found:
            where = f"in environment `{env}`: " if declared else ""
            # A missing field points at the `metadata` key; a value at the value itself.
            out.append(diagnostic(doc, path, f"{where}{message} (policy {rule}, {platform.source}:{line})",
                                  rule="platform-policy", key=path == ("metadata",)))
    return [naming(d, doc.source) for d in out]


def naming(found: Diagnostic, spec: str) -> Diagnostic:
    """`found`, naming the spec it is about when it points into another file (a value the
    platform's defaults gave): each spec under one platform file gets its own message."""
    return found if found.source == spec else replace(found, message=f"spec {spec}: {found.message}")


def _unknown_environment(platform: Platform, doc: Document, env: str) -> list[Diagnostic]:
    """A platform that declares environments knows every one its specs may use: a spec's
    `production` where it says `prod` would get none of `prod`'s defaults and policy."""
    known = value_at(platform.doc.data, ("spec", "environments")) or {}
    if not known or env in known:
        return []
    line = platform.doc.position(("spec", "environments"))[0]
    return [diagnostic(doc, ("spec", "environments", env), (
        f"environment `{env}` is not one the platform file declares ({', '.join(sorted(known))}; "
        f"{platform.source}:{line}): its per-environment defaults and policy would not apply; name it as the "
        f"platform does, or declare it there (`{env}: {{}}` for the global ones only)"), rule="unknown-environment")]


_SIZES: dict[tuple[str, str], dict[str | None, int]] = {}


def _chars(data: Any) -> int:
    """Characters of the keys and scalars of `data`, as often as they occur (aliases expanded)."""
    if isinstance(data, dict):
        return sum(len(str(k)) + _chars(v) for k, v in data.items())
    if isinstance(data, list):
        return sum(_chars(v) for v in data)
    return 0 if data is None else len(str(data))


def default_chars(platform: Platform) -> dict[str | None, int]:
    """Characters of the defaults merged under a spec: the global ones (`None`) and each
    declared environment's (counted once per platform file)."""
    key = (platform.source, platform.digest)
    if key not in _SIZES:
        envs = value_at(platform.doc.data, ("spec", "environments")) or {}
        _SIZES[key] = {None: _chars(value_at(platform.doc.data, ("spec", "defaults"))),
                       **{str(name): _chars(value_at(envs, (name, "defaults"))) for name in envs}}
    return _SIZES[key]


def budget_problem(platform: Platform | None, doc: Document, selected: list[str], declared: bool) -> Diagnostic | None:
    """Each environment of a spec is built from the spec and the platform defaults merged
    under it: both count against `MAX_BUILD_CHARS` (the spec alone is checked before).
    Over it by the defaults: positioned at the largest defaults, naming the spec."""
    if platform is None:
        return None
    sizes = default_chars(platform)
    layers: dict[str | None, int] = {None: len(selected) * sizes[None]}
    for env in selected if declared else []:
        layers[env] = layers.get(env, 0) + sizes.get(env, 0)
    total = len(selected) * doc.chars + sum(layers.values())
    if total <= MAX_BUILD_CHARS:
        return None
    largest = max(layers, key=lambda env: (layers[env], env is None))
    at: Path = ("spec", "defaults") if largest is None else ("spec", "environments", largest, "defaults")
    return diagnostic(platform.doc, at, (
        f"spec {doc.source}: {len(selected)} environment(s) of a spec of {doc.chars} characters with "
        f"{total - len(selected) * doc.chars} characters of platform defaults merged under them is more than mlspec "
        f"builds from one spec (environments x characters at most {MAX_BUILD_CHARS}); make these defaults smaller, "
        "or build fewer environments at a time with --env"), rule="spec-too-large")


def images(spec: ModelDeployment) -> Iterator[tuple[Path, str]]:
    """Every image the output runs or mounts, with the spec path that names it."""
    s = spec.spec
    if s.serving.image is not None:  # else the runtime's (`runtimes.image_at`: in the platform file)
        yield ("spec", "serving", "image"), s.serving.image
    if s.serving.verify_image:
        yield ("spec", "serving", "verifyImage"), s.serving.verify_image
    if s.serving.storage_initializer:
        yield ("spec", "serving", "storageInitializer", "image"), s.serving.storage_initializer.image
    yield ("spec", "training", "environment", "image"), s.training.environment.image
    yield ("spec", "evaluation", "image"), s.evaluation.image
    if s.evaluation.gate_image:
        yield ("spec", "evaluation", "gateImage"), s.evaluation.gate_image
    signed: list[tuple[Path, Any]] = [(("spec", "model", "artifact"), s.model.artifact)]
    if s.rollback:
        signed.append((("spec", "rollback", "previous", "artifact"), s.rollback.previous.artifact))
    for at, artifact in signed:
        if artifact.signature and artifact.signature.verifier_image:
            yield at + ("signature", "verifierImage"), artifact.signature.verifier_image
    uris: list[tuple[Path, str]] = [(("spec", "model", "artifact", "uri"), s.model.artifact.uri),
                                    (("spec", "evaluation", "dataset", "uri"), s.evaluation.dataset.uri)]
    if s.rollback:
        uris.append((("spec", "rollback", "previous", "artifact", "uri"), s.rollback.previous.artifact.uri))
    for path, uri in uris:
        if uri.startswith(OCI):  # a Kubernetes image volume
            yield path, uri[len(OCI):]


def _registries(spec: ModelDeployment, allowed: Any) -> Iterator[tuple[Path, str]]:
    return _registries_of(images(spec), allowed)


def _registries_of(found: Iterable[tuple[Path, str]], allowed: Any) -> Iterator[tuple[Path, str]]:
    prefixes = [str(p) for p in allowed or []]
    for path, image in found:
        if not any(admits(p, image) for p in prefixes):
            yield path, f"image `{image}` is not from an allowed registry ({', '.join(prefixes) or 'none allowed'})"


def admits(entry: str, image: str) -> bool:
    """Whether an `allowedRegistries` entry admits `image`, at a name boundary: an entry
    ending in `/` is a prefix; otherwise the image continues it with `/` (a host admits its
    repositories, never `HOST.evil.example` nor `HOST:port`), or with `:`/`@` (a tag or a
    digest) when the entry names a repository."""
    if entry.endswith("/"):
        return image.startswith(entry)
    if not entry or not image.startswith(entry) or len(image) == len(entry):
        return False
    return image[len(entry)] == "/" or ("/" in entry and image[len(entry)] in ":@")


def _owner(spec: ModelDeployment, required: Any) -> Iterator[tuple[Path, str]]:
    if required and not spec.metadata.owner:
        yield ("metadata",), "`metadata.owner` is required"


def _data_digest(spec: ModelDeployment, required: Any) -> Iterator[tuple[Path, str]]:
    if required and spec.spec.training.data.digest is None:
        yield ("metadata",), "`spec.training.data.digest` is required"


def _min_replicas(spec: ModelDeployment, least: Any) -> Iterator[tuple[Path, str]]:
    scaling = spec.spec.serving.autoscaling
    if least is not None and scaling is not None and scaling.min_replicas < least:  # the autoscaler's floor
        yield (("spec", "serving", "autoscaling", "minReplicas"),
               f"`spec.serving.autoscaling.minReplicas` is {scaling.min_replicas}; at least {least} required")
    elif least is not None and scaling is None and spec.spec.serving.replicas < least:
        yield ("spec", "serving", "replicas"), f"`spec.serving.replicas` is {spec.spec.serving.replicas}; at least {least} required"


def _first_step(spec: ModelDeployment, most: Any, plan: Plan | None = None) -> Iterator[tuple[Path, str]]:
    """The steps up to and including the first `setWeight`, judged by the share of real
    traffic the cluster gives the canary (Argo's pod arithmetic without a router), a
    header route on a header every client sends as all of it, and a mirror as the share
    of requests it copies to the canary."""
    rollout = spec.spec.rollout
    if most is None or rollout.strategy == "blueGreen":
        return
    from mlspec.pipeline import strategy, traffic  # the rollout arithmetic, for this rule only

    settings = plan.settings if plan is not None else None
    surge = (settings.max_surge, settings.max_unavailable) if settings is not None else (None, None)
    if rollout.steps is None:  # the default steps, derived from the pods (strategy.default_steps)
        first = next((s["setWeight"] for s in strategy.default_steps(spec.spec, *surge) if "setWeight" in s), None)
        if first is not None and traffic.served_share(spec.spec, first, *surge)[0] > most:
            yield ("spec", "rollout"), (f"the default first canary step sends {first}% (the least share these pods "
                                        f"can give without a traffic router); at most {most}% allowed")
        return
    for i, step in enumerate(rollout.steps):
        at: Path = ("spec", "rollout", "steps", i)
        if step.header_route is not None:
            ordinary = sorted({m.header_name for m in step.header_route.match if m.header_name.lower() in ORDINARY_HEADERS})
            if ordinary:
                yield (at + ("headerRoute",), f"this header route matches `{ordinary[0]}`, a header every client sends: "
                       f"it can send all traffic to the canary before any weight; at most {most}% allowed (route on a "
                       "header only testers send, e.g. `x-canary`)")
        elif step.mirror is not None and step.mirror.percentage > most:
            yield (at + ("mirror", "percentage"), f"this step copies {step.mirror.percentage}% of live requests to "
                   f"the canary before any weight; at most {most}% allowed")
        elif step.set_weight is not None:
            share, replicas, canary, stable = traffic.served_share(spec.spec, step.set_weight, *surge)
            if share > most:
                yield (at + ("setWeight",), f"the first canary step (setWeight {step.set_weight}) "
                       f"{_served(share, step.set_weight, replicas, canary, stable)}; at most {most}% allowed")
            return


def _served(share: Fraction, weight: int, replicas: int, canary: int, stable: int) -> str:
    if share == weight and not replicas:
        return f"sends {weight}%"
    shown = f"{float(share):.1f}".rstrip("0").rstrip(".")
    return (f"sends {shown}% of the traffic ({canary} canary + {stable} stable pod(s) at {replicas} replica(s): "
            "Argo Rollouts approximates a weight by pod counts without a traffic router)")


def _relative(spec: ModelDeployment, required: Any) -> Iterator[tuple[Path, str]]:
    if required and spec.spec.rollback is not None and not any(t.max_drop is not None for t in spec.spec.evaluation.thresholds):
        yield (("spec", "evaluation", "thresholds"),
               "a previous release exists: a `maxDrop` threshold (relative to it) is required")


def _routing(spec: ModelDeployment, required: Any) -> Iterator[tuple[Path, str]]:
    rollout = spec.spec.rollout
    if required and rollout.strategy != "blueGreen" and rollout.traffic_routing is None:
        yield (("spec", "rollout"),
               "exact traffic weights are required: set `rollout.trafficRouting` or `strategy: blueGreen`")


def _signature(spec: ModelDeployment, required: Any) -> Iterator[tuple[Path, str]]:
    if required and spec.spec.model.artifact.signature is None:
        yield (("spec", "model", "artifact"),
               "a model signature is required: set `model.artifact.signature` (an OpenSSF Model Signing bundle)")


_CHECKS = {
    "allowedRegistries": _registries, "requireOwner": _owner, "requireDataDigest": _data_digest,
    "minReplicas": _min_replicas, "requireRelativeThreshold": _relative,
    "requireTrafficRouting": _routing, "requireSignature": _signature,
}



def _peak_pods(plan: Plan | None, most: Any) -> Iterator[tuple[Path, str]]:
    if plan is not None and most is not None and plan.peak.pods > most:
        # where the capacity note points (the surge setting, GPUs, maxReplicas), else the count
        yield plan.at if plan.noted else ("spec", "serving", "replicas"), f"the rollout runs up to {plan.peak.pods} pod(s) at once ({plan.peak.why}); at most {most} allowed"


def _peak_resources(plan: Plan | None, most: Any) -> Iterator[tuple[Path, str]]:
    if plan is None or not isinstance(most, dict):
        return
    for name, cap in sorted(most.items()):
        total = plan.peak.totals.get(name)
        if total is not None and quantity_value(total) > quantity_value(str(cap)):
            yield plan.at, (f"the rollout requests {total} {name} at its peak ({plan.peak.pods} pod(s): "
                            f"{plan.peak.why}); at most {cap} allowed")


_PEAK_CHECKS = {"maxPeakPods": _peak_pods, "maxPeakExtendedResources": _peak_resources}
