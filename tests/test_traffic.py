"""Traffic: exact weights through a router, blue-green, the exposure warning
without a router, and evaluating each release once."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from mlspec import compile_spec
from mlspec.cli.main import main

MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
RECOMMENDER = ROOT / "examples" / "recommender.yaml"


def _spec(tmp_path, text):
    path = tmp_path / "m.mlspec.yaml"
    path.write_text(text)
    return path


def test_exposure_warning_names_the_weight_and_the_real_share_and_exits_0(tmp_path):
    spec = _spec(tmp_path, MINIMAL + "  rollout:\n    steps: [{setWeight: 10}, {pause: 5m}, {setWeight: 50}]\n")
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 0
    [warning] = [l for l in result.stderr.splitlines() if ": warning: " in l]
    line = MINIMAL.count("\n") + 2
    assert warning.startswith(f"{spec}:{line}:25: warning: setWeight 10 ")
    assert "runs 1 canary + 2 stable pod(s), so the canary gets 33.3% of the traffic" in warning
    github = CliRunner().invoke(main, ["validate", str(spec), "--format", "github"])
    assert github.exit_code == 0 and github.stdout.startswith(f"::warning file={spec},line={line},col=25::")
    built = CliRunner().invoke(main, ["build", str(spec), "-o", str(tmp_path / "out")])
    assert built.exit_code == 0 and ": warning: setWeight 10 " in built.stderr
    assert (tmp_path / "out" / "default" / "churn" / "rollout.yaml").exists()


def test_strict_turns_warnings_into_errors_and_writes_nothing(tmp_path):
    spec = _spec(tmp_path, MINIMAL + "  rollout:\n    steps: [{setWeight: 10}]\n")
    for command in (["validate", str(spec), "--strict"], ["build", str(spec), "-o", str(tmp_path / "out"), "--strict"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and ": error: setWeight 10 " in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_router_or_enough_replicas_silences_the_warning(tmp_path):
    routed = MINIMAL + ("  rollout:\n    steps: [{setWeight: 10}]\n    trafficRouting:\n"
                        "      nginx: {host: churn.acme.example}\n")
    many = MINIMAL.replace("  serving:\n", "  serving:\n    replicas: 10\n") + "  rollout:\n    steps: [{setWeight: 10}]\n"
    for text in (routed, many):
        result = CliRunner().invoke(main, ["validate", str(_spec(tmp_path, text))])
        assert result.exit_code == 0 and "warning" not in result.stderr


def _objects(env: str) -> dict[str, dict]:
    files = compile_spec(RECOMMENDER.read_bytes(), source="recommender.yaml", env=env)
    return {rel.rsplit("/", 1)[1]: yaml.safe_load(t) for rel, t in files.items() if not rel.endswith("kustomization.yaml")}


@pytest.mark.parametrize("env, file, kind, routing", [
    ("lab", "ingress.yaml", "Ingress", {"nginx": {"stableIngress": "recommender"}}),
    ("prod", "virtualservice.yaml", "VirtualService",
     {"istio": {"virtualService": {"name": "recommender", "routes": ["primary"]}}}),
    ("edge", "httproute.yaml", "HTTPRoute",
     {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "recommender", "namespace": "shop-edge"}}}),
])
def test_each_router_gets_its_object_and_the_rollout_points_at_it(env, file, kind, routing):
    objects = _objects(env)
    canary = objects["rollout.yaml"]["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == routing
    assert (canary["stableService"], canary["canaryService"]) == ("recommender-stable", "recommender-canary")
    router = objects[file]
    assert router["kind"] == kind and router["metadata"]["name"] == "recommender"
    # The offline evaluation still comes before the first weight; online analysis runs in the background.
    steps = canary["steps"]
    assert steps[0] == {"analysis": {"templates": [{"templateName": "recommender-offline-eval"}]}}
    assert "setWeight" in steps[1] and canary["analysis"]["templates"] == [{"templateName": "recommender-online"}]
    if kind == "VirtualService":
        [route] = router["spec"]["http"]
        assert route["name"] == "primary"
        assert [(d["destination"]["host"], d["weight"]) for d in route["route"]] == [
            ("recommender-stable", 100), ("recommender-canary", 0)]
        assert router["spec"]["gateways"] == ["istio-ingress/public"]
    if kind == "HTTPRoute":
        [rule] = router["spec"]["rules"]
        assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("recommender-stable", 100),
                                                                           ("recommender-canary", 0)]
    if kind == "Ingress":
        [rule] = router["spec"]["rules"]
        assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "recommender-stable"


def test_blue_green_gates_promotion_and_waits_for_a_person():
    objects = _objects("staging")
    strategy = objects["rollout.yaml"]["spec"]["strategy"]
    assert list(strategy) == ["blueGreen"]
    bg = strategy["blueGreen"]
    assert bg["autoPromotionEnabled"] is False
    assert (bg["activeService"], bg["previewService"]) == ("recommender-active", "recommender-preview")
    assert bg["prePromotionAnalysis"]["templates"] == [{"templateName": "recommender-offline-eval"}]
    assert bg["postPromotionAnalysis"]["templates"] == [{"templateName": "recommender-online"}]
    assert {"name": "service-name", "value": "recommender-active"} in bg["postPromotionAnalysis"]["args"]
    assert {"service-active.yaml", "service-preview.yaml"} <= set(objects)
    assert not {"service-stable.yaml", "service-canary.yaml", "virtualservice.yaml"} & set(objects)


def test_each_release_is_evaluated_once():
    """The evaluation Job evaluates; the Rollout's offline step only waits for its verdict.
    A change that does not touch the evaluation keeps the same Job (no second run)."""
    objects = _objects("prod")
    job = objects["job-eval.yaml"]
    template = objects["analysistemplate-offline-eval.yaml"]["spec"]["metrics"][0]["provider"]["job"]["spec"]
    [waiter] = template["template"]["spec"]["containers"]
    assert waiter["command"][:4] == ["python3", "/mlspec/gate/jobwait.py", "--job", job["metadata"]["name"]]
    assert "initContainers" not in template["template"]["spec"]  # no evaluator, no artifact fetch here
    assert template["template"]["spec"]["serviceAccountName"] == "recommender-eval-reader"
    role = objects["role-eval-reader.yaml"]
    assert role["rules"] == [{"apiGroups": ["batch"], "resources": ["jobs"],
                              "resourceNames": [job["metadata"]["name"]], "verbs": ["get"]}]
    text = RECOMMENDER.read_text()
    rescaled = compile_spec(text.replace("    replicas: 2\n", "    replicas: 5\n"), source="r.yaml", env="prod")
    assert yaml.safe_load(rescaled["prod/recommender/job-eval.yaml"])["metadata"]["name"] == job["metadata"]["name"]
    retrained = compile_spec(text.replace("min: 0.31", "min: 0.32"), source="r.yaml", env="prod")
    assert yaml.safe_load(retrained["prod/recommender/job-eval.yaml"])["metadata"]["name"] != job["metadata"]["name"]


def test_an_overlay_router_replaces_the_spec_router():
    canary = _objects("edge")["rollout.yaml"]["spec"]["strategy"]["canary"]
    assert list(canary["trafficRouting"]) == ["plugins"]  # not istio + gatewayAPI merged


def test_argocd_application_ignores_exactly_the_fields_the_controller_rewrites():
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "application.yaml").read_text())
    ignored = {(d["group"], d["kind"]): d for d in app["spec"]["ignoreDifferences"]}
    assert set(ignored) == {("networking.istio.io", "VirtualService"), ("gateway.networking.k8s.io", "HTTPRoute")}
    for env, file in (("prod", "virtualservice.yaml"), ("edge", "httproute.yaml")):
        obj = _objects(env)[file]
        rule = ignored[(obj["apiVersion"].split("/")[0], obj["kind"])]
        for pointer in rule["jsonPointers"]:
            node = obj
            for part in pointer.strip("/").split("/"):
                node = node[int(part)] if isinstance(node, list) else node[part]
            assert isinstance(node, int), (pointer, node)  # each pointer lands on a weight the controller sets


def test_diff_reports_strategy_and_router_changes(tmp_path):
    text = RECOMMENDER.read_text()
    old, new = tmp_path / "old.mlspec.yaml", tmp_path / "new.mlspec.yaml"
    old.write_text(text)
    routerless = text.replace("    trafficRouting:\n      istio: {host: recommender.shop.acme.example, gateways: [istio-ingress/public]}\n", "")
    assert routerless != text
    new.write_text(routerless)
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"field": "traffic router", "old": "istio (recommender.shop.acme.example)",
            "new": "none (weights by pod counts)"} in report["changes"]
    [alert] = report["alerts"]
    assert "removed" in alert and "no longer exact" in alert
    markdown = CliRunner().invoke(main, ["diff", str(old), str(new), "--env", "prod", "--format", "markdown"])
    assert "> [!WARNING]\n> Traffic: traffic router **removed**" in markdown.stdout
    blue = tmp_path / "blue.mlspec.yaml"
    blue.write_text(routerless.replace("    strategy: canary\n", "    strategy: blueGreen\n").replace(
        "    steps:\n      - setWeight: 5\n      - pause: 10m\n      - setWeight: 20\n      - pause: 20m\n"
        "      - setWeight: 50\n      - pause: manual\n", ""))
    switched = json.loads(CliRunner().invoke(main, ["diff", str(new), str(blue), "--env", "prod",
                                                    "--format", "json"]).stdout)
    assert {"field": "rollout strategy", "old": "canary", "new": "blueGreen"} in switched["changes"]
