"""Stage 2, the pod-count and placement parts of `serving`: autoscaling (a
HorizontalPodAutoscaler, autoscaling/v2), topology spread and affinity. Split from
`model` by role; every shape is strict (unknown keys refused), so a misspelt
Kubernetes field is a positioned error here, not a silently dropped one at apply time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from mlspec.spec.fields import LabelKey, LabelValue, Quantity, Strict

# --- autoscaling ---------------------------------------------------------------


class MetricSelector(Strict):
    match_labels: dict[LabelKey, LabelValue] = Field(min_length=1, description="Labels the metric series carries.")


class MetricIdentifier(Strict):
    name: str = Field(min_length=1, max_length=253, description="Metric name, as the metrics API serves it.")
    selector: MetricSelector | None = Field(default=None, description="Narrow the metric by its labels.")


class ValueTarget(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["value"]}, {"required": ["averageValue"]}]})

    type: Literal["Value", "AverageValue"] = Field(description="`Value` (the metric as a whole) or `AverageValue` "
                                                   "(divided by the pod count).")
    value: Quantity | None = Field(default=None, description="Target value (with `type: Value`).")
    average_value: Quantity | None = Field(default=None, description="Target per pod (with `type: AverageValue`).")


class AverageTarget(Strict):
    type: Literal["AverageValue"] = Field(description="Always `AverageValue`: a Pods metric is averaged over pods.")
    average_value: Quantity = Field(description="Target per pod, e.g. `100` requests per second.")


class PodsMetric(Strict):
    metric: MetricIdentifier = Field(description="The per-pod metric (custom metrics API).")
    target: AverageTarget = Field(description="Its target average.")


class ObjectReference(Strict):
    api_version: str = Field(min_length=1, description="apiVersion of the object, e.g. `networking.k8s.io/v1`.")
    kind: str = Field(min_length=1, description="Kind of the object, e.g. `Ingress`.")
    name: str = Field(min_length=1, max_length=253, description="Name of the object.")


class ObjectMetric(Strict):
    described_object: ObjectReference = Field(description="The object the metric describes.")
    metric: MetricIdentifier = Field(description="The metric (custom metrics API).")
    target: ValueTarget = Field(description="Its target.")


class ExternalMetric(Strict):
    metric: MetricIdentifier = Field(description="The metric (external metrics API, e.g. a queue length).")
    target: ValueTarget = Field(description="Its target.")


class ScalingMetric(Strict):
    """One metric: `cpu` / `memory` (average utilization, percent of the request) or an
    autoscaling/v2 `pods`, `object` or `external` metric, exactly one."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [k]} for k in
                                                           ("cpu", "memory", "pods", "object", "external")]})

    cpu: int | None = Field(default=None, ge=1, le=1000, description="Target average CPU utilization, percent of "
                            "the pods' CPU request.", examples=[70])
    memory: int | None = Field(default=None, ge=1, le=1000, description="Target average memory utilization, "
                               "percent of the pods' memory request.")
    pods: PodsMetric | None = Field(default=None, description="A per-pod custom metric (autoscaling/v2 `Pods`).")
    object: ObjectMetric | None = Field(default=None, description="A metric of another object (autoscaling/v2 "
                                        "`Object`).")
    external: ExternalMetric | None = Field(default=None, description="A metric from outside the cluster "
                                            "(autoscaling/v2 `External`).")


class Autoscaling(Strict):
    min_replicas: int = Field(ge=1, le=10000, description="Fewest pods the autoscaler keeps.")
    max_replicas: int = Field(ge=1, le=10000, description="Most pods the autoscaler runs; the capacity note and "
                              "a platform's peak cap count the rollout at this size.")
    metrics: list[ScalingMetric] = Field(min_length=1, max_length=16, description="What the autoscaler follows, "
                                         "e.g. `[{cpu: 70}]`.")


# --- placement -----------------------------------------------------------------


class TopologySpread(Strict):
    by: Literal["zone", "node"] = Field(description="`zone` (`topology.kubernetes.io/zone`) or `node` "
                                        "(`kubernetes.io/hostname`).")
    max_skew: int = Field(default=1, ge=1, le=10000, description="Most pods one zone (node) may have beyond another.")
    when_unsatisfiable: Literal["ScheduleAnyway", "DoNotSchedule"] = Field(
        default="ScheduleAnyway", description="`ScheduleAnyway` (default: a preference, so a full zone never "
        "leaves a canary Pending) or `DoNotSchedule` (a hard rule).")


class SelectorRequirement(Strict):
    key: LabelKey = Field(description="Label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="How the key is matched.")
    values: list[LabelValue] | None = Field(default=None, description="Values (with `In` / `NotIn`).")


class LabelSelector(Strict):
    match_labels: dict[LabelKey, LabelValue] | None = Field(default=None, description="Labels a pod must carry.")
    match_expressions: list[SelectorRequirement] | None = Field(default=None, description="Label requirements.")


class NodeRequirement(Strict):
    key: str = Field(min_length=1, max_length=317, description="Node label key (or field, in `matchFields`).")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(description="How the key is matched.")
    values: list[str] | None = Field(default=None, description="Values (one integer with `Gt` / `Lt`).")


class NodeSelectorTerm(Strict):
    match_expressions: list[NodeRequirement] | None = Field(default=None, description="Node label requirements.")
    match_fields: list[NodeRequirement] | None = Field(default=None, description="Node field requirements.")


class NodeSelector(Strict):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1, description="Terms, any of which suffices.")


class PreferredNode(Strict):
    weight: int = Field(ge=1, le=100, description="Preference weight.")
    preference: NodeSelectorTerm = Field(description="The nodes preferred.")


class NodeAffinity(Strict):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        default=None, description="Nodes the pods must run on.")
    preferred_during_scheduling_ignored_during_execution: list[PreferredNode] | None = Field(
        default=None, description="Nodes the pods prefer.")


class PodAffinityTerm(Strict):
    label_selector: LabelSelector | None = Field(default=None, description="The pods this term is about.")
    namespaces: list[str] | None = Field(default=None, description="Their namespaces (default: the model's).")
    namespace_selector: LabelSelector | None = Field(default=None, description="Their namespaces, by label.")
    topology_key: LabelKey = Field(description="Node label that defines \"together\", e.g. `topology.kubernetes.io/zone`.")


class PreferredPod(Strict):
    weight: int = Field(ge=1, le=100, description="Preference weight.")
    pod_affinity_term: PodAffinityTerm = Field(description="The term preferred.")


class PodAffinity(Strict):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = Field(
        default=None, description="Terms the pods must meet.")
    preferred_during_scheduling_ignored_during_execution: list[PreferredPod] | None = Field(
        default=None, description="Terms the pods prefer.")


class Affinity(Strict):
    """Kubernetes' `Affinity`, field for field (`core/v1`), passed through to the serving pods."""

    node_affinity: NodeAffinity | None = Field(default=None, description="Which nodes.")
    pod_affinity: PodAffinity | None = Field(default=None, description="Next to which pods.")
    pod_anti_affinity: PodAffinity | None = Field(default=None, description="Away from which pods.")
