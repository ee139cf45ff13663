"""Run a rendered pod template without a cluster: its containers become local
processes, in Kubernetes order (init containers one by one, each to success,
then the main containers), with the manifest's own command, args, env, ports
and volume mounts. Each container gets a private mount namespace in which its
volumes are bound at the declared paths (read-only where the manifest says so)
and runs as the pod's numeric user. Images map to real programs: a virtual
environment per image, as the image would carry it.

Volumes: `emptyDir` -> a fresh directory per pod; `configMap` -> the emitted
ConfigMap's data as files; `persistentVolumeClaim` / `image` -> directories the
test provides. Secrets referenced by env come from the test, never the spec.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENTER = Path(__file__).resolve().parent / "enter.py"


@dataclass(frozen=True)
class Image:
    """What a container image would hold: its ENTRYPOINT and its ENV."""

    entrypoint: list[str]
    env: dict[str, str]


@dataclass
class Finished:
    name: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Cluster:
    """What the pod's references resolve to."""

    images: dict[str, Image]
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: dict[str, Path] = field(default_factory=dict)
    image_volumes: dict[str, Path] = field(default_factory=dict)


class Pod:
    def __init__(self, template: dict[str, Any], cluster: Cluster, workdir: Path) -> None:
        self.spec = template["spec"]
        self.cluster = cluster
        self.workdir = workdir
        self.log: list[Finished] = []
        self.main: dict[str, subprocess.Popen[str]] = {}
        security = self.spec["securityContext"]
        self.uid, self.gid = security["runAsUser"], security["runAsGroup"]
        self.fs_group = security.get("fsGroup", self.gid)
        self.volumes = {v["name"]: self._volume(v) for v in self.spec.get("volumes", [])}

    # --- volumes -----------------------------------------------------------
    def _volume(self, volume: dict[str, Any]) -> Path:
        path = self.workdir / "volumes" / volume["name"]
        if "emptyDir" in volume:
            path.mkdir(parents=True)
            os.chmod(path, 0o777)  # as the kubelet creates an emptyDir
        elif "configMap" in volume:
            path.mkdir(parents=True)
            for key, text in self.cluster.configmaps[volume["configMap"]["name"]].items():
                (path / key).write_text(text)
        elif "persistentVolumeClaim" in volume:
            path = self.cluster.claims[volume["persistentVolumeClaim"]["claimName"]]
        elif "image" in volume:
            path = self.cluster.image_volumes[volume["image"]["reference"]]
        else:  # pragma: no cover - a volume kind mlspec does not emit
            raise AssertionError(f"unsupported volume {volume}")
        return path

    def _mounts(self, container: dict[str, Any]) -> list[dict[str, Any]]:
        mounts = []
        for m in container.get("volumeMounts", []):
            source = self.volumes[m["name"]]
            if "subPath" in m:
                source = source / m["subPath"]
            mounts.append({"source": str(source), "target": m["mountPath"], "readOnly": bool(m.get("readOnly"))})
        return mounts

    # --- environment -------------------------------------------------------
    def _env(self, container: dict[str, Any], image: Image) -> dict[str, str]:
        env = dict(image.env)
        for source in container.get("envFrom", []):
            env.update(self.cluster.secrets[source["secretRef"]["name"]])
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
            else:
                ref = var["valueFrom"]["secretKeyRef"]
                env[var["name"]] = self.cluster.secrets[ref["name"]][ref["key"]]
        return env

    def _argv(self, container: dict[str, Any], image: Image) -> list[str]:
        if "command" in container:
            return [*container["command"], *container.get("args", [])]
        return [*image.entrypoint, *container.get("args", [])]

    def _launch(self, container: dict[str, Any], argv: list[str] | None = None) -> subprocess.Popen[str]:
        image = self.cluster.images[container["image"]]
        mounts = self._mounts(container)
        tops = sorted({"/" + m["target"].split("/")[1] for m in mounts if not m["target"].startswith("/tmp")})
        spec = {"mounts": mounts, "tops": tops, "uid": self.uid, "gid": self.gid, "groups": [self.fs_group],
                "argv": argv or self._argv(container, image), "env": self._env(container, image)}
        spec_file = self.workdir / f"{container['name']}{'-exec' if argv else ''}.json"
        spec_file.write_text(json.dumps(spec))
        # A session of its own: stopping the container ends every process it started
        # (as the end of a container's PID namespace would), workers included.
        return subprocess.Popen(["unshare", "--mount", sys.executable, str(ENTER), str(spec_file)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    # --- lifecycle ---------------------------------------------------------
    def run_init(self, timeout: float = 600) -> bool:
        """Run the init containers in order; stop at the first that fails."""
        for container in self.spec.get("initContainers", []):
            start = time.monotonic()
            proc = self._launch(container)
            out, err = proc.communicate(timeout=timeout)
            self.log.append(Finished(container["name"], proc.returncode, out, err, time.monotonic() - start))
            if proc.returncode != 0:
                return False
        return True

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.spec.get("initContainers", []) + self.spec["containers"] if c["name"] == name)

    def exec(self, name: str, argv: list[str], timeout: float = 120) -> Finished:
        """`kubectl exec`: run `argv` in the view of container `name` (its mounts,
        environment and user), as a process of its own."""
        start = time.monotonic()
        proc = self._launch(self.container(name), argv)
        out, err = proc.communicate(timeout=timeout)
        return Finished(f"exec {name}", proc.returncode, out, err, time.monotonic() - start)

    def restart(self, name: str) -> str:
        """A container restart, as the kubelet does it after a crash or a failed liveness
        probe: the container's processes end and its command runs again in the same
        pod (volumes as they are; init containers do not run again). Returns the
        stderr of the run that ended."""
        err = _end(self.main.pop(name))
        self.main[name] = self._launch(self.container(name))
        return err

    def start(self) -> None:
        """Start the main containers (only after every init container succeeded)."""
        assert self.log and all(f.returncode == 0 for f in self.log), "init containers did not all succeed"
        for container in self.spec["containers"]:
            self.main[container["name"]] = self._launch(container)

    def run_to_completion(self, timeout: float = 600) -> list[Finished]:
        """For Job pods: start the main containers and wait for them."""
        self.start()
        done = []
        for name, proc in self.main.items():
            start = time.monotonic()
            out, err = proc.communicate(timeout=timeout)
            done.append(Finished(name, proc.returncode, out, err, time.monotonic() - start))
        self.log.extend(done)
        return done

    def probe(self, container_name: str, probe: str, timeout: float = 120) -> tuple[int, float]:
        """Poll a container's HTTP probe (as the kubelet would) until it answers 200 or
        time runs out: (last status, seconds). Status -1: the container exited."""
        get = self.container(container_name)[probe]["httpGet"]
        url = f"http://127.0.0.1:{self.port(container_name, get['port'])}{get['path']}"
        start = time.monotonic()
        status = 0
        while time.monotonic() - start < timeout:
            if self.main[container_name].poll() is not None:
                return -1, time.monotonic() - start
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        return status, time.monotonic() - start

    def port(self, container_name: str, port: int | str) -> int:
        if isinstance(port, int):
            return port
        container = next(c for c in self.spec["containers"] if c["name"] == container_name)
        return next(p["containerPort"] for p in container["ports"] if p["name"] == port)

    def stop(self) -> dict[str, str]:
        return {name: _end(proc) for name, proc in self.main.items()}


def _end(proc: subprocess.Popen[str]) -> str:
    """End a container's processes (TERM, then KILL); its stderr."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    _, err = proc.communicate()
    return err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def v2_infer(port: int, model: str, rows: list[list[float]]) -> dict[str, Any]:
    """One Open Inference Protocol (V2) request: the rows as one FP64 tensor."""
    body = {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64",
                        "data": [x for row in rows for x in row]}]}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{model}/infer",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def venv_image(venv: Path, entrypoint: list[str] | None = None, **env: str) -> Image:
    """An image whose programs come from a virtual environment."""
    assert (venv / "bin" / "python3").exists(), (
        f"harness environment {venv} is missing: run `scripts/test` (it builds them from requirements/harness-*.txt)")
    return Image(entrypoint or [], {"PATH": f"{venv}/bin:/usr/bin:/bin", **env})
