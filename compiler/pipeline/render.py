"""Stage 4: a `Release` -> Kubernetes objects, through the Jinja2 templates.

Templates only lay out YAML; values never pass through YAML text. `finalize`
stores every `{{ value }}` in a per-render table and writes a placeholder in its
place, a plain scalar `\ue000<n>\ue001` (private-use characters no template
contains). The rendered text (the layout alone) is parsed once per distinct
layout in a process, and each placeholder is then replaced by its value, so no
value can change a document's structure: newlines, `: `, `#`, quotes, `{{ }}`
and shell metacharacters survive verbatim, and nothing is parsed twice. There are
no macros: shared layout (an object's `metadata`, the two pod templates) is data
too. A placeholder inside a larger scalar (a template that splices a value into
text) or a duplicate key is a template bug and fails.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
import yaml

from mlspec.files import emit
from mlspec.files.loader import YamlLoader, scalar_value
from mlspec.files.text import kubelet_literal
from mlspec.pipeline.delivery import CONTAINER_SECURITY
from mlspec.pipeline.resolve import Release

_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}([0-9]+){_CLOSE}")


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
    if release.disruption_budget is not None:
        out.append(("poddisruptionbudget.yaml.j2", "poddisruptionbudget.yaml", {}))
    if release.autoscaler is not None:
        out.append(("horizontalpodautoscaler.yaml.j2", "horizontalpodautoscaler.yaml", {}))
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


class _Slots:
    """The values of the template being rendered, by placeholder number. One render
    at a time per process (rendering is not shared between threads)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    @jinja2.pass_context  # a context-taking finalize is never constant-folded at compile time
    def finalize(self, _context: Any, value: Any) -> str:
        if isinstance(value, jinja2.Undefined):  # pragma: no cover - StrictUndefined raises first
            raise jinja2.UndefinedError("undefined value in template")
        self.values.append(value)
        return f"{_OPEN}{len(self.values) - 1}{_CLOSE}"


_SLOTS = _Slots()


