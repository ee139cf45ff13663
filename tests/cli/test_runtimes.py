"""Runtimes: the built-ins and a platform file's `spec.runtimes`, one mechanism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import PLATFORM_DIR
from test_platform import PLATFORM, REG, H, _container, _load, _repo, run

from mlspec.platform import platformfile, runtimes

VLLM = f"""\
  runtimes:
    vllm:
      image: {REG}/serving/vllm@sha256:{H}
      command: [vllm, serve]
      args: ["{{modelDir}}", --served-model-name, "{{name}}", --port, "{{port}}"]
      port: 8000
      protocol: openai
      livenessPath: /health
      formats: [sklearn]
      writablePaths: [/var/cache/vllm]
      env: [{{name: VLLM_PORT_HINT, value: "{{port}}"}}]
"""


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    root = _repo(tmp_path / "repo", platform=PLATFORM.replace("  environments:\n", VLLM + "  environments:\n", 1),
                 names=("churn",))
    monkeypatch.chdir(root)
    return root


def _spec(repo: Path, serving: str) -> Path:
    path = repo / "models" / "churn.yaml"
    path.write_text(path.read_text().replace("  evaluation:\n", f"  serving: {serving}\n  evaluation:\n", 1))
    return path


def _refused(result, where: str, *words: str) -> None:
    assert result.exit_code == 1, result.output
    line = next(l for l in result.output.splitlines() if ": error: " in l)
    assert line.startswith(where), result.output
    assert all(w in line for w in words), line
    assert "Traceback" not in result.output
    assert not Path("out").exists()  # nothing written


def test_a_platform_runtime_renders_its_command_args_port_probes_env_and_writable_paths(repo):
    _spec(repo, "{runtime: vllm, extraArgs: [--max-model-len, '4096']}")
    result = run("build", "models", "-o", "out", "--env", "staging")
    assert result.exit_code == 0, result.output
    rollout = _load(repo / "out" / "staging" / "churn" / "rollout.yaml")
    server = _container(rollout, "server")
    assert server["image"] == f"{REG}/serving/vllm@sha256:{H}"
    assert server["command"] == ["vllm", "serve"]
    assert server["args"] == ["/mnt/models", "--served-model-name", "churn", "--port", "8000", "--max-model-len", "4096"]
    assert server["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/v1/models", "port": "http"}  # the openai default
    assert server["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert {"name": "VLLM_PORT_HINT", "value": "8000"} in server["env"]
    assert {"name": "writable-0", "mountPath": "/var/cache/vllm"} in server["volumeMounts"]
    assert {"name": "writable-0", "emptyDir": {}} in rollout["spec"]["template"]["spec"]["volumes"]
    service = _load(repo / "out" / "staging" / "churn" / "service-stable.yaml")
    assert service["spec"]["ports"][0]["targetPort"] in (8000, "http")


def test_extra_args_append_to_a_builtin_and_args_replace_it(repo):
    spec = _spec(repo, "{extraArgs: [--debug]}")
    assert run("build", "models", "-o", "out", "--env", "staging").exit_code == 0
    server = _container(_load(repo / "out" / "staging" / "churn" / "rollout.yaml"), "server")
    assert server["args"] == ["mlserver", "start", "/mlspec/runtime", "--debug"]
    assert "command" not in server  # the built-ins keep the image's entrypoint
    spec.write_text(spec.read_text().replace("{extraArgs: [--debug]}", "{args: [serve], extraArgs: [--debug]}"))
    # (a second output directory would be a second ledger of the model in this repository: printed instead)
    printed = run("build", "models", "--stdout", "--env", "staging")
    assert printed.exit_code == 0, printed.output
    [rollout] = [d for d in yaml.safe_load_all(printed.stdout) if d["kind"] == "Rollout"]
    assert _container(rollout, "server")["args"] == ["serve", "--debug"]


def test_the_builtin_torchserve_does_not_block_the_images_entrypoint():
    # torchserve-kfs runs `eval "$@"` and then its KServe wrapper: a foreground server never returns.
    assert "--foreground" not in (runtimes.BUILTIN["torchserve"].args or [])
    assert runtimes.BUILTIN["torchserve"].args[:2] == ["torchserve", "--start"]


def test_an_unknown_runtime_is_an_error_at_the_specs_value_listing_the_known_ones(repo):
    _spec(repo, "{runtime: vlm}")
    _refused(run("build", "models", "-o", "out"), "models/churn.yaml:", "unknown runtime `vlm`",
             "did you mean `vllm`", "custom, mlserver, torchserve, triton, vllm")


def test_a_format_the_runtime_does_not_load_is_an_error_at_the_specs_format(repo):
    spec = _spec(repo, "{runtime: vllm}")
    spec.write_text(spec.read_text().replace("format: sklearn", "format: onnx"))
    result = run("build", "models", "-o", "out")
    _refused(result, "models/churn.yaml:", "runtime `vllm` cannot load format `onnx`", "`sklearn`")
    line = int(result.output.split(":")[1])
    assert "format: onnx" in spec.read_text().splitlines()[line - 1]


@pytest.mark.parametrize(("change", "words"), [
    ("      port: 8000\n", ("runtimes.vllm", "port")),  # removed: a runtime needs its port
    (f"      image: {REG}/serving/vllm@sha256:{H}\n", ("not pinned by digest",)),  # replaced by a tag
    ("      protocol: openai\n", ("protocol",)),
    ("      writablePaths: [/var/cache/vllm]\n", ("overlaps a path mlspec mounts itself",)),
])
def test_a_bad_runtime_definition_is_an_error_in_the_platform_file(repo, change, words):
    path = repo / ".mlspec" / "platform.yaml"
    replacement = {"      image": f"      image: {REG}/serving/vllm:0.6\n",
                   "      protocol": "      protocol: custom\n",
                   "      writablePaths": "      writablePaths: [/tmp/x]\n"}.get(change.split(":")[0], "")
    text = path.read_text()
    assert change in text
    path.write_text(text.replace(change, replacement, 1))
    result = run("build", "models", "-o", "out")
    _refused(result, ".mlspec/platform.yaml:", *words)
    assert run("validate", ".mlspec/platform.yaml").exit_code == 1


def test_a_spec_without_an_image_needs_a_runtime_that_names_one(repo):
    path = repo / ".mlspec" / "platform.yaml"
    path.write_text(path.read_text().replace(f"      image: {REG}/seldonio/mlserver@sha256:{H}\n", "", 1))
    _spec(repo, "{replicas: 2}")
    _refused(run("build", "models", "-o", "out"), "models/churn.yaml:", "`spec.serving.image` is required",
             "runtime `mlserver` names no image")


def test_allowed_registries_cover_a_runtimes_image_at_its_line_in_the_platform_file(repo):
    path = repo / ".mlspec" / "platform.yaml"
    path.write_text(path.read_text().replace(f"{REG}/serving/vllm", "docker.io/vllm/vllm-openai", 1))
    _spec(repo, "{runtime: vllm}")
    result = run("build", "models", "-o", "out")
    lines = path.read_text().splitlines()
    image_line = next(i for i, l in enumerate(lines, 1) if "docker.io/vllm" in l)
    _refused(result, f".mlspec/platform.yaml:{image_line}:", "docker.io/vllm/vllm-openai", "not from an allowed registry",
             "policy allowedRegistries")


def test_the_platform_schema_describes_runtimes():
    schema = json.loads(run("schema", "--platform").stdout)
    assert "runtimes" in schema["definitions"]["PlatformSpec"]["properties"]
    runtime = schema["definitions"]["RuntimeDefinition"]
    assert set(runtime["required"]) == {"port", "protocol"}
    assert runtime["properties"]["protocol"]["enum"] == ["v2", "v1", "openai", "custom"]
    spec_schema = json.loads(run("schema").stdout)
    choice = spec_schema["definitions"]["Serving"]["properties"]["runtime"]
    assert choice["anyOf"][0]["enum"] == ["mlserver", "triton", "torchserve", "custom"]  # editor completion


def test_the_builtins_are_valid_platform_runtimes():
    # Written in the platform format: a platform file holding them validates as is.
    text = yaml.safe_dump({"apiVersion": "mlspec.dev/v1alpha1", "kind": "Platform",
                           "spec": {"runtimes": runtimes.BUILTIN_DEFINITIONS}}, sort_keys=False)
    loaded = platformfile.parse(text, "builtins.yaml")
    assert dict(runtimes.registry(loaded)) == runtimes.BUILTIN


def test_the_vllm_and_tf_serving_examples_render_exactly_their_runtimes(built_examples):
    defined = yaml.safe_load((PLATFORM_DIR / platformfile.HOME).read_text())["spec"]["runtimes"]
    expected = {
        "support-chat.yaml": ("vllm", ["/mnt/models", "--served-model-name", "support-chat", "--host", "0.0.0.0",
                                       "--port", "8000", "--max-model-len", "8192"], "/v1/models", "/health"),
        "image-tagger.yaml": ("tf-serving", ["--rest_api_port=8501", "--port=8500", "--model_name=image-tagger",
                                             "--model_base_path=/mnt/models"],
                              "/v1/models/image-tagger", "/v1/models/image-tagger"),
    }
    for example, (runtime, args, ready, live) in expected.items():
        files = built_examples[example]
        rollout = yaml.safe_load(next(t for rel, t in files.items() if rel.endswith("/rollout.yaml")))
        server = _container(rollout, "server")
        assert server["image"] == defined[runtime]["image"]
        assert server["command"] == defined[runtime]["command"]
        assert server["args"] == args
        assert server["ports"] == [{"name": "http", "containerPort": defined[runtime]["port"], "protocol": "TCP"}]
        for probe in ("startupProbe", "readinessProbe"):
            assert server[probe]["httpGet"] == {"path": ready, "port": "http"}
        assert server["livenessProbe"]["httpGet"] == {"path": live, "port": "http"}


def test_the_platform_examples_schema_for_the_editor_is_current():
    assert (PLATFORM_DIR / ".mlspec" / platformfile.SCHEMA_NAME).read_text() == platformfile.schema_text()


def test_the_specs_own_image_beats_the_runtimes(repo):
    own = f"{REG}/serving/vllm-patched@sha256:{'b' * 64}"
    _spec(repo, f"{{runtime: vllm, image: '{own}'}}")
    assert run("build", "models", "-o", "out", "--env", "staging").exit_code == 0
    assert _container(_load(repo / "out" / "staging" / "churn" / "rollout.yaml"), "server")["image"] == own


@pytest.mark.parametrize("name", sorted(runtimes.BUILTIN_DEFINITIONS))
def test_each_builtin_runtime_is_exactly_what_validating_its_definition_gives(name):
    # The built-ins are made without validation (a cold build need not build the model's
    # validator): validating the same data must give the same object, fields set included.
    validated = runtimes.RuntimeDefinition.model_validate(runtimes.BUILTIN_DEFINITIONS[name])
    built = runtimes.BUILTIN[name]
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump(by_alias=True) == validated.model_dump(by_alias=True)
    assert all(isinstance(v, runtimes.RuntimeEnvVar) for v in built.env)
    assert all(isinstance(v, runtimes.RuntimeEnvVar) for vs in built.format_env.values() for v in vs)
