from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from mlspec import compile_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
# A repository layout of its own (a directory scan of examples/ must not need a platform file):
# specs that pick the runtimes of examples-platform/.mlspec/platform.yaml.
PLATFORM_DIR = ROOT / "examples-platform"
PLATFORM_EXAMPLES = sorted(PLATFORM_DIR.glob("*.yaml"))
ALL_EXAMPLES = EXAMPLES + PLATFORM_EXAMPLES

# Property tests draw the same examples on every machine and every run (`derandomize`, no
# example database): a CI result is reproducible, never the luck of a seed. To explore new
# examples locally: `pytest --hypothesis-profile explore` (a failure it finds becomes a test).
settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("default")

# Console scripts (`mlspec`, `kubectl`) come from the environment running the
# tests, even when it was not activated (`.venv/bin/python -m pytest`).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def build_example(path: Path) -> dict[str, str]:
    """One example compiled as `mlspec build` would: with its repository's platform file, if any."""
    if path.parent != PLATFORM_DIR:
        return compile_spec(path.read_bytes(), source=path.name)
    from mlspec.pipeline import core
    from mlspec.pipeline.resolve import NO_CONTEXT
    from mlspec.platform import platformfile

    context = platformfile.with_platform(NO_CONTEXT, platformfile.read(str(PLATFORM_DIR / platformfile.HOME)))
    return core.to_files(core.compile_releases(path.read_bytes(), path.name, context=context), path.name)


@pytest.fixture(scope="session")
def built_examples() -> dict[str, dict[str, str]]:
    """Every example compiled once: {example file name: {relative path: text}}."""
    return {p.name: build_example(p) for p in ALL_EXAMPLES}


@pytest.fixture(scope="session")
def built_tree(tmp_path_factory: pytest.TempPathFactory, built_examples: dict[str, dict[str, str]]) -> Path:
    """All examples written to disk as `mlspec build` lays them out."""
    from mlspec.files import outtree

    out = tmp_path_factory.mktemp("built")
    for files in built_examples.values():
        outtree.write_tree(out, files)
    return out
