"""`mlspec.platform.platformfile` without the CLI: the layers merged under a spec and where
their values point, what a spec's own choice prunes, the output directory, the platform file
told from a spec, one platform file per command. Fast: first in the mutation run's set for
`platform`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlspec.files import loader
from mlspec.files.errors import SpecError
from mlspec.pipeline.resolve import Context
from mlspec.platform import platformfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from test_platform import H, PLATFORM, REG, SPEC  # noqa: E402

HEADER = "apiVersion: mlspec.dev/v1alpha1\nkind: Platform\nspec:\n"


def _merged(platform: str, spec: str = SPEC, env: str | None = None) -> loader.Document:
    return platformfile.under(platformfile.parse(platform, "p.yaml"), loader.load(spec.replace("NAME", "churn"), "s.yaml"),
                              env)


# --- the layers: environment defaults < ... the nearer wins, maps merge, lists replace ---------


LAYERED = HEADER + """\
  defaults:
    serving:
      replicas: 2
      nodeSelector: {zone: a, disk: ssd}
      env: [{name: A, value: "1"}]
    evaluation: {timeout: 30m}
  environments:
    prod:
      defaults:
        serving:
          replicas: 5
          nodeSelector: {zone: b}
"""


def test_an_environments_defaults_beat_the_global_ones_and_maps_merge_key_by_key():
    prod = _merged(LAYERED, env="prod")
    serving = prod.data["spec"]["serving"]
    assert serving["replicas"] == 5 and serving["nodeSelector"] == {"zone": "b", "disk": "ssd"}
    assert serving["env"] == [{"name": "A", "value": "1"}] and prod.data["spec"]["evaluation"]["timeout"] == "30m"
    # each value keeps its own line in the platform file: the environment's and the global layer's
    assert prod.locate(("spec", "serving", "replicas"), key=False) == ("p.yaml", (14, 21))
    assert prod.locate(("spec", "serving", "nodeSelector", "zone"), key=False) == ("p.yaml", (15, 32))
    assert prod.locate(("spec", "serving", "nodeSelector", "disk"), key=False) == ("p.yaml", (7, 37))
    assert prod.locate(("spec", "serving", "env", 0, "value"), key=False) == ("p.yaml", (8, 30))
    assert prod.locate(("spec", "evaluation", "timeout"), key=False) == ("p.yaml", (9, 27))
    # another environment (or none): the global layer only
    for env in ("staging", None):
        assert _merged(LAYERED, env=env).data["spec"]["serving"]["replicas"] == 2


def test_the_specs_own_values_win_and_keep_their_own_positions():
    spec = SPEC.replace("  evaluation:\n", "  serving:\n    replicas: 7\n    nodeSelector: {disk: hdd}\n"
                        "    env: [{name: B, value: '2'}]\n  evaluation:\n", 1)
    prod = _merged(LAYERED, spec, env="prod")
    serving = prod.data["spec"]["serving"]
    assert serving["replicas"] == 7 and serving["nodeSelector"] == {"disk": "hdd", "zone": "b"}
    assert serving["env"] == [{"name": "B", "value": "2"}]  # a list replaces, never merges
    assert prod.locate(("spec", "serving", "replicas"), key=False) == ("s.yaml", (16, 15))
    assert prod.locate(("spec", "serving", "nodeSelector", "disk"), key=False) == ("s.yaml", (17, 26))
    assert prod.locate(("spec", "serving", "nodeSelector", "zone"), key=False) == ("p.yaml", (15, 32))
    assert prod.origins.get(("spec", "serving", "replicas")) != "p.yaml"
    assert prod.origins[("spec", "serving", "nodeSelector", "zone")] == "p.yaml"


def test_merging_leaves_the_spec_and_the_platform_unchanged():
    platform = platformfile.parse(LAYERED, "p.yaml")
    doc = loader.load(SPEC.replace("NAME", "churn"), "s.yaml")
    before, marks, theirs = repr(doc.data), dict(doc.marks), repr(platform.doc.data)
    platformfile.under(platform, doc, "prod")
    assert (repr(doc.data), doc.marks, repr(platform.doc.data)) == (before, marks, theirs)
    assert platformfile.under(None, doc, "prod") is doc


def test_a_spec_that_is_no_mapping_is_returned_for_its_own_error():
    doc = loader.load("apiVersion: mlspec.dev/v1alpha1\nkind: ModelDeployment\nspec: [1]\n", "s.yaml")
    assert platformfile.under(platformfile.parse(LAYERED, "p.yaml"), doc, None) is doc


# --- what a spec's own choice prunes -------------------------------------------------------


ROLLOUT = HEADER + """\
  defaults:
    rollout:
      steps: [{setWeight: 20}, {pause: 1m}]
      trafficRouting: {nginx: {host: a.example}}
    model: {artifact: {signature: {verifierImage: VERIFIER}}}
