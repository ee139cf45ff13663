"""Inside a fresh private mount namespace (run under `unshare --mount`): lay out
one container's volume mounts at their declared paths, drop to the pod's
numeric user, and exec the container's program. Nothing here is mlspec code:
it is what the kubelet and the container runtime would do.

Usage: python enter.py SPEC.json, where SPEC holds `mounts` ([{source, target,
readOnly}]), `tops` (top-level directories to cover with a private tmpfs),
`uid`, `gid`, `groups`, `argv`, `env`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    _mount("--make-rprivate", "/")
    for top in spec["tops"]:
        os.makedirs(top, exist_ok=True)
        _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", top)
    # /tmp last: the sources of the other mounts may live below the host's /tmp.
    for m in sorted(spec["mounts"], key=lambda m: m["target"] == "/tmp"):
        source, target = m["source"], m["target"]
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount("--bind", source, target)
        if m["readOnly"]:
            _mount("-o", "remount,bind,ro", target)
    os.setgroups(spec["groups"])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    os.chdir("/")
    env = spec["env"]
    argv = spec["argv"]
    program = argv[0]
    if "/" not in program:
        for directory in env.get("PATH", "").split(":"):
            candidate = os.path.join(directory, program)
            if os.access(candidate, os.X_OK):
                program = candidate
                break
    os.execve(program, argv, env)


if __name__ == "__main__":
    main()
