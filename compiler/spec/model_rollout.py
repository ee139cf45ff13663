"""Stage 2, the `rollout` section of the spec: steps, online analysis, traffic routers,
blue-green and the surge settings. Split from `model` by role; the JSON Schema is generated
from both.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from mlspec.spec.fields import DNS_LABEL_RE, DnsLabel, Duration, IntOrPercent, Strict, Uri, _matching

# --- rollout -----------------------------------------------------------------


class StringMatch(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [k]} for k in ("exact", "prefix", "regex")]})

    exact: str | None = Field(default=None, min_length=1, description="The value exactly.")
    prefix: str | None = Field(default=None, min_length=1, description="A value starting with this.")
    regex: str | None = Field(default=None, min_length=1, description="A value matching this RE2 expression.")


class RouteMatch(Strict):
    method: StringMatch | None = Field(default=None, description="HTTP method, e.g. `{exact: POST}`.")
    path: StringMatch | None = Field(default=None, description="URL path, e.g. `{prefix: /v2/models}`.")
    headers: dict[str, StringMatch] | None = Field(default=None, description="Request headers by name.")


class Mirror(Strict):
    percentage: int = Field(ge=1, le=100, description="Percent of the matching requests copied to the canary "
                            "(whose answers are dropped); also the canary's share of `replicas`.")
    match: list[RouteMatch] | None = Field(default=None, min_length=1, description="Which requests (any entry; "
                                           "all of an entry's conditions). Default: every request.")


class HeaderMatch(Strict):
    header_name: str = Field(min_length=1, description="Request header name.", examples=["x-canary"])
    header_value: StringMatch = Field(description="Its value: `{exact}`, `{prefix}` or `{regex}`.")


class HeaderRoute(Strict):
    match: list[HeaderMatch] = Field(default_factory=list, description="Requests with any of these headers go to "
                                     "the canary (all of them, not a weight).")


class Step(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [k]} for k in
                                                           ("setWeight", "pause", "mirror", "headerRoute")]})

    set_weight: int | None = Field(default=None, ge=0, le=100, description="Send this percentage of traffic to the canary.")
    pause: Duration | Literal["manual"] | None = Field(
        default=None, description="Wait this long (e.g. `10m`), or `manual` to wait for `kubectl argo rollouts promote`."
    )
    mirror: Mirror | None = Field(
        default=None, description="Istio only: copy live requests to the canary (shadow traffic: users get the "
        "stable answers) until the next `setWeight`; the online analysis judges the canary meanwhile.")
    header_route: HeaderRoute | None = Field(
        default=None, description="Istio or Gateway API: send requests with matching headers to the canary until the next "
        "`setWeight` (one canary pod).")


class Prometheus(Strict):
    address: Uri = Field(description="Prometheus base URL.", examples=["http://prometheus.monitoring:9090"])


class OnlineMetric(Strict):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["min"]}, {"required": ["max"]}]})

    name: Annotated[str, _matching(DNS_LABEL_RE, "a metric name", " (lowercase letters, digits, `-`)"),
                    Field(json_schema_extra={"pattern": DNS_LABEL_RE})] = Field(
        description="Metric name in the AnalysisTemplate.", examples=["error-rate"]
    )
    query: str = Field(
        min_length=1,
        description="PromQL returning one value; passed verbatim. May reference `{{args.service-name}}`, "
        "`{{args.namespace}}`, `{{args.canary-hash}}`, `{{args.model-version}}`.",
    )
    min: float | None = Field(default=None, description="Fail when the value is below this.")
    max: float | None = Field(default=None, description="Fail when the value is above this.")
    interval: Duration = Field(default="1m", description="How often the query runs.")
    failure_limit: int = Field(default=1, ge=0, le=2**31 - 1, description="Failed measurements tolerated before the rollout aborts.")
    count: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Number of measurements (default: until the rollout completes).")
    initial_delay: Duration | None = Field(default=None, description="Wait before the first measurement.")


class OnlineAnalysis(Strict):
    prometheus: Prometheus = Field(description="Prometheus server the metrics are queried from.")
    metrics: list[OnlineMetric] = Field(min_length=1, description="Metrics checked in the background during the canary.")


DNS_NAME_RE = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# ingress-nginx copies the path into its configuration: only characters it cannot read as syntax.
NGINX_PATH_RE = r"^/[A-Za-z0-9._~/-]*$"
GATEWAY_RE = r"^(mesh|[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?)$"

DnsName = Annotated[
    str,
    _matching(DNS_NAME_RE, "a DNS name", " (lowercase letters, digits, `-` and `.`, optionally `*.` first)"),
    Field(max_length=253, json_schema_extra={"pattern": DNS_NAME_RE}, examples=["fraud.acme.example"]),
]


class NginxRouting(Strict):
    host: DnsName = Field(description="Host of the stable Ingress.")
    ingress_class_name: DnsLabel | None = Field(default=None, description="`ingressClassName` of the Ingress (e.g. `nginx`).")
    path: Annotated[str, _matching(NGINX_PATH_RE, "a plain path prefix", " (`/`, then letters, digits and `. _ ~ / -`: "
                                   "NGINX reads `;`, `{`, `$`, quotes and blanks as configuration)"),
                    Field(json_schema_extra={"pattern": NGINX_PATH_RE})] = Field(
        default="/", description="Path prefix routed to the model: `/`, then letters, digits and `. _ ~ / -`.")


class IstioRouting(Strict):
    host: DnsName = Field(description="Host of the VirtualService.")
    gateways: list[Annotated[str, _matching(GATEWAY_RE, "a gateway", " (`NAMESPACE/NAME`, `NAME` or `mesh`)"),
                             Field(json_schema_extra={"pattern": GATEWAY_RE})]] = Field(
        min_length=1, description="Istio Gateways, exactly as given; list `mesh` to split in-mesh callers too.",
        examples=[["istio-ingress/public"]])


class ParentRef(Strict):
    name: DnsLabel = Field(description="Name of the Gateway.")
    namespace: DnsLabel | None = Field(default=None, description="Namespace of the Gateway.")
    section_name: DnsLabel | None = Field(default=None, description="Listener of the Gateway.")


class GatewayAPIRouting(Strict):
    parent_refs: list[ParentRef] = Field(min_length=1, description="Gateways the HTTPRoute attaches to.")
    hostnames: list[DnsName] = Field(default_factory=list, description="Hostnames of the HTTPRoute.")


class TrafficRouting(Strict):
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["nginx"]}, {"required": ["istio"]}, {"required": ["gatewayAPI"]}]})

    nginx: NginxRouting | None = Field(default=None, description="NGINX Ingress: mlspec emits the stable Ingress; "
                                       "Argo Rollouts creates the canary one.")
    istio: IstioRouting | None = Field(default=None, description="Istio: mlspec emits a VirtualService with a "
                                       "stable (100) and canary (0) destination.")
    gateway_api: GatewayAPIRouting | None = Field(
        default=None, alias="gatewayAPI",
        description="Gateway API: mlspec emits an HTTPRoute (stable 100, canary 0, explicit) for the "
        "`argoproj-labs/gatewayAPI` plugin of Argo Rollouts.")


class BlueGreen(Strict):
    auto_promotion: bool = Field(
        default=False, description="Promote without a person once the pre-promotion evaluation passed. Default "
        "false: a person promotes (`kubectl argo rollouts promote`).")


class RolloutSection(Strict):
    strategy: Literal["canary", "blueGreen"] = Field(
        default="canary", description="`canary` (steps, optional traffic router) or `blueGreen` (active and "
        "preview Services; the offline evaluation gates promotion).")
    steps: list[Step] | None = Field(
        default=None,
        description="Canary steps. Default: 10% / 5m / 25% / 5m / 50% / 10m. The offline evaluation always runs "
        "before the first weight change.",
    )
    analysis: OnlineAnalysis | None = Field(
        default=None, description="Online metrics: in the background of every canary step, or after promotion "
        "(blue-green).")
    traffic_routing: TrafficRouting | None = Field(
        default=None, description="Canary only, one router: exact weights instead of pod-count approximations.")
    blue_green: BlueGreen | None = Field(default=None, description="Blue-green only: promotion settings.")
    max_surge: IntOrPercent | None = Field(
        default=None, description="Canary only: pods above `replicas` while updating (int or `N%`, rounded up). "
        "Default: Argo's 25%; `0` when serving asks for a GPU and there is no traffic router.")
    max_unavailable: IntOrPercent | None = Field(
        default=None, description="Pods that may be unavailable while updating (int or `N%`, rounded down; canary and "
        "blueGreen). Default: Argo's 25%; `1` with the GPU default `maxSurge: 0`. Not 0 together with `maxSurge: 0`.")
    dynamic_stable_scale: bool | None = Field(
        default=None, description="Canary with a traffic router only: scale the stable pods down as traffic leaves "
        "them, so the rollout needs no second full set. Default: true when serving asks for a GPU.")