def _combine(*maps: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        out.update(m)
    return out


def _template_source(name: str) -> str:
    return resources.files("mlspec.templates").joinpath(name).read_text(encoding="utf-8")


# --- templates compiled ahead of time -------------------------------------------
#
# Compiling the templates took most of a cold build's first compile (measured:
# benchmarks/README.md). `scripts/compile-templates` stores Jinja's Python code for
# every template in `templates/compiled.json`, with each template's SHA-256 and the
# Jinja2 version; a test keeps it current. Loading then only byte-compiles that
# code. A template whose source or Jinja2 differs is compiled from its source, so
# output never depends on whether the file is current.

COMPILED = "compiled.json"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compiled_json() -> str:
    """The text of `templates/compiled.json` for the templates and Jinja2 installed now."""
    env = environment()
    names = sorted(p.name for p in resources.files("mlspec.templates").iterdir() if p.name.endswith(".j2"))
    templates = {}
    for name in names:
        source = _template_source(name)
        templates[name] = {"sha256": _sha256(source), "code": env.compile(source, name, None, raw=True)}
    return json.dumps({"jinja2": jinja2.__version__, "templates": templates}, indent=1, sort_keys=True) + "\n"


@lru_cache(maxsize=1)
def _compiled_code() -> dict[str, Any]:
    try:
        data = json.loads(_template_source(COMPILED))
    except (OSError, ValueError):
        return {}
    return data["templates"] if isinstance(data, dict) and data.get("jinja2") == jinja2.__version__ else {}


def compiled_code(name: str) -> str | None:
    """Jinja's code for template `name`, when `compiled.json` holds it for this very source."""
    entry = _compiled_code().get(name)
    if not isinstance(entry, dict) or entry.get("sha256") != _sha256(_template_source(name)):
        return None
    code = entry.get("code")
    return code if isinstance(code, str) else None


class _Loader(jinja2.BaseLoader):
    """Templates from the package: the precompiled code when it is current, else the source."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        return _template_source(template), None, lambda: True

    def load(self, environment: jinja2.Environment, name: str, globals: Any = None) -> jinja2.Template:
        code = compiled_code(name)
        if code is None:
            return super().load(environment, name, globals)
        return environment.template_class.from_code(environment, compile(code, name, "exec"), globals, lambda: True)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja environment: strict, YAML-safe, every filter registered here."""
    env = jinja2.Environment(
        loader=_Loader(),
        undefined=jinja2.StrictUndefined,
        finalize=_SLOTS.finalize,
        autoescape=False,  # every `{{ }}` is a value, placed as data: there is no text to escape
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["combine"] = _combine
    env.globals.update(CONTAINER_SECURITY=CONTAINER_SECURITY, metadata=_metadata)
    return env


@jinja2.pass_context
def _metadata(context: Any, name: str, component: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """An object's `metadata`: its name, the release's namespace, labels with the
    object's component, and the release's annotations plus the object's own."""
    r = context["r"]
    out: dict[str, Any] = {"name": name}
    if r.namespace:
        out["namespace"] = r.namespace
    out["labels"] = {**r.labels, "app.kubernetes.io/component": component}
    out["annotations"] = {**r.annotations, **(annotations or {})}
    return out


@lru_cache(maxsize=None)
def module_source(name: str) -> str:
    """Source of a standard-library-only module (`gate.py`, `digest.py`), shipped verbatim to the cluster."""
    return resources.files("mlspec.pod").joinpath(name).read_text(encoding="utf-8")


def render(release: Release) -> dict[str, dict[str, Any]]:
    """Every object of one release, keyed by its file name."""
    env = environment()
    shared: dict[str, Any] = {
        "r": release,
        "gate_source": module_source("gate.py"),
        "digest_source": module_source("digest.py"),
        "signature_source": module_source("signature.py"),
        "jobwait_source": module_source("jobwait.py"),
        "torchserve_properties": TORCHSERVE_PROPERTIES,
        "gate_json": emit.pretty_json(release.gate_config) + "\n",
        "lineage_json": emit.pretty_json(release.lineage, ensure_ascii=False) + "\n",
    }
    # The two pod templates are objects of their own, placed whole into the Job and the AnalysisTemplate.
    shared["eval_pod"] = _Fresh(_render_one(env, "pod-eval.yaml.j2", shared))
    shared["wait_pod"] = _Fresh(_render_one(env, "pod-wait.yaml.j2", shared))
    objects = {filename: _render_one(env, template, shared, extra) for template, filename, extra in objects_of(release)}
    for obj in objects.values():
        _keep_literal(obj)
    return objects


_CONTAINER_LISTS = ("initContainers", "containers")


def _keep_literal(node: Any) -> None:
    """Every container's `command`, `args` and `env` values, escaped once so that the
    kubelet's `$(VAR)` expansion gives each back exactly (a record stays exact; a
    `$(SECRET)` in a URL does not become the secret). The one place this is done."""
    stack = [node]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(v for v in item if type(v) in (dict, list))
        elif type(item) is dict:
            if type(item.get("containers")) is list:  # a pod spec: its containers, nothing below
                for key in _CONTAINER_LISTS:
                    for container in item.get(key) or ():
                        _escape_container(container)
                continue
            stack.extend(v for v in item.values() if type(v) in (dict, list))


def _escape_container(container: dict[str, Any]) -> None:
    for key in ("command", "args"):
        if type(container.get(key)) is list:
            container[key] = [kubelet_literal(v) if type(v) is str else v for v in container[key]]
    for var in container.get("env") or ():
        if type(var) is dict and type(var.get("value")) is str:
            var["value"] = kubelet_literal(var["value"])


def _render_one(env: jinja2.Environment, template: str, values: dict[str, Any],
                extra: dict[str, Any] | None = None) -> Any:
    return render_template(env.get_template(template), {**values, **extra} if extra else values)


def render_template(template: jinja2.Template, values: dict[str, Any]) -> Any:
    """One template of `environment()` rendered to data: its layout parsed (once per
    distinct layout), every placeholder replaced by a copy of its value."""
    _SLOTS.values = []
    try:
        text = template.render(values)
        name = template.name or "<string>"
        return fill(layout(text, name), _SLOTS.values, name)
    finally:
        _SLOTS.values = []


class _Fresh:
    """Data rendered for this release alone and placed once: `fill` uses it without a copy."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


@lru_cache(maxsize=512)
def layout(text: str, template: str) -> Any:
    """The parsed layout of rendered text, placeholders as `_Slot`s. Specs share
    layouts (placeholders are numbered per render), so a batch parses few."""
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
    if _OPEN in node.value or _CLOSE in node.value:
        match = _PLACEHOLDER.fullmatch(node.value)
        if match is None or node.style:  # plain style: None (pure-Python parser) or "" (libyaml)
            raise ValueError(f"{template} splices a value into a larger scalar (line {node.start_mark.line + 1}); "
                             "a value must be a whole YAML node")
        return _Slot(int(match.group(1)))
    return scalar_value(node)


_LEAVES = frozenset({str, int, bool, type(None)})


def fill(shape: Any, values: list[Any], template: str) -> Any:
    """A fresh tree: the layout with every placeholder replaced by a copy of its value."""
    kind = type(shape)
    if kind is dict:
        out = {}
        for k, v in shape.items():
            if type(k) is _Slot:
                k = _data(values[k.index], template)
            out[k] = v if type(v) in _LEAVES else fill(v, values, template)
        if len(out) != len(shape):
            raise ValueError(f"{template} rendered a mapping with a duplicate key")
        return out
    if kind is list:
        return [v if type(v) in _LEAVES else fill(v, values, template) for v in shape]
    if kind is _Slot:
        return _data(values[shape.index], template)
    return shape


def _data(value: Any, template: str) -> Any:
    """A copy of a value as plain data (what JSON would carry): mappings with string
    keys, lists, strings, finite numbers, booleans and null."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise ValueError(f"{template}: mapping key {k!r} is not a string")
            out[k] = v if type(v) in _LEAVES else _data(v, template)
        return out
    if kind is list or kind is tuple:
        return [v if type(v) in _LEAVES else _data(v, template) for v in value]
    if kind is _Fresh:
        return value.data
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{template}: {value!r} has no portable YAML form")
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (an enum) as the text JSON would carry
    if isinstance(value, int):
        return int.__int__(value)
    raise ValueError(f"{template}: cannot place a {kind.__name__} in a manifest")
