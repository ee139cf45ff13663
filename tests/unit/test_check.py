"""check.py's cross-field rules at their boundaries (equal is allowed, one beyond is not) and
the wording of pydantic's errors in YAML terms. (Secret patterns: tests of the scanner.)"""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT

from mlspec.files import loader
from mlspec.files.errors import SpecError
from mlspec.pipeline import rules as pipeline_rules
from mlspec.spec import check
from mlspec.spec.model import ModelDeployment

MINIMAL = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
MINIMAL_TEXT = (ROOT / "examples" / "minimal.yaml").read_text()


def rules(**changes) -> list[tuple[tuple, str]]:
    """semantic_problems of MINIMAL with `section={...}` merged into spec (metadata for `metadata`)."""
    doc = copy.deepcopy(MINIMAL)
    for section, value in changes.items():
        target = doc if section == "metadata" else doc["spec"]
        if isinstance(value, dict) and isinstance(target.get(section), dict):
            target[section].update(value)
        else:
            target[section] = value
    spec = ModelDeployment.model_validate(doc)
    return [*check.semantic_problems(spec), *pipeline_rules.problems(spec)]


def test_minimal_has_no_problems():
    assert rules() == []


def test_name_length_boundary():
    assert check.EVAL_JOB_SUFFIX_LEN == 16 and len(check.LONGEST_SUFFIX) < 16
    assert rules(metadata={"name": "a" * 47}) == []
    [(at, message)] = rules(metadata={"name": "a" * 48})
    assert at == ("metadata", "name")
    assert message.startswith("`metadata.name` 'aaaa") and "is 48 characters" in message
    assert message.endswith("must fit 63, so use at most 47")
    assert f"`{'a' * 48}-offline-eval`" in message


def test_threshold_bounds():
    assert rules(evaluation={"thresholds": [{"metric": "f1", "min": 0.5, "max": 0.5}]}) == []
    [(at, message)] = rules(evaluation={"thresholds": [{"metric": "f1", "min": 0.5, "max": 0.4}]})
    assert at == ("spec", "evaluation", "thresholds", 0, "min")
    assert message == "threshold for `f1`: `min` 0.5 is greater than `max` 0.4"
    [(at, message)] = rules(evaluation={"thresholds": [{"metric": "f1", "min": 0.1}, {"metric": "auc", "maxDrop": 0}]})
    assert at == ("spec", "evaluation", "thresholds", 1, "maxDrop")
    assert message.startswith("threshold for `auc`: `maxDrop` needs a baseline")
    assert rules(evaluation={"baseline": "0.9.0", "thresholds": [{"metric": "auc", "maxDrop": 0}]}) == []


def test_the_baseline_may_not_be_the_candidate():
    [(at, message)] = rules(evaluation={"baseline": "1.0.0"})
    assert at == ("spec", "evaluation", "baseline")
    assert message == "the baseline is the candidate itself ('1.0.0'); compare against the previous release"
    previous = {"previous": {"version": "1.0.0", "artifact": MINIMAL["spec"]["model"]["artifact"],
                             "dataVersion": "x"}}
    found = rules(rollback=previous)
    assert [at for at, _ in found] == [("spec", "rollback", "previous", "version")] * 2
    assert found[1][1] == "`rollback.previous.version` equals the model version '1.0.0'"
    previous["previous"]["version"] = "0.9.0"
    assert rules(rollback=previous) == []


def test_weights_may_stay_equal_but_not_decrease():
    assert rules(rollout={"steps": [{"setWeight": 20}, {"pause": "1m"}, {"setWeight": 20}]}) == []
    [(at, message)] = rules(rollout={"steps": [{"setWeight": 20}, {"pause": "1m"}, {"setWeight": 19}]})
    assert at == ("spec", "rollout", "steps", 2, "setWeight")
    assert message == "canary weight 19 is lower than the previous step's 20; weights must not decrease"
    [(at, message)] = rules(rollout={"steps": [{"setWeight": 20}, {"setWeight": 30, "pause": "1m"}, {}]})[:1]
    assert at == ("spec", "rollout", "steps", 1)
    assert len(rules(rollout={"steps": [{"setWeight": 20}, {"setWeight": 30, "pause": "1m"}, {}]})) == 2


def _analysis(*metrics: dict) -> dict:
    return {"analysis": {"prometheus": {"address": "http://prometheus:9090"}, "metrics": list(metrics)}}


