"""Schema and compiler agree: whatever the JSON Schema accepts, `mlspec validate`
accepts too, except for the cross-field rules a schema cannot express. Those are
listed here and in the README ("Rules beyond the schema")."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema

from mlspec import compile_spec, schema
from mlspec.errors import SpecError

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
    "is above its limit",  # resource requests <= limits
    "is an extended resource",  # nvidia.com/gpu request == limit
)
# An overlay may add a section the spec lacks; merged, that section must be complete.
OVERLAY_RULE = ("in environment `", "missing required field")


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(from_schema(schema.json_schema()))
def test_instances_the_schema_accepts_are_accepted_by_the_compiler(instance):
    try:
        compile_spec(yaml.safe_dump(instance, allow_unicode=True), source="generated.yaml")
    except SpecError as exc:
        other = [str(d) for d in exc.diagnostics
                 if not any(rule in d.message for rule in CROSS_FIELD_RULES)
                 and not all(part in d.message for part in OVERLAY_RULE)]
        assert other == [], "the schema accepted what the compiler rejects"
