"""`mlspec.pipeline.policy` without the CLI: the images a rule judges, the rules in force per
environment, the autoscaler's floor, the build budget with the platform's defaults. Fast:
first in the mutation run's set for `policy`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlspec.files import loader
from mlspec.pipeline import policy, rules
from mlspec.platform import platformfile, runtimes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from test_platform import H, PLATFORM, REG, SPEC  # noqa: E402

FOREIGN = f"docker.io/x/y@sha256:{H}"
SIGNATURE = "signature: {bundle: s3://m/sig, method: key, publicKey: {configMap: keys, key: k.pub}, verifierImage: IMAGE}"
ROLLBACK = ('  rollback:\n    previous:\n      version: "0.9.0"\n      artifact: {uri: "URI", '
            f'digest: "sha256:{H}"ROLLSIG}}\n      dataVersion: "2026-10-01"\n')
ARTIFACT = '    artifact: {uri: "s3://models/churn/1.0.0/model.joblib", digest: "sha256:' + H + '"}\n'


def _spec(edit=lambda t: t, platform: str = PLATFORM):
    text = edit(SPEC.replace("NAME", "churn"))
    parsed = platformfile.parse(platform, "p.yaml")
    doc = platformfile.under(parsed, loader.load(text, "churn.yaml"), None)
    return doc, rules.validate(doc, known_runtimes=runtimes.registry(parsed))


def _at(path: str, image: str):
    """A spec edit that puts `image` at `path` (every other image stays the platform's)."""
    def edit(text: str) -> str:
        if path == "serving.verifyImage":
            return text.replace("  evaluation:\n", f"  serving: {{verifyImage: {image}}}\n  evaluation:\n", 1)
        if path == "model.artifact.signature.verifierImage":
            return text.replace(ARTIFACT, ARTIFACT[:-2] + ", " + SIGNATURE.replace("IMAGE", image) + "}\n")
        if path.startswith("rollback.previous.artifact"):
            sig = ", " + SIGNATURE.replace("IMAGE", image) if path.endswith("verifierImage") else ""
            uri = f"oci://{image}" if path.endswith("uri") else "s3://models/churn/0.9.0/m.joblib"
            return text.replace("  environments:\n", ROLLBACK.replace("URI", uri).replace("ROLLSIG", sig)
                                + "  environments:\n")
        if path == "model.artifact.uri":
            return text.replace("s3://models/churn/1.0.0/model.joblib", f"oci://{image}")
        if path == "evaluation.dataset.uri":
            return text.replace("gs://data/churn-holdout", f"oci://{image}")
        raise AssertionError(path)
    return edit


PLACES = {  # where the spec names an image -> the path the error points at
    "serving.verifyImage": ("spec", "serving", "verifyImage"),
    "model.artifact.signature.verifierImage": ("spec", "model", "artifact", "signature", "verifierImage"),
    "rollback.previous.artifact.signature.verifierImage":
        ("spec", "rollback", "previous", "artifact", "signature", "verifierImage"),
    "model.artifact.uri": ("spec", "model", "artifact", "uri"),
    "evaluation.dataset.uri": ("spec", "evaluation", "dataset", "uri"),
    "rollback.previous.artifact.uri": ("spec", "rollback", "previous", "artifact", "uri"),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_every_image_the_output_runs_is_judged_at_its_own_path(place):
    _, spec = _spec(_at(place, FOREIGN))
    found = list(policy._registries(spec, [f"{REG}/"]))
    assert found == [(PLACES[place], f"image `{FOREIGN}` is not from an allowed registry ({REG}/)")]
    # the neighbour: the same place holding an allowed image is not judged
    _, ok = _spec(_at(place, f"{REG}/x/y@sha256:{H}"))
    assert list(policy._registries(ok, [f"{REG}/"])) == []
    # an `oci://` prefix is the image volume's, not the image's
    if place.endswith("uri"):
        assert (PLACES[place], f"{REG}/x/y@sha256:{H}") in list(policy.images(ok))


def test_no_entry_allows_no_image_and_says_so():
    _, spec = _spec()
    found = list(policy._registries(spec, []))
    assert found and all(message.endswith("(none allowed)") for _, message in found)
    assert [path for path, _ in found] == [path for path, _ in policy.images(spec)]


def test_the_images_are_listed_once_each_in_order():
    _, spec = _spec()
    assert [path for path, _ in policy.images(spec)] == [
        ("spec", "serving", "image"), ("spec", "serving", "storageInitializer", "image"),
        ("spec", "training", "environment", "image"), ("spec", "evaluation", "image"),
        ("spec", "evaluation", "gateImage")]


# --- the rules in force in an environment -------------------------------------------------

RULED = PLATFORM.replace("      policy: {minReplicas: 3}", "      policy: {minReplicas: 3, requireOwner: false}")


def test_an_environments_rule_replaces_the_global_one_of_its_name_only():
    platform = platformfile.parse(RULED, "p.yaml")
    assert policy.rules(platform, "prod") == {"allowedRegistries": ([f"{REG}/"], 17), "requireOwner": (False, 22),
                                              "minReplicas": (3, 22)}
    assert policy.rules(platform, "staging") == {"allowedRegistries": ([f"{REG}/"], 17), "requireOwner": (True, 18)}
    assert policy.rules(platform, "other") == policy.rules(platform, "staging")


def test_the_rules_are_listed_in_their_checking_order():
    platform = platformfile.parse(PLATFORM.replace("    requireOwner: true\n", "    maxPeakPods: 9\n    requireOwner: true\n"
                                                   "    minReplicas: 1\n"), "p.yaml")
    assert list(policy.rules(platform, "staging")) == ["allowedRegistries", "requireOwner", "minReplicas", "maxPeakPods"]


# --- minReplicas: the autoscaler's floor, else the count ----------------------------------

SCALED = "  serving: {autoscaling: {minReplicas: MIN, maxReplicas: 6, metrics: [{cpu: 70}]}}\n  evaluation:\n"


@pytest.mark.parametrize("floor, least, refused", [(2, 3, True), (3, 3, False), (4, 3, False)])
def test_min_replicas_judges_the_autoscalers_floor_not_the_count(floor, least, refused):
    _, spec = _spec(lambda t: t.replace("  evaluation:\n", SCALED.replace("MIN", str(floor)), 1))
    found = list(policy._min_replicas(spec, least))
    # the count (its default, 2) is below the bound too: the autoscaler owns it, so it is not judged
    assert spec.spec.serving.replicas == 2
    assert found == ([(("spec", "serving", "autoscaling", "minReplicas"),
                       f"`spec.serving.autoscaling.minReplicas` is {floor}; at least {least} required")] if refused else [])


@pytest.mark.parametrize("count, refused", [(2, True), (3, False)])
def test_min_replicas_judges_the_count_without_an_autoscaler(count, refused):
    _, spec = _spec(lambda t: t.replace("  evaluation:\n", f"  serving: {{replicas: {count}}}\n  evaluation:\n", 1))
    assert list(policy._min_replicas(spec, 3)) == ([(("spec", "serving", "replicas"),
                                                      f"`spec.serving.replicas` is {count}; at least 3 required")]
                                                    if refused else [])
    assert list(policy._min_replicas(spec, None)) == []


# --- problems: names, positions, the environment ------------------------------------------


def test_a_violation_names_the_environment_only_when_the_spec_declares_it():
    platform = platformfile.parse(RULED, "p.yaml")
    doc, spec = _spec(lambda t: t.replace("  owner: team-a\n", ""), RULED)
    declared = policy.problems(platform, doc, spec, "staging", True)
    assert [d.message for d in declared] == [
        "in environment `staging`: `metadata.owner` is required (policy requireOwner, p.yaml:18)"]
    assert (declared[0].source, declared[0].line, declared[0].col, declared[0].rule) == ("churn.yaml", 3, 1, "platform-policy")
    assert not [d for d in policy.problems(platform, doc, spec, "prod", True) if "owner" in d.message]  # relaxed
    undeclared = policy.problems(platform, doc, spec, "staging", False)
    assert [d.message for d in undeclared] == ["`metadata.owner` is required (policy requireOwner, p.yaml:18)"]
    assert policy.problems(None, doc, spec, "staging", True) == []


def test_an_undeclared_environment_is_reported_only_for_a_spec_that_declares_environments():
    platform = platformfile.parse(PLATFORM, "p.yaml")
    doc, spec = _spec()
    found = policy.problems(platform, doc, spec, "production", True)
    assert [(d.line, d.col, d.rule) for d in found] == [(23, 3, "unknown-environment")]  # `environments`: it has no key of that name
    assert found[0].message.startswith("environment `production` is not one the platform file declares (prod, staging; "
                                       "p.yaml:19)")
    assert policy.problems(platform, doc, spec, "production", False) == []
    assert policy.problems(platform, doc, spec, "staging", True) == []


def test_naming_adds_the_spec_to_a_message_in_another_file_only():
    platform = platformfile.parse(PLATFORM, "p.yaml")
    doc, spec = _spec()
    here = policy.problems(platform, doc, spec, "staging", True) + [loader.diagnostic(doc, ("metadata",), "m", rule="r")]
    assert [policy.naming(d, "churn.yaml") for d in here] == here
    there = loader.diagnostic(platform.doc, ("spec", "defaults"), "m", rule="r")
    assert policy.naming(there, "churn.yaml").message == "spec churn.yaml: m"
    assert policy.naming(there, "p.yaml") == there


def test_the_first_step_rule_skips_a_blue_green_rollout_and_an_unset_bound():
    blue = _spec(lambda t: t.replace("  rollout:\n", "  rollout:\n    strategy: blueGreen\n"))[1]
    canary = _spec()[1]
    assert list(policy._first_step(blue, 5)) == []  # no canary weights: nothing to bound
    assert [path for path, _ in policy._first_step(canary, 5)] == [("spec", "rollout")]  # the default steps: 10%
    assert list(policy._first_step(canary, None)) == []  # `maxFirstStepWeight: null` (an environment unsetting it)


ROUTED = "  rollout:\n    trafficRouting: {nginx: {host: churn.acme.example}}\n    steps: [{setWeight: FIRST}, {setWeight: 60}]\n"


@pytest.mark.parametrize("weight, refused", [(25, False), (26, True), (24, False)])
def test_a_routed_first_weight_is_bounded_at_the_bound_and_one_past_it(weight, refused):
    _, spec = _spec(lambda t: t.replace("  rollout:\n", ROUTED.replace("FIRST", str(weight))))
    found = list(policy._first_step(spec, 25))
    assert found == ([(("spec", "rollout", "steps", 0, "setWeight"),
                       f"the first canary step (setWeight {weight}) sends {weight}%; at most 25% allowed")] if refused else [])


def test_exact_weights_are_required_of_a_canary_only():
    blue = _spec(lambda t: t.replace("  rollout:\n", "  rollout:\n    strategy: blueGreen\n"))[1]
    routed = _spec(lambda t: t.replace("  rollout:\n", ROUTED.replace("FIRST", "20")))[1]
    assert list(policy._routing(blue, True)) == [] and list(policy._routing(routed, True)) == []
    assert [path for path, _ in policy._routing(_spec()[1], True)] == [("spec", "rollout")]
    assert list(policy._routing(_spec()[1], False)) == []


def test_the_budget_error_points_at_the_global_defaults_on_a_tie():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from test_guarantees_platform import _padding, _spec_of

    envs = [f"e{i}" for i in range(63)]
    spec = _spec_of(loader.MAX_BUILD_CHARS // 64 - 10, [*envs, "big"])
    text = ("apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n"
            f"  defaults: {{{_padding(100)}}}\n  environments:\n    big:\n      defaults: {{{_padding(6400)}}}\n")
    platform = platformfile.parse(text, "p.yaml")
    tie = policy.budget_problem(platform, spec, [*envs, "big"], True)  # 64 x 100 global, 6400 of `big`
    assert tie is not None and (tie.line, tie.col) == (4, 3)
    more = platformfile.parse(text.replace(_padding(6400), _padding(6401)), "p.yaml")
    over = policy.budget_problem(more, spec, [*envs, "big"], True)
    assert over is not None and (over.line, over.col) == (7, 7)


@pytest.mark.parametrize("entry, image, admitted", [
    (REG, f"registry.evil.example/x@sha256:{H}", False),  # another host of the same length
    (f"{REG}/ml", f"{REG}/xx/serve@sha256:{H}", False),   # another repository of the same length
    ("", "/x", False),                                     # no entry admits nothing, not even a path
    (REG, f"{REG}/x", True),
])
def test_an_entry_is_a_prefix_of_the_image_before_any_boundary(entry, image, admitted):
    assert policy.admits(entry, image) is admitted


def test_the_served_share_is_stated_plainly_only_when_exact_and_unapproximated():
    from fractions import Fraction

    assert policy._served(Fraction(20), 20, 0, 0, 0) == "sends 20%"  # a router: exact
    # without a router the same share is stated with its pod counts, even when it equals the weight
    assert policy._served(Fraction(50), 50, 2, 1, 1).startswith("sends 50% of the traffic (1 canary + 1 stable pod(s) "
                                                                "at 2 replica(s): ")
    assert policy._served(Fraction(100, 3), 10, 2, 1, 2).startswith("sends 33.3% of the traffic (1 canary + 2 stable")
    assert policy._served(Fraction(50), 10, 1, 1, 1).startswith("sends 50% of the traffic")


def test_the_peak_caps_need_a_plan_and_a_mapping():
    from mlspec.pipeline import resolve

    platform = platformfile.parse(PLATFORM, "p.yaml")
    doc = loader.load(SPEC.replace("NAME", "churn").replace("  evaluation:\n", "  serving: {replicas: 6, resources: "
                                                            "{limits: {nvidia.com/gpu: 2}}}\n  evaluation:\n", 1), "s.yaml")
    _, releases = resolve.resolve(doc, "staging", platformfile.with_platform(resolve.Context(), platform))
    plan = releases[0].plan
    assert [message for _, message in policy._peak_resources(plan, {"nvidia.com/gpu": 8})] == [
        "the rollout requests 12 nvidia.com/gpu at its peak (6 pod(s): no pod beyond the 6 replica(s): 1 replaced at a "
        "time); at most 8 allowed"]
    assert list(policy._peak_resources(plan, {"nvidia.com/gpu": 12})) == []  # at the bound
    assert list(policy._peak_resources(plan, {"example.com/fpga": 1})) == []  # a resource it does not request
    assert list(policy._peak_resources(None, {"nvidia.com/gpu": 8})) == []
    assert list(policy._peak_resources(plan, None)) == []
    assert list(policy._peak_pods(None, 1)) == [] and list(policy._peak_pods(plan, None)) == []
    assert [message for _, message in policy._peak_pods(plan, 5)] == [
        "the rollout runs up to 6 pod(s) at once (no pod beyond the 6 replica(s): 1 replaced at a time); at most 5 allowed"]
    assert list(policy._peak_pods(plan, 6)) == []


def test_a_first_share_below_the_bound_passes_for_default_steps_and_a_mirror():
    many = _spec(lambda t: t.replace("  evaluation:\n", "  serving: {replicas: 10}\n  evaluation:\n", 1))[1]
    assert list(policy._first_step(many, 25)) == []  # the default first step: 1 of 10 pods, 10%
    assert list(policy._first_step(many, 10)) == []  # at the bound
    assert list(policy._first_step(many, 9)) != []
    mirrored = ("  rollout:\n    trafficRouting: {istio: {host: churn.acme.example, gateways: [istio-ingress/public]}}\n"
                "    steps: [{mirror: {percentage: MIRROR}}, {pause: 10m}, {setWeight: 10}]\n")
    for percentage, refused in ((5, False), (25, False), (26, True)):
        _, spec = _spec(lambda t: t.replace("  rollout:\n", mirrored.replace("MIRROR", str(percentage))))
        assert [path for path, _ in policy._first_step(spec, 25)] == (
            [("spec", "rollout", "steps", 0, "mirror", "percentage")] if refused else [])


def test_a_signature_is_required_only_when_the_rule_says_so():
    unsigned = _spec()[1]
    signed = _spec(_at("model.artifact.signature.verifierImage", f"{REG}/v@sha256:{H}"))[1]
    assert [path for path, _ in policy._signature(unsigned, True)] == [("spec", "model", "artifact")]
    assert list(policy._signature(unsigned, False)) == [] and list(policy._signature(signed, True)) == []


def test_the_first_weight_is_judged_at_the_rollouts_own_surge():
    from mlspec.pipeline import resolve

    gpu = ("  serving: {replicas: 4, resources: {limits: {nvidia.com/gpu: 1}}}\n  evaluation:\n")
    text = SPEC.replace("NAME", "churn").replace("  evaluation:\n", gpu, 1).replace(
        "  rollout:\n", "  rollout:\n    steps: [{setWeight: 20}, {setWeight: 60}]\n")
    platform = platformfile.parse(PLATFORM, "p.yaml")
    _, [release] = resolve.resolve(loader.load(text, "s.yaml"), "staging", platformfile.with_platform(resolve.Context(), platform))
    # a GPU model rolls with maxSurge 0: 1 canary + 3 stable pods, 25% (Argo's default surge would give 1 + 4, 20%)
    assert [message for _, message in policy._first_step(release.spec, 20, release.plan)] == [
        "the first canary step (setWeight 20) sends 25% of the traffic (1 canary + 3 stable pod(s) at 4 replica(s): "
        "Argo Rollouts approximates a weight by pod counts without a traffic router); at most 20% allowed"]
    assert list(policy._first_step(release.spec, 25, release.plan)) == []
    assert list(policy._first_step(release.spec, 20)) == []  # no plan: Argo's default surge


def test_a_runtime_image_outside_the_registries_names_the_runtime_model_and_rule_line():
    runtime = f"  runtimes:\n    tf:\n      image: docker.io/tf/serving@sha256:{H}\n      port: 8501\n      protocol: v1\n"
    platform = platformfile.parse(PLATFORM + runtime, "p.yaml")
    doc, spec = _spec(lambda t: t.replace("  evaluation:\n", "  serving: {runtime: tf}\n  evaluation:\n", 1),
                      PLATFORM + runtime)
    found = policy.problems(platform, doc, spec, "staging", True)
    assert [(d.source, d.line, d.col, d.message) for d in found] == [(
        "p.yaml", 26, 14, f"spec churn.yaml: in environment `staging`: image `docker.io/tf/serving@sha256:{H}` is not "
        f"from an allowed registry ({REG}/) (runtime `tf` of model `churn`; policy allowedRegistries, p.yaml:17)")]
    assert [d.message.split(": image")[0] for d in policy.problems(platform, doc, spec, "staging", False)] == [
        "spec churn.yaml"]


def test_an_extended_resource_below_its_cap_passes():
    from mlspec.pipeline import resolve

    doc = loader.load(SPEC.replace("NAME", "churn").replace("  evaluation:\n", "  serving: {replicas: 6, resources: "
                                                            "{limits: {nvidia.com/gpu: 2}}}\n  evaluation:\n", 1), "s.yaml")
    platform = platformfile.parse(PLATFORM, "p.yaml")
    _, [release] = resolve.resolve(doc, "staging", platformfile.with_platform(resolve.Context(), platform))
    assert list(policy._peak_resources(release.plan, {"nvidia.com/gpu": 13})) == []
    assert list(policy._peak_resources(release.plan, {"nvidia.com/gpu": "11"})) != []


def test_a_header_route_on_two_ordinary_headers_names_the_first_in_order():
    route = ("  rollout:\n    trafficRouting: {istio: {host: churn.acme.example, gateways: [istio-ingress/public]}}\n"
             "    steps: [{headerRoute: {match: [{headerName: user-agent, headerValue: {exact: a}}, {headerName: x-canary, "
             "headerValue: {exact: b}}, {headerName: Cookie, headerValue: {exact: c}}]}}, {pause: 1h}, {setWeight: 10}]\n")
    _, spec = _spec(lambda t: t.replace("  rollout:\n", route))
    [(path, message)] = policy._first_step(spec, 25)
    assert path == ("spec", "rollout", "steps", 0, "headerRoute")
    assert message.startswith("this header route matches `Cookie`, a header every client sends")


def test_a_violation_names_its_environment_unless_told_the_spec_declares_none():
    platform = platformfile.parse(RULED, "p.yaml")
    doc, spec = _spec(lambda t: t.replace("  owner: team-a\n", ""), RULED)
    assert [d.message for d in policy.problems(platform, doc, spec, "staging")] == [
        "in environment `staging`: `metadata.owner` is required (policy requireOwner, p.yaml:18)"]
