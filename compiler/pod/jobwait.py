"""Wait for a release's evaluation Job and report its verdict.

Each release is evaluated once: the evaluation Job (an Argo CD PreSync hook,
a plain Job under Flux) runs the evaluator and the gate. The Rollout's offline
step (canary) or pre-promotion analysis (blue-green) runs this program instead
of a second evaluation: it asks the Kubernetes API for that Job and passes when
the Job completed, fails when it failed, and waits while it is missing or
running. `mlspec build` ships this file verbatim in the `<name>-gate` ConfigMap;
the analysis pod's service account may only `get` that one Job. Standard library
only (Python 3.8+), imports nothing from mlspec.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Optional, Sequence

ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def job_state(job: Dict[str, Any]) -> Optional[str]:
    """"Complete", "Failed", or None while the Job runs."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None


def in_cluster_getter(api: str, account: str) -> Callable[[str], Optional[Dict[str, Any]]]:
    """GET a path of the API server as the pod's service account; None on 404."""
    with open(os.path.join(account, "token"), encoding="utf-8") as handle:
        token = handle.read().strip()
    context = None
    if api.startswith("https://"):
        context = ssl.create_default_context(cafile=os.path.join(account, "ca.crt"))

    def get(path: str) -> Optional[Dict[str, Any]]:
        request = urllib.request.Request(api + path, headers={"Authorization": f"Bearer {token}",
                                                               "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    return get


def wait(get: Callable[[str], Optional[Dict[str, Any]]], namespace: str, name: str, timeout: float,
         interval: float, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> int:
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
    deadline = clock() + timeout
    while True:
        try:
            job = get(path)
        except (OSError, ValueError) as exc:  # API hiccups: keep asking until the deadline
            print(f"mlspec: cannot read Job {namespace}/{name} yet: {exc}", file=sys.stderr, flush=True)
            job = None
        state = job_state(job) if job is not None else None
        if state == "Complete":
            print(f"mlspec: evaluation Job {namespace}/{name} passed the gate", flush=True)
            return 0
        if state == "Failed":
            print(f"mlspec: evaluation Job {namespace}/{name} failed the gate (see its logs)", file=sys.stderr)
            return 1
        if clock() >= deadline:
            print(f"mlspec: evaluation Job {namespace}/{name} has no verdict after {timeout:.0f}s",
                  file=sys.stderr)
            return 1
        sleep(interval)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="jobwait.py", description=__doc__.split("\n")[0])
    parser.add_argument("--job", required=True, help="name of the release's evaluation Job")
    parser.add_argument("--timeout", type=float, required=True, help="seconds to wait for its verdict")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--api", help="API server URL (default: the in-cluster address)")
    parser.add_argument("--account", default=ACCOUNT, help="service account directory (token, ca.crt, namespace)")
    args = parser.parse_args(argv)
    api = args.api or "https://{}:{}".format(os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc"),
                                             os.environ.get("KUBERNETES_SERVICE_PORT", "443"))
    with open(os.path.join(args.account, "namespace"), encoding="utf-8") as handle:
        namespace = handle.read().strip()
    return wait(in_cluster_getter(api, args.account), namespace, args.job, args.timeout, args.interval)


if __name__ == "__main__":
    sys.exit(main())
