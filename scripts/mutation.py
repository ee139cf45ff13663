"""Mutation score of the modules whose tests must be able to fail (issue 20), with cosmic-ray.

Run through `scripts/mutation [MODULE...] [-j N]` (that wrapper makes the tool's own venv from
requirements/mutation.txt). Not part of CI: it is slow. Each module is mutated in scratch copies
of the working tree (never in the checkout), one copy per worker, and each mutant runs only the
fast unit and CLI tests that cover that module (never the pod harness). Prints
`MODULE: killed/total (pct)` per module and writes the survivors to mutation-report/MODULE.txt.
Equivalent survivors, and why, are listed in docs/mutation.md.

Why cosmic-ray and not mutmut 3: the package is imported as `mlspec` from the folder `compiler/`
(setuptools package-dir). mutmut 3 copies the sources to `mutants/compiler/...` and switches
mutants by comparing `function.__module__` (here `mlspec.gate`) with a name derived from the file
path (`compiler.gate`): no mutant is ever switched on, and every mutant "survives". cosmic-ray
mutates a file in place and runs a test command, so a copy of the tree with `mlspec` pointing at
its `compiler/` is all it needs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / ".venv-mutation" / "bin"
PYTHON = ROOT / ".venv" / "bin" / "python"  # the project's test environment
REPORTS = ROOT / "mutation-report"

# The fast tests that cover each module; files that do not exist (yet) are left out.
MODULES: dict[str, list[str]] = {
    "digest": ["tests/unit/test_digest_paths.py", "tests/unit/test_digest.py"],
    "jobwait": ["tests/unit/test_jobwait_deadline.py", "tests/unit/test_jobwait.py"],
    "gate": ["tests/unit/test_gate.py", "tests/cli/test_cli.py"],
    # rollback across feature pipelines and of an entry naming another model: the integrity tests
    "releases": ["tests/unit/test_releases.py", "tests/test_release_workflow.py", "tests/cli/test_cli.py",
                 "tests/test_ledger_integrity.py"],
    # fastest killers first (each file's own run: about 2.5 s for the unit and unsealed tests, 3 s
    # shape, evaluation pins and the reconcile neighbours, 4-6 s seal, workflow, integrity, 9 s
    # reconcile, 10 s cli): parse(), seals and flat() by the unit tests; the unsealed path
    # (recorded_pins, migrate, verified) as data; pins per environment by the reconcile tests;
    # the two layouts (names, the other layout refused, dump) and the positions of in-memory
    # records by test_ledger_neighbours.py
    "ledger": ["tests/unit/test_ledger_neighbours.py", "tests/unit/test_ledger.py", "tests/test_ledger_unsealed.py",
               "tests/unit/test_ledger_shape.py", "tests/test_evaluation_pins.py", "tests/test_reconcile_neighbours.py",
               "tests/test_ledger_seal.py", "tests/test_release_workflow.py", "tests/test_ledger_integrity.py",
               "tests/test_reconcile.py", "tests/cli/test_cli.py"],
    "traffic": ["tests/unit/test_traffic_bounds.py", "tests/test_traffic.py", "tests/test_invalid_cases.py"],
    "loader": ["tests/unit/test_loader.py", "tests/test_invalid_cases.py"],
    "check": ["tests/unit/test_check.py", "tests/test_invalid_cases.py", "tests/test_traffic.py"],
    # the credential and text scan, split from check: its own tests first (fastest), the corpus last (17 s)
    "scan": ["tests/unit/test_scan_scope.py", "tests/unit/test_guarantees_scan.py", "tests/unit/test_secrets.py", "tests/unit/test_check.py",
             "tests/test_invalid_cases.py"],
    # Argo's pod arithmetic, split from traffic: its own tests, the traffic bounds built on it, and
    # the surge tests (the traffic-routed port, `traffic_routed`, is tested only there)
    "capacity": ["tests/unit/test_capacity.py", "tests/unit/test_traffic_bounds.py", "tests/unit/test_surge.py"],
    # the model's key and its paths (the namespaced layout): what names a file or a directory
    "layout": ["tests/cli/test_layout.py", "tests/cli/test_layout_hostile.py"],
    # issue 28's eight: the guards users rely on (each set: its owner may reorder it, fastest first)
    # its unit tests first (no CLI: ~2 s), the guarantee tests (one rule each, ~10 s a file), the exposure
    # arithmetic, the 32 s platform file last
    "policy": ["tests/unit/test_policy.py", "tests/cli/test_guarantees_policy.py", "tests/cli/test_guarantees_platform.py",
               "tests/cli/test_policy_exposure.py", "tests/cli/test_platform.py"],
    # its unit tests first (merge, positions, pruning, output, lookup), then budget, scan and environments, the
    # 32 s platform file, runtimes (parse's definition checks) last
    "platform": ["tests/unit/test_platformfile.py", "tests/cli/test_guarantees_platform.py", "tests/cli/test_platform.py",
                 "tests/cli/test_guarantees_runtimes.py", "tests/cli/test_runtimes.py"],
    # rollback.previous in each environment's record and in every environment: the neighbours
    "reconcile": ["tests/test_reconcile.py", "tests/test_reconcile_neighbours.py", "tests/test_evaluation_pins.py"],
    # records/release.py: issue 28's neighbours first (baseline, --digest, overlays, records), then the
    # release tests, then the signature check it runs (`_signature_problems`); yamledit is not this module
    "release": ["tests/cli/test_guarantees_release.py", "tests/cli/test_release.py", "tests/cli/test_release_signature.py"],
    # parsing and budgets in the unit tests; artifact.path confinement and budgets through release
    "record": ["tests/unit/test_record.py", "tests/cli/test_guarantees_release.py", "tests/cli/test_release.py"],
    # MLflow's own client against a real local file store (about 1 s of setup); the server,
    # S3 and pods (tests/harness/test_mlflow_release.py) are too slow for a mutant each
    "mlflow_source": ["tests/unit/test_mlflow_source.py"],
}

# Where a name is ambiguous (a command module of the same name under compiler/cli/) or is not its
# file's name (`platform` is compiler/platform/platformfile.py): the file, below compiler/.
FILES = {"platform": "platform/platformfile", "digest": "pod/digest", "gate": "pod/gate",
         "ledger": "records/ledger", "release": "records/release"}

# cosmic-ray replaces each binary operator by every other one (11 mutants a site, nearly all
# TypeErrors on strings). One neighbour per operator keeps the question "is this arithmetic
# tested?" at a twelfth of the cost. Comparisons keep every replacement: boundaries are the point.
NEIGHBOUR = {"Add": "Sub", "Sub": "Add", "Mul": "Div", "Div": "Mul", "FloorDiv": "Div", "Mod": "FloorDiv",
             "Pow": "Mul", "BitOr": "BitAnd", "BitAnd": "BitOr", "BitXor": "BitOr", "LShift": "RShift",
             "RShift": "LShift", "MatMult": "Mul"}
EXCLUDE = [f"core/ReplaceBinaryOperator_{a}_(?!{b}$).*" for a, b in NEIGHBOUR.items()]
# Equality and identity swap with each other only: `==` -> `<` on strings or None is a TypeError
# (and `==` -> `is` is equivalent on small ints and interned strings). Ordering comparisons
# keep every replacement (`<` -> `<=` is the boundary mutant).
EXCLUDE += ["core/ReplaceComparisonOperator_Eq_(?!NotEq$).*", "core/ReplaceComparisonOperator_NotEq_(?!Eq$).*",
            "core/ReplaceComparisonOperator_Is_(?!IsNot$).*", "core/ReplaceComparisonOperator_IsNot_(?!Is$).*",
            "core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE)_(Is|IsNot)$"]


def module_path(name: str) -> str:
    """`compiler/<subpackage>/<name>.py`: the one file of that module name."""
    pattern = f"{FILES[name]}.py" if name in FILES else f"*/{name}.py"
    found = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "compiler").glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"mutation: module {name!r} is {found or 'nowhere'} under compiler/")
    return found[0]


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) as (line, col) of every type annotation. With `from __future__ import
    annotations` an annotation is never evaluated at run time, so a mutant inside one (`str | None`
    -> `str & None`) is equivalent by construction: mypy --strict, not a test, checks them."""
    notes: list[ast.expr] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            notes.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            notes.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in notes]


