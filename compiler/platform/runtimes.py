"""Model servers: how a runtime starts, where it listens, how it is probed, what it loads.

One mechanism for every runtime, like KServe's `ClusterServingRuntime`: the built-ins
(`mlserver`, `triton`, `torchserve`, `custom`) are `RuntimeDefinition`s written below in
the platform file's own format, and a platform file adds its own under `spec.runtimes`
(one of the same name replaces the built-in). A spec picks one with `serving.runtime`.

Placeholders in `args`, `command`, `env` values, probe paths and the readiness command:
`{name}` (the model's name inside the server), `{version}`, `{port}` (the serving port),
`{modelDir}` (the verified artifact) and `{runtimeDir}` (mlspec's ConfigMap of programs).
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Iterator, Literal, Mapping, Protocol

from pydantic import Field

from mlspec.files.loader import Document, Path
from mlspec.spec import fields
from mlspec.spec.fields import PinnedImage, Strict
from mlspec.spec.model import Spec


class Platform(Protocol):
    """What this module reads of a loaded platform file (`platformfile.Platform`)."""

    @property
    def digest(self) -> str: ...

    @property
    def doc(self) -> Document: ...

    @property
    def source(self) -> str: ...

MODEL_DIR = "/mnt/models"  # delivery.MOUNTS["model"]
RUNTIME_DIR = "/mlspec/runtime"
# Paths mlspec itself mounts in the server container: a runtime's writable paths stay off them.
RESERVED_PATHS = ("/tmp", "/mnt", "/mlspec")
Format = Literal["sklearn", "xgboost", "lightgbm", "mlflow", "huggingface", "onnx", "pytorch", "tensorflow",
                 "triton", "custom"]
_PLACEHOLDER = re.compile(r"\{(name|version|port|modelDir|runtimeDir)\}")
# Default probes per protocol: the model-level endpoint where the protocol has one.
READY_BY_PROTOCOL = {"v2": "/v2/models/{name}/ready", "v1": "/v1/models/{name}", "openai": "/v1/models"}
LIVE_BY_PROTOCOL = {"v2": "/v2/health/live"}


class RuntimeEnvVar(Strict):
    name: str = Field(pattern=fields.ENV_NAME_RE, description="Variable name.")
    value: str = Field(description="Value; may use the placeholders (`{port}`, `{name}`, ...).")


class RuntimeDefinition(Strict):
    """A model server: how it starts, where it listens, how it is probed and what it loads."""

    image: PinnedImage | None = Field(
        default=None, description="Server image, pinned by digest. Default: the spec's `serving.image` (which wins).")
    command: list[str] | None = Field(default=None, description="Container command (the image's entrypoint when absent).")
    args: list[str] | None = Field(
        default=None, description="Container arguments; a spec's `serving.extraArgs` are appended, `serving.args` "
        "replaces them.")
    port: int = Field(ge=1, le=65535, description="HTTP port the server listens on (a spec's `serving.port` wins).")
    protocol: Literal["v2", "v1", "openai", "custom"] = Field(
        description="Inference protocol: `v2` (Open Inference), `v1` (KServe V1), `openai`, or `custom`; sets the "
        "default probe paths.")
    readiness_path: str | None = Field(
        default=None, pattern=r"^/", description="HTTP readiness path (`{name}`: the model's name). Default per "
        "protocol: v2 `/v2/models/{name}/ready`, v1 `/v1/models/{name}`, openai `/v1/models`.")
    readiness_command: list[str] | None = Field(
        default=None, min_length=1, description="Exec readiness probe instead of a path (e.g. asking a loopback-only "
        "management API from inside the container).")
    liveness_path: str | None = Field(
        default=None, pattern=r"^/", description="HTTP liveness path. Default: v2 `/v2/health/live`, else the "
        "readiness path.")
    formats: list[Format] | None = Field(
        default=None, description="`spec.model.format` values it loads; any when absent.")
    format_env: dict[Format, list[RuntimeEnvVar]] = Field(
        default_factory=dict, description="Variables set for one format (e.g. MLServer's implementation class).")
    writable_paths: list[Annotated[str, Field(pattern=r"^/[^\s]*$")]] = Field(
        default_factory=list, description="Directories the server writes besides `/tmp` (each gets its own "
        "`emptyDir`; the root filesystem is read-only).")
    env: list[RuntimeEnvVar] = Field(default_factory=list, description="Variables for the server container.")


_READY_EXEC = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"  # 2xx or raise
# The built-ins, as a platform file would write them (README "Platform file" shows this).
BUILTIN_DEFINITIONS: dict[str, dict[str, Any]] = {
    "mlserver": {
        "args": ["mlserver", "start", "{runtimeDir}"], "port": 8080, "protocol": "v2",
        "formats": ["sklearn", "xgboost", "lightgbm", "mlflow", "huggingface", "custom"],
        "env": [
            {"name": "MLSERVER_HTTP_PORT", "value": "{port}"}, {"name": "MLSERVER_MODEL_NAME", "value": "{name}"},
            {"name": "MLSERVER_MODEL_VERSION", "value": "{version}"},
            {"name": "MLSERVER_MODEL_URI", "value": "{modelDir}"},
            # MLServer writes Prometheus multiprocess files and unpacked environments below
            # `$PWD` by default: on a read-only root filesystem it would die at start.
            {"name": "MLSERVER_METRICS_DIR", "value": "/tmp/.metrics"},
            {"name": "MLSERVER_ENVIRONMENTS_DIR", "value": "/tmp/.envs"},
        ],
        "formatEnv": {fmt: [{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": impl}] for fmt, impl in (
            ("sklearn", "mlserver_sklearn.SKLearnModel"), ("xgboost", "mlserver_xgboost.XGBoostModel"),
            ("lightgbm", "mlserver_lightgbm.LightGBMModel"), ("mlflow", "mlserver_mlflow.MLflowRuntime"),
            ("huggingface", "mlserver_huggingface.HuggingFaceRuntime"))},
    },
    "triton": {
        "args": ["tritonserver", "--model-repository={modelDir}", "--http-port={port}"], "port": 8000,
        "protocol": "v2", "formats": ["triton"],
    },
    # No `--foreground`: the images' entrypoints (pytorch/torchserve and KServe's torchserve-kfs)
    # run the arguments, then keep the container alive themselves; torchserve-kfs starts its
    # KServe wrapper only after the command returns, which a foreground server never does.
    "torchserve": {
        "args": ["torchserve", "--start", "--model-store={modelDir}", "--models", "{name}={name}.mar",
                 "--disable-token-auth", "--ts-config={runtimeDir}/torchserve.properties"],
        "port": 8080, "protocol": "custom", "livenessPath": "/ping", "formats": ["pytorch"],
        # The management API (no token) listens on the pod's loopback only; readiness asks it from inside.
        "readinessCommand": ["python3", "-I", "-c", _READY_EXEC, "http://127.0.0.1:8081/models/{name}"],
        "env": [{"name": "TS_INFERENCE_ADDRESS", "value": "http://0.0.0.0:{port}"},
                {"name": "TS_MANAGEMENT_ADDRESS", "value": "http://127.0.0.1:8081"},
                {"name": "LOG_LOCATION", "value": "/tmp/logs"}, {"name": "METRICS_LOCATION", "value": "/tmp/logs"}],
    },
    "custom": {"port": 8080, "protocol": "custom", "readinessPath": "/healthz"},
}


def _trusted(body: dict[str, Any]) -> RuntimeDefinition:
    """A built-in definition without validation: it is this module's own data, which
    `tests/cli/test_runtimes.py` validates against the model. Building the model's
    validator costs a cold `build` more than everything it validates."""
    def env(items: list[dict[str, str]]) -> list[RuntimeEnvVar]:
        return [RuntimeEnvVar.model_construct(name=item["name"], value=item["value"]) for item in items]

    nested: dict[str, Any] = {}
    if "env" in body:
        nested["env"] = env(body["env"])
    if "formatEnv" in body:
        nested["formatEnv"] = {fmt: env(items) for fmt, items in body["formatEnv"].items()}
    return RuntimeDefinition.model_construct(**{**body, **nested})


BUILTIN: dict[str, RuntimeDefinition] = {name: _trusted(body) for name, body in BUILTIN_DEFINITIONS.items()}

assert tuple(BUILTIN) == fields.RUNTIMES  # the names the spec's JSON Schema completes

_registries: dict[str, dict[str, RuntimeDefinition]] = {}


def registry(platform: Platform | None) -> Mapping[str, RuntimeDefinition]:
    """The runtimes a spec may pick: the built-ins and the platform's (read once per platform)."""
    if platform is None:
        return BUILTIN
    found = _registries.get(platform.digest)
    if found is None:
        own = (platform.doc.data.get("spec") or {}).get("runtimes") or {}
        found = {**BUILTIN, **{name: RuntimeDefinition.model_validate(body) for name, body in own.items()}}
        _registries[platform.digest] = found
    return found


