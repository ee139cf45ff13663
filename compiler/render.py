"""Stage 4: a `Release` -> Kubernetes objects, through the Jinja2 templates.

Templates only lay out YAML. Every `{{ value }}` is encoded by `finalize` as a
JSON scalar or flow collection (JSON is a subset of YAML), so no value can
change the document's structure: newlines, `: `, `#`, quotes, `{{ }}` and shell
metacharacters survive verbatim. Only text produced by the templates
themselves (macro output, which Jinja marks as `Markup`) passes unencoded.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from mlspec.loader import YamlLoader, scalar_value
from mlspec.delivery import CONTAINER_SECURITY
from mlspec.resolve import Release

# Characters YAML treats as line breaks or forbids, which JSON leaves raw.
_YAML_UNSAFE = re.compile("[\u0085\u2028\u2029\u007f-\u009f\ufeff]")


# Static: addresses come from TS_* variables in the pod template (enable_envvars_config).
TORCHSERVE_PROPERTIES = """enable_envvars_config=true
install_py_dep_per_model=false
disable_system_metrics=true
"""

# Router objects by file name: (apiVersion, kind).
ROUTER_KINDS = {
    "ingress.yaml": ("networking.k8s.io/v1", "Ingress"),
    "virtualservice.yaml": ("networking.istio.io/v1", "VirtualService"),
    "httproute.yaml": ("gateway.networking.k8s.io/v1", "HTTPRoute"),
}
# The offline step of the Rollout waits for the release's evaluation Job: it may read that Job only.
READER = (("ServiceAccount", "serviceaccount-eval-reader.yaml"), ("Role", "role-eval-reader.yaml"),
          ("RoleBinding", "rolebinding-eval-reader.yaml"))


def objects_of(release: Release) -> list[tuple[str, str, dict[str, Any]]]:
    """(template, output file, extra template values) for every object of a release."""
    out: list[tuple[str, str, dict[str, Any]]] = [("rollout.yaml.j2", "rollout.yaml", {})]
    out += [("service.yaml.j2", f"service-{service.rsplit('-', 1)[1]}.yaml", {"service": service})
            for service in release.services]
    if release.router is not None:
        filename, body = release.router
        api_version, kind = ROUTER_KINDS[filename]
        out.append(("router.yaml.j2", filename, {"api_version": api_version, "kind": kind, "body": body}))
    out.append(("analysistemplate-offline.yaml.j2", "analysistemplate-offline-eval.yaml", {}))
    if release.online_metrics:
        out.append(("analysistemplate-online.yaml.j2", "analysistemplate-online.yaml", {}))
    out += [
        ("job-eval.yaml.j2", "job-eval.yaml", {}),
        ("configmap-gate.yaml.j2", "configmap-gate.yaml", {}),
        ("configmap-lineage.yaml.j2", "configmap-lineage.yaml", {}),
        ("configmap-runtime.yaml.j2", "configmap-runtime.yaml", {}),
        ("networkpolicy.yaml.j2", "networkpolicy-serving.yaml", {"policy": "serving"}),
        ("networkpolicy.yaml.j2", "networkpolicy-evaluation.yaml", {"policy": "evaluation"}),
    ]
    out += [("rbac.yaml.j2", filename, {"kind": kind}) for kind, filename in READER]
    return out


def yaml_value(value: Any) -> str:
    """Encode a value as YAML that parses back to exactly that value."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, jinja2.Undefined):  # pragma: no cover - StrictUndefined raises first
        raise jinja2.UndefinedError("undefined value in template")
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return Markup(_YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _combine(*maps: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        out.update(m)
    return out


def _template_source(name: str) -> str:
    return resources.files("mlspec.templates").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja environment: strict, YAML-safe, every filter registered here."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        undefined=jinja2.StrictUndefined,
        finalize=yaml_value,
        autoescape=True,  # with `finalize` returning Markup this only marks macro output as trusted
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["combine"] = _combine
    env.globals.update(CONTAINER_SECURITY=CONTAINER_SECURITY)
    return env


@lru_cache(maxsize=None)
def module_source(name: str) -> str:
    """Source of a standard-library-only module (`gate.py`, `digest.py`), shipped verbatim to the cluster."""
    return resources.files("mlspec").joinpath(name).read_text(encoding="utf-8")


def render(release: Release) -> dict[str, dict[str, Any]]:
    """Every object of one release, keyed by its file name."""
    env = environment()
    objects: dict[str, dict[str, Any]] = {}
    shared = {
        "r": release,
        "gate_source": module_source("gate.py"),
        "digest_source": module_source("digest.py"),
        "jobwait_source": module_source("jobwait.py"),
        "torchserve_properties": TORCHSERVE_PROPERTIES,
        "gate_json": json.dumps(release.gate_config, indent=2, sort_keys=True) + "\n",
        "lineage_json": json.dumps(release.lineage, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    }
    for template, filename, extra in objects_of(release):
        objects[filename] = parse(env.get_template(template).render(shared, **extra), template)
    return objects


def parse(text: str, template: str) -> Any:
    """Re-parse rendered text into data. Walks the composed nodes directly: faster
    than PyYAML's generic constructor, and a duplicate key (a template bug) fails."""
    node = yaml.compose(text, Loader=YamlLoader)
    if node is None:
        raise ValueError(f"{template} rendered an empty document")
    return _construct(node, template)


def _construct(node: yaml.Node, template: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = {_construct(k, template): _construct(v, template) for k, v in node.value}
        if len(out) != len(node.value):
            raise ValueError(f"{template} rendered a mapping with a duplicate key (line {node.start_mark.line + 1})")
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, template) for v in node.value]
    assert isinstance(node, yaml.ScalarNode)
    return scalar_value(node)