def skip_annotations(session: Path, module: Path) -> int:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = annotation_spans(module.read_text())
    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            # cosmic-ray positions are (line, col) of the mutated token, lines from 1 as in ast
            if all(any(start <= tuple(m.start_pos) < end for start, end in spans) for m in item.mutations):
                db.set_result(item.job_id, WorkResult(output="type annotation", worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    return skipped


def scratch_copy(into: Path) -> Path:
    """The working tree as it is (tracked and new files, edits included), importable as `mlspec`."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink() and not rel.startswith("tests/consumers/node_modules"):
            (into / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, into / rel)
    # the package layout setuptools builds: mlspec = compiler/, mlspec.templates, mlspec.schemas
    (into / "compiler" / "templates").symlink_to("../templates")
    (into / "compiler" / "schemas").symlink_to("../schemas")
    (into / ".import").mkdir()
    (into / ".import" / "mlspec").symlink_to(into / "compiler")
    return into


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"mutation: a cosmic-ray worker exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("mutation: a cosmic-ray worker did not start listening")


def _in_revision(rev: str, path: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", f"{rev}:{path}"], cwd=ROOT, capture_output=True).returncode == 0


def previous_survivors(name: str) -> set[tuple[str, int, int]]:
    """(operator, line, col) of the survivors in mutation-report/NAME.txt."""
    report = REPORTS / f"{name}.txt"
    if not report.is_file():
        raise SystemExit(f"mutation: --survivors needs {report} from a full run")
    found = re.findall(r"^compiler/\S+?:(\d+):(\d+) (\S+) \(in ", report.read_text(), re.MULTILINE)
    return {(op, int(line), int(col)) for line, col, op in found}


def keep_survivors(session: Path, survivors: set[tuple[str, int, int]]) -> None:
    """Count every mutant the previous run killed as killed, so only its survivors run again."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            m = item.mutations[0]
            if (m.operator_name, *m.start_pos) not in survivors:
                db.set_result(item.job_id, WorkResult(output="killed in the previous run", test_outcome=TestOutcome.KILLED,
                                                      worker_outcome=WorkerOutcome.NORMAL))


def run_module(name: str, workers: int, work: Path, since: str | None,
               survivors_only: bool = False) -> tuple[int, int, int | None, int, float]:
    """(killed, total, killed by the tests that existed at `since`, skipped, seconds)."""
    tests = [t for t in MODULES[name] if (ROOT / t).is_file()]
    old: list[str] = []
    if since:  # the older tests run first: with -x, the first file that fails is the one that killed it
        old = [t for t in tests if _in_revision(since, t)]
        tests = old + [t for t in tests if t not in old]
    copies = [scratch_copy(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))) for _ in range(workers)]
    env = {**os.environ, "PYTHONPATH": "", "PYTHONDONTWRITEBYTECODE": "1"}
    command = f"{PYTHON} -m pytest -p no:cacheprovider -q -x " + " ".join(tests)
    started = time.monotonic()
    check = subprocess.run(
        [str(PYTHON), "-c", "import mlspec, sys; sys.stdout.write(mlspec.__file__)"], cwd=copies[0],
        env={**env, "PYTHONPATH": str(copies[0] / ".import")}, capture_output=True, text=True, check=True)
    if not check.stdout.startswith(str(copies[0])):
        raise SystemExit(f"mutation: the scratch copy does not import as mlspec ({check.stdout})")
    base = subprocess.run(command.split(), cwd=copies[0], env={**env, "PYTHONPATH": str(copies[0] / ".import")},
                          capture_output=True, text=True)
    if base.returncode != 0:
        raise SystemExit(f"mutation: {name}: the tests fail without a mutant:\n{base.stdout[-3000:]}")
    baseline = time.monotonic() - started
    ports = [free_port() for _ in copies]
    config = copies[0] / "cosmic-ray.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module_path(name)}"\n'
        # a mutant that makes the tests hang is killed by the timeout (cosmic-ray counts it killed)
        f"timeout = {max(60.0, 5 * baseline):.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        '[cosmic-ray.distributor]\nname = "http"\n'
        f"[cosmic-ray.distributor.http]\nworker-urls = {json.dumps([f'http://127.0.0.1:{p}' for p in ports])}\n"
        f"[cosmic-ray.filters.operators-filter]\nexclude-operators = {json.dumps(EXCLUDE)}\n")
    session = copies[0] / "session.sqlite"
    cr = str(TOOL / "cosmic-ray")
    subprocess.run([cr, "init", str(config), str(session)], cwd=copies[0], env=env, check=True)
    subprocess.run([str(TOOL / "cr-filter-operators"), str(session), str(config)], cwd=copies[0], env=env, check=True)
    skip_annotations(session, copies[0] / module_path(name))
    if survivors_only:
        keep_survivors(session, previous_survivors(name))
    procs = []
    try:
        for copy, port in zip(copies, ports):
            log = open(copy / "worker.log", "wb")
            procs.append(subprocess.Popen([cr, "http-worker", "--port", str(port)], cwd=copy, stdout=log,
                                          stderr=subprocess.STDOUT,
                                          env={**env, "PYTHONPATH": str(copy / ".import")}))
        for proc, port in zip(procs, ports):
            wait_listening(port, proc)
        subprocess.run([cr, "exec", str(config), str(session)], cwd=copies[0], env=env, check=True)
    finally:
        for proc in procs:
            proc.terminate()  # aiohttp finishes the request in flight first
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    killed, total, skipped, survivors, by_old = 0, 0, 0, [], 0
    dump = subprocess.run([cr, "dump", str(session)], env=env, check=True, capture_output=True, text=True).stdout
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None or result["worker_outcome"] == "skipped":
            skipped += 1
            continue
        total += 1
        if result["test_outcome"] == "survived":
            m = item["mutations"][0]
            survivors.append(f"{m['module_path']}:{m['start_pos'][0]}:{m['start_pos'][1]} {m['operator_name']} "
                             f"(in {m.get('definition_name')})\n{result.get('diff') or ''}\n")
        else:
            killed += 1
            failed = re.findall(r"^(?:FAILED|ERROR) ([^:\s]+)", result.get("output") or "", re.MULTILINE)
            # a timeout or a mutant that breaks the import names no test: it fails the old tests too
            by_old += not failed or failed[0] in old
    REPORTS.mkdir(exist_ok=True)
    survivors.sort(key=lambda s: int(s.split(":")[1]))
    (REPORTS / f"{name}.txt").write_text(f"{name}: {killed}/{total} killed, {len(survivors)} survived\n"
                                         f"tests: {' '.join(tests)}\n\n" + "\n".join(survivors))
    for copy in copies:
        shutil.rmtree(copy)
    return killed, total, by_old if since else None, skipped, time.monotonic() - started


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("-j", "--workers", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--survivors", action="store_true",
                        help="run only the survivors of the last full run (mutation-report/MODULE.txt) again, "
                        "counting the rest as killed: after adding tests, with the module's code unchanged")
    parser.add_argument("--since", metavar="REV", help="also count the mutants the test files that existed at REV "
                        "kill (a before/after score in one run; those files run first)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the workers and remove the copies
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown or args.workers < 1:
        parser.error(f"unknown module(s) {', '.join(unknown)}" if unknown else "--workers must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="mlspec-mutation-"))
    rows = []
    try:
        for name in args.modules or list(MODULES):
            killed, total, by_old, skipped, seconds = run_module(name, args.workers, work, args.since, args.survivors)
            row = f"{name}: {killed}/{total} killed ({_pct(killed, total)}), {skipped} skipped, {seconds:.0f} s"
            if by_old is not None:
                row += f"; tests at {args.since}: {by_old}/{total} ({_pct(by_old, total)})"
            print(row, flush=True)
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(["", "summary:", *rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
