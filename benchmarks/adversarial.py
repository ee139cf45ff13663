"""The adversarial set of issue 20: hostile input at the sizes the red team used, each run
through the real CLI as a fresh process, reporting its peak RSS and time.

    python3 benchmarks/run.py --adversarial                 # every case; targets enforced
    python3 benchmarks/run.py --adversarial --smoke         # exit codes and messages only
    python3 benchmarks/run.py --adversarial --only FIFO     # the cases whose name has a word

Every attack must exit 1 with a positioned `path:line:col: error:` within 256 MiB and 5 s
on the 2-core machine; the "at the limit" cases are the largest input the budget admits
and must succeed within the same targets. Peak RSS is the child's own `ru_maxrss` from
`wait4` (the largest of the process and the workers it waited for); time is wall clock
and CPU (user + system). Each case is paired with a cold `mlspec validate` of a minimal
spec run right after it, so a loaded moment of the machine shows in both.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
FULL = (ROOT / "examples" / "fraud-detector.yaml").read_text()
TARGET_MIB, TARGET_S = 256, 5.0
TIMEOUT_S = 30.0  # a hang (the FIFO) is stopped here and reported, not waited for
POSITIONED = re.compile(r"^(.+?):(\d+):(\d+): error: (.+)$", re.MULTILINE)
MIB = 1024 * 1024
MLSPEC = ["mlspec"]  # the command under test, set by `run_cases`


@dataclass
class Case:
    name: str
    make: Callable[[Path], list[str]]  # writes its files under a directory, returns the mlspec arguments
    expect: int = 1                    # exit code
    message: str = ""                  # what the positioned error says (attacks)
    at: str = ""                       # which file the error must name (relative to the case directory)
    full_only: bool = False            # too slow for --smoke
    note: str = ""


def hyperparameters(text: str, lines: str) -> str:
    return text.replace("    seed: 7\n", "    seed: 7\n    hyperparameters:\n" + lines)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def alias_bomb(size: int) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        lines = f"      a0: &big {'x' * size}\n" + "".join(f"      a{i}: *big\n" for i in range(1, 161))
        return ["build", str(write(d / "bomb.mlspec.yaml", hyperparameters(MINIMAL, lines))), "--stdout"]
    return make


def environments(d: Path) -> list[str]:
    text = MINIMAL + "  environments:\n" + "".join(f"    e{i}: {{}}\n" for i in range(4000))
    return ["validate", str(write(d / "envs.mlspec.yaml", text))]


LEDGER_BOMB = ("apiVersion: mlspec.dev/v1alpha1\nkind: ReleaseLedger\nmodel: fraud-detector\ncurrent: '2026.10.1'\n"
               "releases:\n- version: '2026.10.1'\n  metrics:\n    l0: &l0 [x, x]\n"
               + "".join(f"    l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 31)))


def ledger_bomb(stdout: bool) -> Callable[[Path], list[str]]:
    def make(d: Path) -> list[str]:
        spec = write(d / "fraud-detector.yaml", FULL)
        write(d / "deploy" / "_ledger" / "fraud-detector.yaml", LEDGER_BOMB)
        if stdout:
            return ["build", str(spec), "--stdout", "--env", "prod", "--ledger", str(d / "deploy")]
        return ["build", str(spec), "-o", str(d / "deploy")]
    return make


def damaged_ledger(d: Path) -> list[str]:
    spec = write(d / "fraud-detector.yaml", FULL)
    write(d / "deploy" / "_ledger" / "fraud-detector.yaml", LEDGER_BOMB.split("releases:")[0] + "releases: [1]\n")
    return ["build", str(spec), "-o", str(d / "deploy")]


def sexagesimal(d: Path) -> list[str]:
    text = hyperparameters(MINIMAL, "      s: 1" + ":1" * 500_000 + "\n")  # 1 MB of one base-60 int
    return ["validate", str(write(d / "sexagesimal.mlspec.yaml", text))]


def sexagesimal_scalar_sized(d: Path) -> list[str]:
    # the longest a scalar may be (256 KiB): so the number limit, not the scalar limit, refuses it
    text = hyperparameters(MINIMAL, "      s: 1" + ":1" * 131_000 + "\n")
    return ["validate", str(write(d / "sexagesimal.mlspec.yaml", text))]


def big_int(d: Path) -> list[str]:
    return ["validate", str(write(d / "int.mlspec.yaml", MINIMAL.replace("seed: 7", "seed: " + "9" * 5000)))]


def timeout_overflow(d: Path) -> list[str]:
    text = MINIMAL.replace("    thresholds:", "    timeout: 10000000000000000000000h\n    thresholds:")
    return ["build", str(write(d / "timeout.mlspec.yaml", text)), "--stdout", "--verify"]


def huge_file(d: Path) -> list[str]:
    path = write(d / "huge.mlspec.yaml", MINIMAL)
    with open(path, "r+b") as handle:  # sparse: 400 MB on paper, a few KB on disk
        handle.truncate(400 * 1000 * 1000)
    return ["validate", str(path)]


def fifo(d: Path) -> list[str]:
    d.mkdir(parents=True, exist_ok=True)
    os.mkfifo(d / "fifo.mlspec.yaml")  # no writer: whoever opens it for reading waits for ever
    return ["validate", str(d / "fifo.mlspec.yaml")]


def fifo_in_directory(d: Path) -> list[str]:
    fifo(d / "models")
    return ["validate", str(d / "models")]


def amplified_annotations(d: Path) -> list[str]:
    # 3 x 250,000 characters of annotations (within every input limit: 750 KB, 20 x 750 K
    # under 16 Mi) are copied into every object of each of 20 environments: 227 MB emitted
    annotations = "".join(f"    acme.example/a{i}: {chr(97 + i) * 250_000}\n" for i in range(3))
    text = (MINIMAL.replace("metadata:\n", "metadata:\n  annotations:\n" + annotations, 1)
            + "  environments:\n" + "".join(f"    e{i}: {{}}\n" for i in range(20)))
    return ["build", str(write(d / "amp.mlspec.yaml", text)), "-o", str(d / "deploy")]


def at_limit_environments(d: Path) -> list[str]:
    # 4 x 250,000 characters (a scalar may have 262,144) and the 16 environments that
    # fit 16 Mi characters of spec x environments: the most one spec may make
    lines = "".join(f"      h{i}: {chr(97 + i) * 250_000}\n" for i in range(4))
    text = hyperparameters(MINIMAL, lines) + "  environments:\n" + "".join(f"    e{i}: {{}}\n" for i in range(16))
    return ["build", str(write(d / "big.mlspec.yaml", text)), "-o", str(d / "deploy")]


def at_limit_ledger(d: Path) -> list[str]:
    # the largest ledger the budget admits (4 MiB: about 850 releases of the full example)
    spec = write(d / "fraud-detector.yaml", FULL)
    subprocess.run([*MLSPEC, "build", str(spec), "-o", str(d / "seed")], check=True, capture_output=True)
    head, entry = (d / "seed" / "_ledger" / "fraud-detector.yaml").read_text().split("releases:\n", 1)
    version = re.search(r"- version: '([^']+)'", entry)
    assert version is not None
    parts, size, i = [head.replace(version[1], "1.0.0"), "releases:\n"], len(head) + 10, 0
    while True:
        release = entry.replace(f"'{version[1]}'", f"'1.0.{i}'", 1)
        if size + len(release) > 4 * MIB:
            break
        parts.append(release)
        size, i = size + len(release), i + 1
    write(d / "deploy" / "_ledger" / "fraud-detector.yaml", "".join(parts))
    return ["history", "fraud-detector", "-o", str(d / "deploy")]


CASES = [
    Case("alias string bomb, 106 KB (160 x 100 KB)", alias_bomb(100_000), message="characters of text (alias bomb?)",
         at="bomb.mlspec.yaml"),
    Case("alias string bomb, 212 KB (160 x 200 KB)", alias_bomb(200_000), message="characters of text (alias bomb?)",
         at="bomb.mlspec.yaml"),
    Case("4,000 empty environments, 56 KB", environments, message="4000 entries; at most 64 are allowed",
         at="envs.mlspec.yaml"),
    Case("839-byte ledger bomb, build -o", ledger_bomb(False), message="an alias (`*l0`)",
         at="deploy/_ledger/fraud-detector.yaml"),
    Case("839-byte ledger bomb, build --stdout --ledger", ledger_bomb(True), message="an alias (`*l0`)",
         at="deploy/_ledger/fraud-detector.yaml"),
    Case("damaged ledger (releases: [1]), build -o", damaged_ledger, message="`releases[0]` is number 1",
         at="deploy/_ledger/fraud-detector.yaml"),
    Case("1 MB base-60 int", sexagesimal, message="a scalar of 1000001 characters", at="sexagesimal.mlspec.yaml"),
    Case("262 KB base-60 int", sexagesimal_scalar_sized, message="a number of 262001 characters",
         at="sexagesimal.mlspec.yaml"),
    Case("5,000-digit int", big_int, message="a number of 5000 characters", at="int.mlspec.yaml"),
    Case("timeout: 10^22 h, build --stdout --verify", timeout_overflow, message="is not a duration",
         at="timeout.mlspec.yaml"),
    Case("400 MB spec file (sparse)", huge_file, message="file is larger than 1048576 bytes", at="huge.mlspec.yaml"),
    Case("FIFO named *.mlspec.yaml", fifo, message="is not a regular file", at="fifo.mlspec.yaml"),
    Case("FIFO in a spec directory", fifo_in_directory, message="is not a regular file", at="models/fifo.mlspec.yaml"),
    Case("750 KB of annotations x 20 environments, build -o", amplified_annotations,
         message="the manifests of this spec would hold over", at="amp.mlspec.yaml"),
    Case("at the limit: 1 MB spec x 16 environments, build -o", at_limit_environments, expect=0, full_only=True),
    Case("at the limit: 4 MiB ledger (850 releases), history", at_limit_ledger, expect=0, full_only=True),
]


def run_process(args: list[str], cwd: Path) -> tuple[int, float, float, float, str]:
    """Exit code (-9 after a timeout), wall s, CPU s, peak RSS MiB and stderr of one fresh process."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        timer = threading.Timer(TIMEOUT_S, _kill, (proc.pid,))
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        err.seek(0)
        text = err.read().decode(errors="replace")
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended as the timer fired
        pass


