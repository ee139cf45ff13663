"""Every example builds; every emitted file is snapshot-tested; output is deterministic."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from conftest import ALL_EXAMPLES, EXAMPLES, ROOT, build_example

CASES = [(p, rel) for p in ALL_EXAMPLES for rel in sorted(build_example(p))]


@pytest.mark.parametrize(("example", "rel"), CASES, ids=[f"{p.stem}/{rel}" for p, rel in CASES])
def test_emitted_file_matches_snapshot(example, rel, built_examples, snapshot):
    assert built_examples[example.name][rel] == snapshot


def test_examples_cover_the_design():
    names = {p.stem for p in EXAMPLES}
    assert {"fraud-detector", "minimal", "llm-chat"} <= names


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_every_environment_has_all_objects(example, built_examples):
    files = built_examples[example.name]
    directories = {rel.rsplit("/", 1)[0] for rel in files}
    for directory in directories:
        kinds = sorted(yaml.safe_load(text)["kind"] for rel, text in files.items()
                       if rel.startswith(directory + "/") and not rel.endswith("kustomization.yaml"))
        assert {"Rollout", "Service", "AnalysisTemplate", "Job", "ConfigMap"} <= set(kinds)
        assert kinds.count("Service") == 2


def test_offline_gate_runs_before_any_traffic(built_examples):
    for files in built_examples.values():
        for rel, text in files.items():
            obj = yaml.safe_load(text)
            if obj["kind"] != "Rollout":
                continue
            if "blueGreen" in obj["spec"]["strategy"]:  # the gate comes before promotion
                pre = obj["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"]["templates"][0]["templateName"]
                assert pre.endswith("-offline-eval"), rel
                continue
            steps = obj["spec"]["strategy"]["canary"]["steps"]
            # (a rollout whose pods can give no share has no weighted step: traffic moves at promotion)
            first_weight = next((i for i, s in enumerate(steps) if "setWeight" in s), len(steps))
            gates = [i for i, s in enumerate(steps) if "analysis" in s]
            assert gates and gates[0] < first_weight, rel
            template = steps[gates[0]]["analysis"]["templates"][0]["templateName"]
            assert template.endswith("-offline-eval")


def test_output_is_identical_across_hash_seeds_and_time_zones(tmp_path):
    outputs = []
    for seed, tz in (("0", "UTC"), ("12345", "Asia/Kolkata"), ("random", "America/Los_Angeles")):
        out = tmp_path / f"out-{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz}
        subprocess.run([sys.executable, "-m", "mlspec.cli.main", "build", str(ROOT / "examples"), "-o", str(out)],
                       check=True, env=env, capture_output=True, cwd=tmp_path)
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0]) > 30