def definition_problems(runtime: RuntimeDefinition) -> Iterator[tuple[Path, str]]:
    """Rules of one runtime definition beyond its types (paths relative to the definition)."""
    if runtime.readiness_path is not None and runtime.readiness_command is not None:
        yield ("readinessCommand",), "give `readinessPath` or `readinessCommand`, not both"
    if runtime.protocol == "custom" and runtime.readiness_path is None and runtime.readiness_command is None:
        yield ("protocol",), "a `custom` protocol has no standard health endpoint: give `readinessPath`"
    seen: set[str] = set()
    for i, path in enumerate(runtime.writable_paths):
        clean = path.rstrip("/") or "/"
        if any(clean == r or clean.startswith(r + "/") or r.startswith(clean + "/") or clean == "/" for r in RESERVED_PATHS):
            yield ("writablePaths", i), (f"`{path}` overlaps a path mlspec mounts itself ({', '.join(RESERVED_PATHS)})")
        elif clean in seen:
            yield ("writablePaths", i), f"`{path}` is listed twice"
        seen.add(clean)
    if runtime.formats is not None:
        for fmt in runtime.format_env:
            if fmt not in runtime.formats:
                yield ("formatEnv", fmt), f"format `{fmt}` is not in this runtime's `formats`"


def spec_problems(spec: Spec, known: Mapping[str, RuntimeDefinition]) -> Iterator[tuple[Path, str]]:
    """A spec's choice of runtime: known, given an image, loading the spec's format."""
    s = spec.serving
    runtime = known.get(s.runtime)
    if runtime is None:
        close = difflib.get_close_matches(s.runtime, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        yield (("spec", "serving", "runtime"), f"unknown runtime `{s.runtime}`{hint}; known: {', '.join(sorted(known))}"
               " (the built-ins and the platform file's `spec.runtimes`)")
        return
    if s.image is None and runtime.image is None:
        yield (("spec", "serving"), f"`spec.serving.image` is required: runtime `{s.runtime}` names no image")
    fmt = spec.model.format
    if runtime.formats is not None and fmt not in runtime.formats:
        yield (("spec", "model", "format"), f"runtime `{s.runtime}` cannot load format `{fmt}`; it loads: "
               + ", ".join(f"`{f}`" for f in runtime.formats))
        return
    # A runtime that sets a variable per format needs it from the spec for a format it has none for.
    per_format = sorted({v.name for entries in runtime.format_env.values() for v in entries})
    given = {v.name for v in s.env}
    missing = [name for name in per_format
               if fmt not in runtime.format_env and name not in given]
    if missing:
        known_formats = ", ".join(sorted(runtime.format_env))
        yield (("spec", "model", "format"), f"runtime `{s.runtime}` needs to know the model's implementation: set "
               f"`spec.model.format` ({known_formats}) or {', '.join(f'`{m}`' for m in missing)} in `spec.serving.env`")


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def container(spec: Spec, model_name: str, known: Mapping[str, RuntimeDefinition]) -> dict[str, Any]:
    """The server container's runtime part: image, command, args, port, probes, env, writable volumes."""
    s = spec.serving
    runtime = known[s.runtime]
    port = s.port or runtime.port
    values = {"name": model_name, "version": spec.model.version, "port": str(port), "modelDir": MODEL_DIR,
              "runtimeDir": RUNTIME_DIR}

    def fill_all(items: list[str] | None) -> list[str] | None:
        return None if items is None else [_fill(item, values) for item in items]

    args = fill_all(runtime.args)
    if s.args is not None:
        args = list(s.args)
    if s.extra_args:
        args = [*(args or []), *s.extra_args]
    ready: dict[str, Any]
    ready_path = runtime.readiness_path or READY_BY_PROTOCOL.get(runtime.protocol)
    if s.health_path:
        ready = {"httpGet": {"path": s.health_path, "port": "http"}}
    elif runtime.readiness_command is not None:
        ready = {"exec": {"command": fill_all(runtime.readiness_command)}}
    else:
        assert ready_path is not None  # definition_problems: a custom protocol gives one
        ready = {"httpGet": {"path": _fill(ready_path, values), "port": "http"}}
    live = s.health_path or _fill(runtime.liveness_path or LIVE_BY_PROTOCOL.get(runtime.protocol) or ready_path or "/", values)
    env = [{"name": v.name, "value": _fill(v.value, values)}
           for v in [*runtime.env, *runtime.format_env.get(spec.model.format, [])]]
    writable = [(f"writable-{i}", path) for i, path in enumerate(runtime.writable_paths)]
    return {
        "image": s.image or runtime.image, "command": fill_all(runtime.command), "args": args, "port": port,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}], "ready": ready, "live": live,
        "env": env, "protocol": runtime.protocol,
        "volumes": [{"name": name, "emptyDir": {}} for name, _ in writable],
        "mounts": [{"name": name, "mountPath": path} for name, path in writable],
    }


def image_at(spec: Spec, platform: Platform | None) -> tuple[str, str, Path] | None:
    """The runtime's image when the spec takes it: (image, file, path in that file)."""
    if spec.serving.image is not None:
        return None
    runtime = registry(platform).get(spec.serving.runtime)
    if runtime is None or runtime.image is None:
        return None
    return runtime.image, platform.source if platform else "", ("spec", "runtimes", spec.serving.runtime, "image")
