"""Container `command`, `args` and `env` values reach the container exactly as the spec
wrote them, although the kubelet expands `$(VAR)` and `$$` in them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec import compile_spec
from mlspec.files.text import kubelet_literal

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


def kubelet_expand(text: str, mapping: dict[str, str]) -> str:
    """Kubernetes' expansion (third_party/forked/golang/expansion/expand.go, `Expand` with
    `MappingFuncFor`), ported line by line: `$$` -> `$`, `$(NAME)` -> its value, or the
    reference unchanged when NAME is not defined; any other `$` stays."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1:]
            if rest[0] == "$":  # escaped operator
                read, is_var, advance = "$", False, 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close != -1:
                    read, is_var, advance = rest[1:close], True, close + 1
                else:  # incomplete reference
                    read, is_var, advance = "$(", False, 1
            else:
                read, is_var, advance = "$" + rest[0], False, 1
            out.append((mapping[read] if read in mapping else f"$({read})") if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def test_the_port_behaves_as_kubernetes_documents():
    env = {"VAR": "value"}
    assert kubelet_expand("$(VAR)", env) == "value"
    assert kubelet_expand("$$(VAR)", env) == "$(VAR)"
    assert kubelet_expand("$(UNKNOWN)", env) == "$(UNKNOWN)"
    assert kubelet_expand("$$$$", env) == "$$"
    assert kubelet_expand("a$b$(c", env) == "a$b$(c"
    assert kubelet_expand("$", env) == "$"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("$()VAR x"), max_size=24), st.dictionaries(st.sampled_from(["VAR", "x", ""]),
                                                                                    st.text(max_size=3)))
def test_an_escaped_value_expands_to_itself_whatever_is_defined(text, mapping):
    assert kubelet_expand(kubelet_literal(text), mapping) == text


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key in ("initContainers", "containers"):
            if isinstance(node.get(key), list):
                yield from node[key]
        for value in node.values():
            yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


def _seen_by_containers(files: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(file, container, every command/args/env value after the kubelet's expansion)."""
    seen = []
    for path, text in sorted(files.items()):
        for container in _containers(yaml.safe_load(text)):
            # Every name a value could reference is defined, so an unescaped reference shows.
            mapping = {"AWS_SECRET_ACCESS_KEY": "THE-SECRET", "w": "W", **{v["name"]: "VAR" for v in container.get("env", [])}}
            values = [*container.get("command", []), *container.get("args", []),
                      *(v["value"] for v in container.get("env", []) if "value" in v)]
            seen.append((path, container["name"], [kubelet_expand(v, mapping) for v in values]))
    return seen


PAYLOAD = "x$(AWS_SECRET_ACCESS_KEY)y$$z$(w$"


def _spec(text: str) -> str:
    return MINIMAL.replace("uri: pvc://models/churn/1.0.0/model.joblib", f'uri: "s3://models/churn/{text}/model.joblib"').replace(
        "  serving:\n", f'  serving:\n    storageInitializer:\n      image: "init@sha256:{"0" * 64}"\n'
                        f'      env: [{{name: AWS_ENDPOINT_URL, value: "{text}"}}]\n'
                        f'    args: ["--name", "{text}"]\n    env: [{{name: NOTE, value: "{text}"}}]\n').replace(
        "    dataset:", f'    command: [python, "{text}"]\n    args: ["{text}"]\n    dataset:')


def test_every_container_sees_the_spec_values_exactly():
    escaped = _seen_by_containers(compile_spec(_spec(PAYLOAD), source="churn.yaml"))
    plain = _seen_by_containers(compile_spec(_spec("PAYLOAD"), source="churn.yaml"))
    assert [(path, name, len(values)) for path, name, values in escaped] == \
        [(path, name, len(values)) for path, name, values in plain]
    # Wherever the spec's text went (other values differ only by the spec's digest, in names)
    pairs = [(seen, written) for (_, _, a), (_, _, b) in zip(escaped, plain) for seen, written in zip(a, b)
             if "PAYLOAD" in written]
    assert [seen for seen, _ in pairs] == [written.replace("PAYLOAD", PAYLOAD) for _, written in pairs]
    # it reached init containers, the server, the evaluator and the fetch step's env, in every pod.
    assert len(pairs) >= 8
    assert not any("THE-SECRET" in v for _, _, values in escaped for v in values)


def test_values_without_a_reference_are_emitted_unchanged():
    files = compile_spec(_spec("a$b"), source="churn.yaml")
    rollout = yaml.safe_load(files["default/churn/rollout.yaml"])
    assert rollout["spec"]["template"]["spec"]["containers"][0]["args"] == ["--name", "a$b"]