def test_online_metric_rules():
    ok = {"name": "errors", "query": "sum(x{service=\"{{args.service-name}}\", ns=\"{{ args.namespace }}\"})",
          "min": 0.1, "max": 0.1}
    assert rules(rollout=_analysis(ok)) == []
    found = rules(rollout=_analysis(ok, {**ok, "min": 0.2}, {"name": "lat", "query": "q{{args.pod}}", "max": 1}))
    assert found == [  # the query's `{{args.*}}` is no rule of the model: the text scan checks it (below)
        (("spec", "rollout", "analysis", "metrics", 1, "name"), "duplicate online metric name `errors`"),
        (("spec", "rollout", "analysis", "metrics", 1, "min"), "online metric `errors`: `min` 0.2 is greater than `max` 0.1"),
    ]


def _with_queries(*queries: str) -> str:
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["rollout"] = _analysis(*({"name": f"m{i}", "query": q, "max": 1} for i, q in enumerate(queries)))
    return yaml.safe_dump(doc, sort_keys=False, width=1000)


def test_a_query_may_use_only_the_arguments_mlspec_passes():
    ok = "sum(x{service=\"{{args.service-name}}\", ns=\"{{ args.namespace }}\", h=\"{{args.canary-hash}}\"})"
    assert check.validate(loader.load(_with_queries(ok, "v{{args.model-version}}"), "m.yaml")) is not None
    text = _with_queries(ok, "q{{args.pod}}", "x{{ args.namespace }}{{args.ns}}")
    at = [i + 1 for i, line in enumerate(text.splitlines()) if "query:" in line]
    assert problems(text) == [  # at the value, in document order; the arguments mlspec passes are not reported
        f"{at[1]}:16: query references `{{{{args.pod}}}}`, which mlspec does not pass; available: service-name, "
        "namespace, canary-hash, model-version",
        f"{at[2]}:16: query references `{{{{args.ns}}}}`, which mlspec does not pass; available: service-name, "
        "namespace, canary-hash, model-version",
    ]


def test_a_template_tag_outside_a_query_argument_is_refused_where_it_is():
    text = _with_queries("q{{args.namespace}} {{ other }}").replace("name: m0", "name: m{{x}}")
    [name_at] = [i + 1 for i, line in enumerate(text.splitlines()) if "name: m{{x}}" in line]
    tag = ": Argo Rollouts reads `{{ }}` as a template tag and fails every analysis on one it cannot resolve; remove it"
    assert problems(text) == [
        f"{name_at}:15: `spec.rollout.analysis.metrics[0].name` holds `{{{{`{tag}",
        f"{name_at}:15: `spec.rollout.analysis.metrics[0].name`: 'm{{{{x}}}}' is not a metric name (lowercase letters, "
        "digits, `-`)",
        f"{name_at + 1}:16: `spec.rollout.analysis.metrics[0].query` holds `{{{{` other than a query's "
        f"`{{{{args.NAME}}}}`{tag}",
    ]


