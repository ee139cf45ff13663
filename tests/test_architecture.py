"""The architecture as tests: the one-way order of the subpackages (import-linter's
contracts in pyproject.toml), no import circle anywhere, pod programs on the standard
library only, small modules, and a start-up that pays only for what a command uses.

Each guard is also run on its nearest wrong neighbour (an upward import planted in a
copy of the package, a circle in a small graph), so a checker that stopped looking
would fail here too.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "compiler"
LAYERS = ["pod", "files", "spec", "platform", "pipeline", "records", "cli"]
MAX_MODULE_LINES = 450


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool is not None, "lint-imports (PyPI import-linter) is missing: run scripts/test"
    return subprocess.run([tool, str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(("module", "planted"), [
    # the nearest wrong neighbours of each contract: one upward import, one command using
    # another, one pod program importing the compiler (each inside a function: lazy counts)
    ("pipeline/core.py", "from mlspec.records import ledger"),
    ("spec/check.py", "from mlspec.pipeline import traffic"),
    ("cli/gate.py", "from mlspec.cli import diff"),
    ("pod/gate.py", "from mlspec.files import errors"),
    ("pod/digest.py", "import yaml"),
])
def test_the_contracts_fail_on_a_planted_import(tmp_path, module, planted):
    copy = tmp_path / "repo"
    shutil.copytree(PACKAGE, copy / "mlspec", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "mlspec" / module
    target.write_text(target.read_text() + f"\n\ndef _planted() -> None:\n    {planted}  # noqa\n")
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool is not None
    proc = subprocess.run([tool, str(copy / "pyproject.toml"), "--no-cache"], cwd=copy, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(copy)})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "BROKEN" in proc.stdout or "broken" in proc.stdout


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]


def test_no_module_imports_itself_back_in_a_circle():
    graph = grimp.build_graph("mlspec")  # every import, lazy and TYPE_CHECKING ones included
    modules = {m for m in graph.modules if m.startswith("mlspec.") and not m.startswith(("mlspec.templates",
                                                                                          "mlspec.schemas"))}
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d in modules} for m in modules}
    assert len(modules) > 40
    assert cycles(edges) == []


def test_every_module_sits_in_one_role_and_the_pipeline_goes_down_the_order():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside the role subpackages: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(LAYERS)
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and ("May import" in doc), f"{layer}/__init__.py must say what it holds and may import"


# What a pod program's own image carries besides Python, imported inside a function only
# (mlspec imports the module to ship its source, and must not need the library).
IMAGE_LIBRARIES = {"signature.py": {"model_signing", "cryptography"}}


def _imports(nodes):
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield (node.module or "").split(".")[0]


def test_pod_programs_import_the_standard_library_only():
    for path in sorted((PACKAGE / "pod").glob("*.py")):
        tree = ast.parse(path.read_text())
        allowed = IMAGE_LIBRARIES.get(path.name, set())
        for top in _imports(ast.walk(tree)):
            assert top == "__future__" or top in sys.stdlib_module_names or top in allowed, f"{path.name} imports {top}"
        module_level = set(_imports(tree.body))
        assert not module_level & allowed, f"{path.name} imports {module_level & allowed} at module level"
    assert "signature.py" in {p.name for p in (PACKAGE / "pod").glob("*.py")}  # the allowance is not stale


def test_no_module_grows_past_a_sitting():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


HEAVY = ["pydantic", "jinja2", "yaml", "ruamel", "mlflow", "jsonschema", "kubernetes_validate", "model_signing",
         "cryptography", "securesystemslib", "mlspec.spec.model", "mlspec.pipeline.render", "mlspec.records.ledger",
         "mlspec.cli.report", "mlspec.files.safepath"]


def _loaded(args: list[str], cwd: Path) -> list[str]:
    program = (
        "import sys\nfrom mlspec.cli.main import main\n"
        "try:\n    main(sys.argv[1:], prog_name='mlspec')\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(h for h in {HEAVY!r} if h in sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", program, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.stderr.strip().splitlines()[-1].split() if proc.stderr.strip() else []


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["completion", "bash"]])
def test_help_version_and_completion_import_nothing_heavy(args):
    assert _loaded(args, ROOT) == []


def test_digest_imports_nothing_of_the_compiler():
    assert _loaded(["digest", "examples/minimal.yaml"], ROOT) == []


def test_build_loads_the_compiler_but_no_editor_record_or_signing_library():
    loaded = _loaded(["build", "examples/minimal.yaml", "--stdout", "--platform", "none"], ROOT)
    # the neighbour: this check can see what build does load
    assert {"pydantic", "jinja2", "yaml", "mlspec.spec.model", "mlspec.pipeline.render"} <= set(loaded)
    assert not {"ruamel", "mlflow", "jsonschema", "kubernetes_validate", "model_signing", "cryptography",
                "securesystemslib"} & set(loaded)


def test_the_command_table_agrees_with_the_commands():
    from mlspec.cli import main as cli_main

    for name, (module, attr, short) in cli_main.COMMANDS.items():
        command = getattr(__import__(f"mlspec.cli.{module}", fromlist=[attr]), attr)
        assert command.name == name
        assert command.get_short_help_str(limit=1000) == short, name


def test_the_library_example_in_the_architecture_page_runs_as_written(tmp_path):
    page = (ROOT / "docs" / "architecture.md").read_text()
    blocks = [b.split("```", 1)[0] for b in page.split("```python\n")[1:]]
    assert blocks, "docs/architecture.md has no python example"
    for block in blocks:
        proc = subprocess.run([sys.executable, "-c", block + "\nassert 'default/churn/rollout.yaml' in files\n"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr


def test_the_public_library_names_load_on_first_use_only():
    program = ("import sys, mlspec\nassert 'mlspec.pipeline.core' not in sys.modules\n"
               "assert mlspec.compile_spec.__module__ == 'mlspec.pipeline.core'\n"
               "assert issubclass(mlspec.SpecError, mlspec.MlspecError) and mlspec.Diagnostic\n"
               "try:\n    mlspec.nothing_here\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)\n")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_formats_the_options_offer_are_the_reporters():
    from mlspec.cli import common, report

    assert common.FORMATS == report.FORMATS
