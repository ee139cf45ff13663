"""Stage 2b: validate loaded data against the models and the cross-field rules.

Every problem becomes a `Diagnostic` at the position of the offending key or
value; all of them are collected and raised together as one `SpecError`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Callable, Iterable, Iterator

import pydantic
from pydantic import BaseModel

from mlspec.files.errors import Diagnostic, SpecError
from mlspec.files.loader import Document, Path, diagnostic
from mlspec.files.loader import dotted as _dotted
from mlspec.spec.fields import quantity_value
from mlspec.spec.model import EnvVar, ModelDeployment
from mlspec.spec.scan import text_problems

# Suffixes of the object names derived from metadata.name (see resolve.Names).
LONGEST_SUFFIX = "-offline-eval"
EVAL_JOB_SUFFIX_LEN = len("-eval-") + 10

Rules = Callable[[ModelDeployment], Iterable[tuple[Path, str]]]


def validate(doc: Document, secrets: bool = True, more: Rules | None = None) -> ModelDeployment:
    """Validate `doc`; raise `SpecError` with every problem found. `secrets=False`
    skips the scan of keys and values (`text_problems`), for documents whose every string was already scanned
    (an environment's merged spec is made of the file's own values). `more`: rules of the
    stages above (`mlspec.pipeline.rules`: delivery, runtimes, rollout arithmetic), run
    with this module's own cross-field rules once the models accept the document."""
    problems = list(text_problems(doc)) if secrets else []
    try:
        spec = ModelDeployment.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        problems.extend(pydantic_problems(doc, exc))
        raise SpecError(sorted(set(problems))) from None
    found = list(semantic_problems(spec))
    if more is not None:
        found.extend(more(spec))
    problems.extend(diagnostic(doc, path, message, rule="spec-rule", key=False) for path, message in found)
    if problems:
        raise SpecError(sorted(set(problems)))
    return spec


# --- pydantic errors -----------------------------------------------------------


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Path, list[Any]]:
    """Split a pydantic `loc` into the part that exists in `data` and the rest.

    `loc` also holds union-member tags (`str`, `function-after[...]`) and
    `[key]` markers for dict keys; those are not data paths.
    """
    path: list[str | int] = []
    rest: list[Any] = []
    node = data
    for seg in loc:
        if isinstance(node, dict) and seg in node:
            path.append(seg)
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            path.append(seg)
            node = node[seg]
        else:
            rest.append(seg)
    return tuple(path), rest


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean (true or false)",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "int_from_float": "an integer",
}


def pydantic_problems(doc: Document, exc: pydantic.ValidationError,
                      root: type[BaseModel] = ModelDeployment) -> list[Diagnostic]:
    by_path: dict[Path, Diagnostic] = {}
    for err in exc.errors(include_url=False):
        path, rest = _data_path(doc.data, tuple(err["loc"]))
        kind = err["type"]
        field = _dotted(path)
        if kind == "missing":
            name = rest[-1] if rest else path[-1]
            diag = diagnostic(doc, path, f"`{field}`: missing required field `{name}`", rule="missing-field")
        elif kind == "extra_forbidden":
            diag = diagnostic(doc, path, _unknown_key(path, root), rule="unknown-key")
        elif kind in _EXPECTED:
            diag = diagnostic(doc, path, _type_message(doc, path, field, _EXPECTED[kind], err["input"]), rule="wrong-type", key=False)
        elif kind in ("value_error", "assertion_error"):
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
            # `[key]` in the loc: the mapping key itself is invalid, so point at it
            diag = diagnostic(doc, path, f"`{field}`: {message}", rule="invalid-value", key="[key]" in rest)
        elif kind == "literal_error":
            expected = err["ctx"]["expected"]
            options = re.findall(r"'([^']*)'", expected)
            hint = _suggest(str(err["input"]), options)
            diag = diagnostic(doc, path, f"`{field}`: {_describe(err['input'])} is not one of {expected}{hint}", rule="invalid-choice", key=False)
        elif kind == "too_short" and isinstance(err["input"], list):
            diag = diagnostic(doc, path, f"`{field}`: needs at least {err['ctx']['min_length']} entry", rule="list-length",
                              key=False)
        elif kind == "too_long" and isinstance(err["input"], dict):
            diag = diagnostic(doc, path, f"`{field}`: {len(err['input'])} entries; at most {err['ctx']['max_length']} "
                              "are allowed", rule="list-length")
        else:
            message = err["msg"][0].lower() + err["msg"][1:]
            diag = diagnostic(doc, path, f"`{field}`: {message} (got {_describe(err['input'])})", rule="invalid-value", key=False)
        # Union members each report an error at the same place: keep the most
        # specific one (our own value errors explain the most).
        if path not in by_path or kind == "value_error":
            by_path[path] = diag
    return list(by_path.values())