def test_resources_equal_is_fine_above_is_not_and_extended_must_match():
    ok = {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1}, "limits": {"cpu": "1000m", "memory": "1Gi",
                                                                                     "nvidia.com/gpu": "1"}}
    assert rules(serving={"resources": ok}) == []
    found = rules(serving={"resources": {"requests": {"cpu": "1001m", "nvidia.com/gpu": 1, "memory": "1Gi"},
                                         "limits": {"cpu": "1", "nvidia.com/gpu": 2}}},
                  evaluation={"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}})
    assert found == [
        (("spec", "serving", "resources", "requests", "cpu"),
         "`cpu` request 1001m is above its limit 1; Kubernetes rejects such a pod"),
        (("spec", "serving", "resources", "requests", "nvidia.com/gpu"),
         "`nvidia.com/gpu` is an extended resource: Kubernetes needs its request (1) to equal its limit (2)"),
        (("spec", "evaluation", "resources", "requests", "memory"),
         "`memory` request 2Gi is above its limit 1Gi; Kubernetes rejects such a pod"),
    ]
    lower_gpu = rules(serving={"resources": {"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}}})
    assert [at[-1] for at, _ in lower_gpu] == ["nvidia.com/gpu"]  # below the limit: still refused when extended


def test_env_rules_for_the_server_and_the_fetch_step():
    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}, {"name": "B"}]
    init = {"image": MINIMAL["spec"]["serving"]["image"], "env": [{"name": "C", "value": "x",
                                                                   "secretKeyRef": {"name": "s", "key": "k"}}]}
    assert rules(serving={"env": env, "storageInitializer": init}) == [
        (("spec", "serving", "env", 1, "name"), "duplicate env variable `A`"),
        (("spec", "serving", "env", 2), "env `B` needs exactly one of `value` or `secretKeyRef`"),
        (("spec", "serving", "storageInitializer", "env", 0), "env `C` needs exactly one of `value` or `secretKeyRef`"),
    ]


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        check.validate(loader.load(text, "m.yaml"))
    return [f"{d.line}:{d.col}: {d.message}" for d in info.value.diagnostics]


def test_type_errors_in_yaml_terms():
    assert problems(MINIMAL_TEXT.replace('version: "1.0.0"', "version: 1.10")) == [
        '9:14: `spec.model.version`: `1.10` is read by YAML as number 1.1, which loses the text you wrote; '
        'versions and ids are strings: quote it: "1.10"']
    assert problems(MINIMAL_TEXT.replace('version: "1.0.0"', "version: yes")) == [
        '9:14: `spec.model.version`: `yes` is a YAML 1.1 boolean (true), not a string; quote it: "yes"']
    assert problems(MINIMAL_TEXT.replace('version: "1.0.0"', "version: 7")) == [
        '9:14: `spec.model.version`: expected a string, got number 7; quote it: "7"']
    assert problems(MINIMAL_TEXT.replace("seed: 7", "seed: [7]")) == [
        "17:11: `spec.training.seed`: expected an integer, got a list"]
    assert problems(MINIMAL_TEXT.replace("seed: 7", "seed: {a: 1}")) == [
        "17:11: `spec.training.seed`: expected an integer, got a mapping"]
    assert problems(MINIMAL_TEXT.replace("seed: 7", 'seed: "7"')) == [
        "17:11: `spec.training.seed`: expected an integer, got string '7'"]
    assert problems(MINIMAL_TEXT.replace("seed: 7", "seed: 7.5")) == [
        "17:11: `spec.training.seed`: expected an integer, got number 7.5"]


def test_unknown_keys_and_literals_get_a_suggestion_or_the_allowed_list():
    assert problems(MINIMAL_TEXT.replace("    seed: 7\n", "    seed: 7\n    sede: 8\n")) == [
        "18:5: unknown field `sede` in `spec.training` (did you mean `seed`?)"]
    [message] = problems(MINIMAL_TEXT.replace("    seed: 7\n", "    seed: 7\n    zzzz: 8\n"))
    assert message.startswith("18:5: unknown field `zzzz` in `spec.training`; allowed here: code, data, environment,")
    [message] = problems(MINIMAL_TEXT.replace("format: sklearn", "format: sklaern"))
    assert message.startswith("10:13: `spec.model.format`: string 'sklaern' is not one of ")
    assert message.endswith(" (did you mean `sklearn`?)")
    [message] = problems(MINIMAL_TEXT.replace("format: sklearn", "format: false"))
    assert "boolean false is not one of" in message and "did you mean" not in message
    assert problems(MINIMAL_TEXT.replace("    thresholds:\n      - {metric: f1, min: 0.8}\n", "    thresholds: []\n")) \
        == ["25:17: `spec.evaluation.thresholds`: needs at least 1 entry"]
    assert "missing required field `seed`" in problems(MINIMAL_TEXT.replace("    seed: 7\n", ""))[0]


def test_describe_and_dotted():
    assert [check._describe(v) for v in (True, 3, 2.5, None, "x", [], {}, b"")] == [
        "boolean true", "number 3", "number 2.5", "null", "string 'x'", "a list", "a mapping", "bytes"]
    assert check._dotted(()) == "document"
    assert check._dotted(("spec", "steps", 0, "setWeight")) == "spec.steps[0].setWeight"
    assert check._allowed_keys(("spec", "no-such-section")) == []
    assert "seed" in check._allowed_keys(("spec", "training"))
    assert check._allowed_keys(("spec", "rollout", "steps", 0)) == ["setWeight", "pause", "mirror", "headerRoute"]
    assert check._allowed_keys(("spec", "training", "seed")) == []  # an integer has no keys


def test_an_invalid_mapping_key_is_pointed_at_the_key_itself():
    text = MINIMAL_TEXT.replace("  serving:\n", "  serving:\n    nodeSelector: {gpu: \"yes\", \"Bad Key\": x}\n")
    [message] = problems(text)
    line = MINIMAL_TEXT.splitlines().index("  serving:") + 2
    col = text.splitlines()[line - 1].index('"Bad Key"') + 1
    assert message.startswith(f"{line}:{col}: `spec.serving.nodeSelector.Bad Key`: ")
    bad_value = MINIMAL_TEXT.replace("  serving:\n", "  serving:\n    nodeSelector: {gpu: \"-bad-\"}\n")
    [message] = problems(bad_value)
    col = bad_value.splitlines()[line - 1].index('"-bad-"') + 1
    assert message.startswith(f"{line}:{col}: `spec.serving.nodeSelector.gpu`: ")


def test_the_first_list_item_is_a_position_too():
    text = MINIMAL_TEXT.replace("{metric: f1, min: 0.8}", "{metric: f1, min: high}")
    [message] = problems(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "min: high" in l)
    col = text.splitlines()[line - 1].index("high") + 1
    assert message == f"{line}:{col}: `spec.evaluation.thresholds[0].min`: expected a number, got string 'high'"


def test_ordered_bounds_and_a_first_weight_of_zero_are_fine():
    assert rules(evaluation={"thresholds": [{"metric": "f1", "min": 0.1, "max": 0.9}]}) == []
    ok = {"name": "errors", "query": "q", "min": 0.1, "max": 0.9}
    assert rules(rollout=_analysis(ok)) == []
    assert rules(rollout={"steps": [{"setWeight": 0}, {"pause": "1m"}, {"setWeight": 100}]}) == []


def _serving(line: str) -> str:
    return MINIMAL_TEXT.replace("  serving:\n", f"  serving:\n    {line}\n", 1)


def test_other_pydantic_errors_keep_pydantic_wording_from_a_lower_case_letter():
    assert problems(_serving("replicas: -1")) == [
        "21:15: `spec.serving.replicas`: input should be greater than or equal to 1 (got number -1)"]
    # a list that is too long and a mapping that is too short are not the two cases worded apart
    # (a list too short, a mapping too long): pydantic's own message, at the value
    many = ", ".join(["{cpu: 70}"] * 17)
    assert problems(_serving(f"autoscaling: {{minReplicas: 1, maxReplicas: 2, metrics: [{many}]}}")) == [
        "21:60: `spec.serving.autoscaling.metrics`: list should have at most 16 items after validation, not 17 "
        "(got a list)"]
    selector = "{metric: {name: q, selector: {matchLabels: {}}}, target: {type: Value, value: 1}}"
    assert problems(_serving(f"autoscaling: {{minReplicas: 1, maxReplicas: 2, metrics: [{{external: {selector}}}]}}")) == [
        "21:115: `spec.serving.autoscaling.metrics[0].external.metric.selector.matchLabels`: dictionary should have at "
        "least 1 item after validation, not 0 (got a mapping)"]


def test_a_list_where_a_union_expects_a_scalar_is_reported_at_the_list():
    # pydantic tags each member (`cpu`, `str`), which is not a key of the list the spec holds
    [message] = problems(_serving("resources: {requests: {cpu: [1]}}"))
    assert message.startswith("21:33: `spec.serving.resources.requests.cpu`: ") and message.endswith(", got a list")


def test_an_unknown_key_under_a_camel_case_field_gets_a_suggestion():
    assert problems(_serving("storageInitializer: {imgae: y}")) == [
        "21:5: `spec.serving.storageInitializer`: missing required field `image`",
        "21:26: unknown field `imgae` in `spec.serving.storageInitializer` (did you mean `image`?)"]


def test_an_unknown_key_in_a_platform_file_list_gets_a_suggestion():
    # the platform's defaults are all-optional copies: `thresholds` is `Annotated[list[Threshold], MinLen] | None`
    from mlspec.platform import platformfile

    text = "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n  defaults:\n    evaluation:\n" \
           "      thresholds: [{metric: f1, mni: 0.8}]\n"
    with pytest.raises(SpecError) as info:
        platformfile.parse(text, "platform.yaml")
    assert [f"{d.line}:{d.col}: {d.message}" for d in info.value.diagnostics] == [
        "6:33: unknown field `mni` in `spec.defaults.evaluation.thresholds[0]` (did you mean `min`?)"]


@pytest.mark.parametrize("path", [
    ("spec", "training", "seed", "x"), ("spec", "training", "seed", 0),  # below a scalar
    ("spec", "rollout", "steps", "x"),  # a list asked for a key
    ("spec", "training", 0),            # a model asked for an index
])
def test_a_path_the_model_cannot_follow_allows_no_keys(path):
    assert check._allowed_keys(path) == []