""".replace("VERIFIER", f"{REG}/sig@sha256:{H}")


def test_a_blue_green_spec_drops_the_platforms_canary_steps():
    spec = SPEC.replace("  rollout:\n", "  rollout:\n    strategy: blueGreen\n")
    rollout = _merged(ROLLOUT, spec).data["spec"]["rollout"]
    assert "steps" not in rollout and rollout["strategy"] == "blueGreen"
    assert _merged(ROLLOUT).data["spec"]["rollout"]["steps"][0] == {"setWeight": 20}  # a canary keeps them


def test_a_specs_router_replaces_the_platforms():
    spec = SPEC.replace("  rollout:\n", "  rollout:\n    trafficRouting: {istio: {virtualService: {name: vs}}}\n")
    assert _merged(ROLLOUT, spec).data["spec"]["rollout"]["trafficRouting"] == {"istio": {"virtualService": {"name": "vs"}}}
    assert _merged(ROLLOUT).data["spec"]["rollout"]["trafficRouting"] == {"nginx": {"host": "a.example"}}


def test_a_default_signature_completes_a_specs_own_and_never_signs_an_unsigned_artifact():
    unsigned = _merged(ROLLOUT).data["spec"]["model"]["artifact"]
    assert "signature" not in unsigned
    signed = SPEC.replace('digest: "sha256:' + H + '"}', 'digest: "sha256:' + H + '", signature: {bundle: s3://b/s}}', 1)
    merged = _merged(ROLLOUT, signed).data["spec"]["model"]["artifact"]["signature"]
    assert merged == {"bundle": "s3://b/s", "verifierImage": f"{REG}/sig@sha256:{H}"}
    # the rollback's previous artifact: the same rule, apart from the model's
    previous = ROLLOUT.replace("    model: {artifact:", "    rollback: {previous: {artifact:").replace("}}}\n", "}}}}\n", 1)
    rolled = SPEC.replace("  environments:\n", '  rollback:\n    previous:\n      version: "0.9"\n      artifact: '
                          '{uri: s3://m/0.9, digest: "sha256:' + H + '"}\n      dataVersion: "1"\n  environments:\n')
    assert "signature" not in _merged(previous, rolled).data["spec"]["rollback"]["previous"]["artifact"]


# --- the output directory -------------------------------------------------------------------


@pytest.mark.parametrize("output, why", [
    ("/srv/deploy", "is absolute"), ("\\srv\\deploy", "is absolute"), ("C:/deploy", "is absolute"),
    ("c:deploy", "is absolute"), ("../deploy", "leaves the repository"), ("a/../../b", "leaves the repository"),
    ("a\\..\\b", "leaves the repository"), (".", "is the repository root itself"), ("./", "is the repository root itself"),
    ("", "is the repository root itself"), ("./.", "is the repository root itself"),
    ("deploy", None), ("./deploy", None), ("..deploy", None), ("gitops/models", None), ("a/.../b", None),
])
def test_the_output_directory_stays_inside_the_repository(output, why):
    found = platformfile.output_problem(output)
    assert (found is None) if why is None else (found is not None and found.startswith(why)), found


def test_a_bad_output_is_positioned_at_its_value():
    with pytest.raises(SpecError) as info:
        platformfile.parse(HEADER + "  output: ../out\n", "p.yaml")
    [found] = info.value.diagnostics
    assert (found.line, found.col, found.rule) == (4, 11, "invalid-value")
    assert found.message == "`spec.output` '../out' leaves the repository (`..`): it names a directory inside it, relative to its root"


def test_the_platform_files_own_settings():
    platform = platformfile.parse(HEADER + "  output: gitops\n  layout: namespaced\n", "p.yaml")
    assert (platform.output, platform.layout, platform.source) == ("gitops", "namespaced", "p.yaml")
    bare = platformfile.parse(HEADER + "  defaults: {}\n", "p.yaml")
    assert (bare.output, bare.layout) == (None, "flat")
    assert bare.digest.startswith("sha256:") and bare.digest != platform.digest


def test_with_platform_carries_the_layout_and_the_digest_for_the_lineage():
    platform = platformfile.parse(HEADER + "  layout: namespaced\n", "p.yaml")
    context = platformfile.with_platform(Context(lineage={"a": 1}), platform)
    assert (context.platform, context.layout) == (platform, "namespaced")
    assert context.lineage == {"a": 1, "platformDigest": platform.digest}
    plain = Context()
    assert platformfile.with_platform(plain, None) is plain


# --- a platform file told from a spec; one per command ----------------------------------------


@pytest.mark.parametrize("text, found", [
    ("kind: Platform\n", True), ("kind: 'Platform'\n", True), ('kind: "Platform"  # the file\n', True),
    ("apiVersion: x\nkind:   Platform\n", True), ("kind: PlatformX\n", False), ("kind: ModelDeployment\n", False),
    ("  kind: Platform\n", False), ("# kind: Platform\n", False),
])
def test_a_platform_file_is_told_by_its_top_level_kind(tmp_path, text, found):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    assert platformfile.is_platform_file(str(path)) is found
    assert platformfile.is_platform_file(str(tmp_path)) is False  # a directory
    assert platformfile.is_platform_file(str(tmp_path / "missing.yaml")) is False
    assert platformfile.is_platform_file(str(tmp_path / "no-directory" / "f.yaml")) is False  # an OSError: none


def _repo(root: Path, platform: str | None) -> str:
    (root / ".git").mkdir(parents=True)
    if platform is not None:
        (root / ".mlspec").mkdir()
        (root / ".mlspec" / "platform.yaml").write_text(platform)
    (root / "m.yaml").write_text("x")
    return str(root / "m.yaml")


def test_one_platform_file_per_command(tmp_path):
    one, two = _repo(tmp_path / "one", HEADER + "  defaults: {}\n"), _repo(tmp_path / "two", HEADER + "  output: x\n")
    bare = _repo(tmp_path / "bare", None)
    assert platformfile.find(None, [one, one]).source.endswith("one/.mlspec/platform.yaml")
    assert platformfile.find(None, [bare]) is None
    for specs in ([one, two], [bare, one], [one, bare]):
        with pytest.raises(SpecError) as info:
            platformfile.find(None, specs)
        [found] = info.value.diagnostics
        assert (found.source, found.line, found.col) == (specs[0], 1, 1)
        assert "these specs belong to repositories with different platform files" in found.message
    assert platformfile.find("none", [one, two]) is None
    chosen = platformfile.find(str(tmp_path / "two" / ".mlspec" / "platform.yaml"), [one, two])
    assert chosen.output == "x"


def test_an_unreadable_platform_file_is_a_positioned_error(tmp_path):
    with pytest.raises(SpecError) as info:
        platformfile.read(str(tmp_path / "missing.yaml"))
    [found] = info.value.diagnostics
    assert (found.line, found.col) == (1, 1) and found.message.startswith("cannot read the platform file: ")


def test_a_runtime_definition_problem_is_positioned_at_its_field():
    text = HEADER + f"  runtimes:\n    tf:\n      image: {REG}/tf@sha256:{H}\n      port: 8501\n      protocol: custom\n"
    with pytest.raises(SpecError) as info:
        platformfile.parse(text, "p.yaml")
    assert [(d.line, d.rule) for d in info.value.diagnostics] == [(8, "runtime-invalid")]  # at `protocol: custom`, which needs a readiness path
    assert info.value.diagnostics[0].message.startswith("runtime `tf`: ")


def test_the_platform_schema_and_scaffold():
    schema = platformfile.json_schema()
    assert schema["$id"] == platformfile.SCHEMA_ID and "PlatformSpec" in schema["definitions"]
    assert platformfile.schema_text().endswith("}\n")
    scaffold = platformfile.scaffold("./platform.schema.json")
    assert scaffold.startswith("# yaml-language-server: $schema=./platform.schema.json\n")
    platformfile.parse(scaffold, "p.yaml")  # valid as written


def test_a_scaffolded_spec_leaves_out_exactly_what_the_defaults_provide():
    platform = platformfile.parse(PLATFORM, "p.yaml")
    text = ("spec:\n  serving:\n    image: x  # the image\n    replicas: 2\n  evaluation:\n"
            "    gateImage: g\n    image: e\n  other: 1\n")
    kept = platformfile.omit_provided(text, platform)
    assert kept == "spec:\n  serving:\n    replicas: 2\n  other: 1\n"


def test_a_platform_file_through_a_link_is_none_and_never_an_error(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "platform.yaml").write_text("kind: Platform\n")
    (tmp_path / "linked").symlink_to(real)
    (tmp_path / "file-link.yaml").symlink_to(real / "platform.yaml")
    assert platformfile.is_platform_file(str(real / "platform.yaml")) is True
    assert platformfile.is_platform_file(str(tmp_path / "linked" / "platform.yaml")) is False  # a linked directory
    assert platformfile.is_platform_file(str(tmp_path / "file-link.yaml")) is False


def test_the_trusted_keys_carry_their_file_line_and_column():
    pem = "-----BEGIN PUBLIC KEY-----\n  MCowBQYDK2VwAyEA\n  -----END PUBLIC KEY-----\n"
    text = HEADER + ("  trust:\n    attestationKeys:\n      - name: ci-main\n        publicKey: |\n          "
                     + pem.replace("\n  ", "\n          ") + "      - name: ci-two\n        publicKey: |\n          "
                     + pem.replace("\n  ", "\n          "))
    keys = platformfile.parse(text, "p.yaml").attestation_keys
    assert [(name, where) for name, _, where in keys] == [("ci-main", ("p.yaml", 7, 20)), ("ci-two", ("p.yaml", 12, 20))]
    assert keys[1][1].startswith("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n")
    assert platformfile.parse(HEADER + "  defaults: {}\n", "p.yaml").attestation_keys == []


def test_a_scaffolded_spec_drops_a_provided_block_at_the_end_and_one_indented_by_one():
    platform = platformfile.parse(PLATFORM, "p.yaml")
    # the last block of the file is provided: dropped to the end, no line past it looked at
    assert platformfile.omit_provided("spec:\n  other: 1\n  evaluation:\n    gateImage: g\n    image: e", platform) \
        == "spec:\n  other: 1\n"
    # children one column deeper than their key belong to its block
    assert platformfile.omit_provided("spec:\n  evaluation:\n   gateImage: g\n   image: e\n  other: 1\n", platform) \
        == "spec:\n  other: 1\n"


def test_a_platform_file_is_recognized_by_its_first_64_kib(tmp_path):
    line = b"kind: Platform\n"
    within, past = tmp_path / "within.yaml", tmp_path / "past.yaml"
    within.write_bytes(b"#" * (64 * 1024 - len(line) - 1) + b"\n" + line)  # ends at the last byte read
    past.write_bytes(b"#" * (64 * 1024 - 1) + b"\n" + line)  # starts one byte past it
    assert platformfile.is_platform_file(str(within)) is True
    assert platformfile.is_platform_file(str(past)) is False


def test_a_runtime_problem_points_at_the_value_not_the_key():
    text = HEADER + f"  runtimes:\n    tf:\n      image: {REG}/tf@sha256:{H}\n      port: 8501\n      protocol: custom\n"
    with pytest.raises(SpecError) as info:
        platformfile.parse(text, "p.yaml")
    assert [(d.line, d.col) for d in info.value.diagnostics] == [(8, 17)]


def test_a_loaded_platform_is_never_changed_in_place():
    import dataclasses

    platform = platformfile.parse(HEADER + "  defaults: {}\n", "p.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        platform.digest = "sha256:other"  # type: ignore[misc]
    assert hash(platform.digest) and platform == platformfile.parse(HEADER + "  defaults: {}\n", "p.yaml")


def test_a_scaffolded_spec_keeps_the_line_after_a_one_line_block_and_drops_a_scalar_the_defaults_cover():
    platform = platformfile.parse(PLATFORM, "p.yaml")
    assert platformfile.omit_provided("spec:\n  evaluation:\n    gateImage: g\n  other: 1\n", platform) \
        == "spec:\n  other: 1\n"
    # a placeholder scalar where the platform gives a mapping: provided
    assert platformfile.omit_provided("spec:\n  evaluation: TODO\n  other: 1\n", platform) == "spec:\n  other: 1\n"


def test_a_value_of_another_shape_in_the_spec_wins_whole_for_its_own_error():
    # the spec's scalar where the defaults have a mapping, and its mapping where they have a scalar
    spec = SPEC.replace("  evaluation:\n", "  serving:\n    replicas: {many: 3}\n    nodeSelector: ssd\n  evaluation:\n", 1)
    serving = _merged(LAYERED, spec, env="prod").data["spec"]["serving"]
    assert serving["replicas"] == {"many": 3} and serving["nodeSelector"] == "ssd"
    assert serving["env"] == [{"name": "A", "value": "1"}]  # the rest of the layer still merged