def _type_message(doc: Document, path: Path, field: str, expected: str, value: Any) -> str:
    raw = doc.plain.get(path)
    if raw is not None and expected == "a string":
        reading = _describe(value)
        if isinstance(value, bool):
            return (f"`{field}`: `{raw}` is a YAML 1.1 boolean ({str(value).lower()}), not a string; "
                    f"quote it: \"{raw}\"")
        if isinstance(value, (int, float)) and str(value) != raw:
            return (f"`{field}`: `{raw}` is read by YAML as {reading}, which loses the text you wrote; "
                    f"versions and ids are strings: quote it: \"{raw}\"")
        return f"`{field}`: expected a string, got {reading}; quote it: \"{raw}\""
    return f"`{field}`: expected {expected}, got {_describe(value)}"


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _unknown_key(path: Path, root: type[BaseModel]) -> str:
    allowed = _allowed_keys(path[:-1], root)
    key = str(path[-1])
    where = _dotted(path[:-1])
    hint = _suggest(key, allowed)
    if not hint and allowed:
        hint = f"; allowed here: {', '.join(sorted(allowed))}"
    return f"unknown field `{key}` in `{where}`{hint}"


def _allowed_keys(path: Path, root: type[BaseModel] = ModelDeployment) -> list[str]:
    """The field names (YAML spelling) the model allows at `path`."""
    annotation: Any = root
    for seg in path:
        annotation = _descend(annotation, seg)
        if annotation is None:
            return []
    model = _model_of(annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _unwrap(annotation: Any) -> Iterator[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _unwrap(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _unwrap(arg)
    else:
        yield annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _descend(annotation: Any, seg: str | int) -> Any:
    for option in _unwrap(annotation):
        origin = typing.get_origin(option)
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(seg, str):
            for name, f in option.model_fields.items():
                if (f.alias or name) == seg:
                    return f.annotation
        elif origin is list and isinstance(seg, int):
            return typing.get_args(option)[0]
        elif origin is dict and isinstance(seg, str):
            return typing.get_args(option)[1]
    return None


# --- cross-field rules ---------------------------------------------------------


def semantic_problems(doc: ModelDeployment) -> Iterator[tuple[Path, str]]:
    """Rules that involve more than one field of the spec alone, as (path, message) pairs."""
    spec = doc.spec
    name = doc.metadata.name
    longest = max(len(LONGEST_SUFFIX), EVAL_JOB_SUFFIX_LEN)
    if len(name) + longest > 63:
        yield (("metadata", "name"), f"`metadata.name` {name!r} is {len(name)} characters; derived object names "
               f"(e.g. `{name}{LONGEST_SUFFIX}`) must fit 63, so use at most {63 - longest}")

    baseline = spec.evaluation.baseline or (spec.rollback.previous.version if spec.rollback else None)
    if baseline is not None and baseline == spec.model.version:
        where = ("spec", "evaluation", "baseline") if spec.evaluation.baseline else ("spec", "rollback", "previous", "version")
        yield (where, f"the baseline is the candidate itself ({baseline!r}); compare against the previous release")
    at: Path
    for i, t in enumerate(spec.evaluation.thresholds):
        at = ("spec", "evaluation", "thresholds", i)
        if t.min is None and t.max is None and t.max_drop is None:
            yield (at, f"threshold for `{t.metric}` has no bound: give `min`, `max` or `maxDrop`")
        if t.min is not None and t.max is not None and t.min > t.max:
            yield (at + ("min",), f"threshold for `{t.metric}`: `min` {t.min} is greater than `max` {t.max}")
        if t.max_drop is not None and baseline is None:
            yield (at + ("maxDrop",), f"threshold for `{t.metric}`: `maxDrop` needs a baseline; set "
                   "`spec.evaluation.baseline` or `spec.rollback.previous`")

    steps = spec.rollout.steps or []
    last_weight = 0
    for i, step in enumerate(steps):
        at = ("spec", "rollout", "steps", i)
        if sum(v is not None for v in (step.set_weight, step.pause, step.mirror, step.header_route)) != 1:
            yield (at, "a canary step has exactly one of `setWeight`, `pause`, `mirror` or `headerRoute`")
        elif step.set_weight is not None:
            if step.set_weight < last_weight:
                yield (at + ("setWeight",), f"canary weight {step.set_weight} is lower than the previous step's "
                       f"{last_weight}; weights must not decrease")
            last_weight = step.set_weight

    if spec.rollout.analysis:
        seen: set[str] = set()
        for i, m in enumerate(spec.rollout.analysis.metrics):
            at = ("spec", "rollout", "analysis", "metrics", i)
            if m.name in seen:
                yield (at + ("name",), f"duplicate online metric name `{m.name}`")
            seen.add(m.name)
            if m.min is None and m.max is None:
                yield (at, f"online metric `{m.name}` has no bound: give `min` or `max`")
            if m.min is not None and m.max is not None and m.min > m.max:
                yield (at + ("min",), f"online metric `{m.name}`: `min` {m.min} is greater than `max` {m.max}")

    for section in ("serving", "evaluation"):
        resources = getattr(spec, section).resources
        if resources is not None:
            yield from _resource_problems(resources.requests, resources.limits, ("spec", section, "resources"))

    yield from _env_problems(spec.serving.env, ("spec", "serving", "env"))
    if spec.serving.storage_initializer is not None:
        yield from _env_problems(spec.serving.storage_initializer.env, ("spec", "serving", "storageInitializer", "env"))

    prev = spec.rollback.previous if spec.rollback else None
    if prev is not None and prev.version == spec.model.version:
        yield (("spec", "rollback", "previous", "version"),
               f"`rollback.previous.version` equals the model version {prev.version!r}")


def _env_problems(env: list[EnvVar], at: Path) -> Iterator[tuple[Path, str]]:
    names: set[str] = set()
    for i, var in enumerate(env):
        if (var.value is None) == (var.secret_key_ref is None):
            yield (at + (i,), f"env `{var.name}` needs exactly one of `value` or `secretKeyRef`")
        if var.name in names:
            yield (at + (i, "name"), f"duplicate env variable `{var.name}`")
        names.add(var.name)


def _resource_problems(requests: dict[str, Any], limits: dict[str, Any], at: Path) -> Iterator[tuple[Path, str]]:
    for name in sorted(requests.keys() & limits.keys()):
        request, limit = quantity_value(str(requests[name])), quantity_value(str(limits[name]))
        if "/" in name and request != limit:  # extended resources such as nvidia.com/gpu
            yield (at + ("requests", name), f"`{name}` is an extended resource: Kubernetes needs its request "
                   f"({requests[name]}) to equal its limit ({limits[name]})")
        elif request > limit:
            yield (at + ("requests", name), f"`{name}` request {requests[name]} is above its limit "
                   f"{limits[name]}; Kubernetes rejects such a pod")