def check(case: Case, code: int, stderr: str, directory: Path) -> str:
    """Why the outcome is not what the case expects ('' when it is)."""
    if code == -signal.SIGKILL:
        return f"killed after {TIMEOUT_S:.0f} s"
    if code != case.expect:
        return f"exit {code}, expected {case.expect}: {stderr.strip()[-300:]}"
    if "Traceback" in stderr or "internal error" in stderr:
        return "traceback / internal error"
    if case.expect == 1:
        at = str(directory / case.at)
        if not any(m[1] == at and case.message in m[4] for m in POSITIONED.finditer(stderr)):
            return f"no positioned error at {case.at} saying {case.message!r}: {stderr.strip()[-300:]}"
    return ""


def run_cases(mlspec: str, smoke: bool, only: list[str] | None = None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    MLSPEC[:] = [mlspec]
    with tempfile.TemporaryDirectory(prefix="mlspec-adversarial-") as tmp:
        root = Path(tmp)
        baseline = write(root / "baseline" / "minimal.yaml", MINIMAL)
        for i, case in enumerate(CASES):
            if (smoke and case.full_only) or (only and not any(word in case.name for word in only)):
                continue
            directory = root / f"case-{i}"
            args = case.make(directory)
            code, wall, cpu, peak, stderr = run_process([mlspec, *args], directory if directory.is_dir() else root)
            # the paired baseline is for reading times on a loaded machine: --smoke reads none
            _, base_wall, base_cpu, base_peak, _ = (0, 0.0, 0.0, 0.0, "") if smoke else run_process(
                [mlspec, "validate", str(baseline)], root)
            problem = check(case, code, stderr, directory)
            over = not smoke and (peak > TARGET_MIB or wall > TARGET_S)
            rows.append({"case": case.name, "exit": code, "peak_mib": round(peak, 1), "wall_s": round(wall, 3),
                         "cpu_s": round(cpu, 3), "baseline_wall_s": round(base_wall, 3),
                         "baseline_cpu_s": round(base_cpu, 3), "baseline_peak_mib": round(base_peak, 1),
                         "ok": not problem and not over, "problem": problem or ("over target" if over else ""),
                         "note": case.note})
    return rows


def report(rows: list[dict[str, object]]) -> str:
    lines = [f"{'case':52} {'exit':>4} {'peak MiB':>9} {'wall s':>7} {'cpu s':>6} {'baseline s':>10}  verdict"]
    for r in rows:
        verdict = "ok" if r["ok"] else f"FAIL: {r['problem']}"
        lines.append(f"{r['case']:52} {r['exit']:>4} {r['peak_mib']:>9} {r['wall_s']:>7} {r['cpu_s']:>6} "
                     f"{r['baseline_wall_s']:>10}  {verdict}" + (f" ({r['note']})" if not r["ok"] and r["note"] else ""))
    lines.append(f"targets: every case <= {TARGET_MIB} MiB peak RSS and <= {TARGET_S:g} s wall; "
                 "baseline = cold `mlspec validate` of examples/minimal.yaml run right after each case")
    return "\n".join(lines)
