"""The Rollout's offline step waits for the release's evaluation Job instead of
evaluating again: jobwait.py against a stand-in API server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlspec.pod import jobwait

JOB = "/apis/batch/v1/namespaces/models/jobs/churn-eval-0123456789"


class Api:
    """Answers GETs of one Job from a script of states; records the bearer tokens it saw.
    A state is a condition type (status "True"), "Running" (no conditions), None (404),
    an HTTP status code to answer with, "garbage" (a body that is no JSON), or a list
    of conditions as the API would return them."""

    def __init__(self, states: list[Any]) -> None:
        self.states, self.tokens, self.paths = list(states), [], []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                api.paths.append(self.path)
                api.tokens.append(self.headers.get("Authorization"))
                state = api.states.pop(0) if len(api.states) > 1 else api.states[0]
                if state is None or isinstance(state, int):
                    self.send_response(404 if state is None else state)
                    self.end_headers()
                    return
                if isinstance(state, list):
                    conditions = state
                else:
                    conditions = [] if state in ("Running", "garbage") else [{"type": state, "status": "True"}]
                body = json.dumps({"kind": "Job", "status": {"conditions": conditions}}).encode()
                if state == "garbage":
                    body = b"<html>502 Bad Gateway</html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def account(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text("the-token\n")
    (tmp_path / "namespace").write_text("models")
    return tmp_path


def _run(api: Api, account: Path, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    program = Path(jobwait.__file__)
    return subprocess.run([sys.executable, "-I", str(program), "--job", "churn-eval-0123456789", "--timeout",
                           str(timeout), "--interval", "0.05", "--api", api.url, "--account", str(account)],
                          capture_output=True, text=True, timeout=60)


def test_passes_when_the_job_completed(account):
    api = Api(["Complete"])
    proc = _run(api, account)
    assert proc.returncode == 0 and "passed the gate" in proc.stdout
    assert api.paths == [JOB] and api.tokens == ["Bearer the-token"]


def test_fails_when_the_job_failed(account):
    proc = _run(Api(["Failed"]), account)
    assert proc.returncode == 1 and "failed the gate" in proc.stderr


def test_waits_while_the_job_is_missing_or_running(account):
    api = Api([None, None, "Running", "Running", "Complete"])
    proc = _run(api, account)
    assert proc.returncode == 0 and len(api.paths) == 5
    # a Job not created yet (404) is the normal wait, not an API error to report
    assert "cannot read Job" not in proc.stderr


def test_no_verdict_before_the_deadline_fails(account):
    proc = _run(Api(["Running"]), account, timeout=0.3)
    assert proc.returncode == 1 and "no verdict" in proc.stderr


NOT_YET = [{"type": "Complete", "status": "False"}, {"type": "Failed", "status": "False"}]


def test_conditions_that_are_false_are_no_verdict(account):
    """`status: "False"` means the condition does not hold: neither a pass nor a failure."""
    proc = _run(Api([NOT_YET]), account, timeout=0.5)
    assert proc.returncode == 1 and "no verdict" in proc.stderr and "passed" not in proc.stdout
    api = Api([NOT_YET, NOT_YET, [{"type": "Complete", "status": "False"}, {"type": "Failed", "status": "True"}]])
    proc = _run(api, account)
    assert proc.returncode == 1 and "failed the gate" in proc.stderr and len(api.paths) == 3
    api = Api([NOT_YET, [{"type": "Failed", "status": "False"}, {"type": "Complete", "status": "True"}]])
    proc = _run(api, account)
    assert proc.returncode == 0 and "passed the gate" in proc.stdout and len(api.paths) == 2


@pytest.mark.parametrize("error", [500, 503, 403, 401, "garbage"])
def test_api_errors_are_retried_and_never_a_verdict(account, error):
    # An error that clears: the verdict that follows counts.
    api = Api([error, error, "Complete"])
    proc = _run(api, account)
    assert proc.returncode == 0 and len(api.paths) == 3
    assert proc.stderr.count("cannot read Job models/churn-eval-0123456789 yet") == 2
    # An error that persists: no verdict by the deadline fails, it never passes.
    proc = _run(Api([error]), account, timeout=0.3)
    assert proc.returncode == 1 and "no verdict after" in proc.stderr and "passed" not in proc.stdout


def test_an_api_server_that_refuses_connections_fails_at_the_deadline(account):
    api = Api(["Complete"])
    api.server.shutdown()
    api.server.server_close()  # the port is closed: connection refused
    proc = _run(api, account, timeout=0.3)
    assert proc.returncode == 1 and "no verdict after" in proc.stderr
    assert "cannot read Job" in proc.stderr and "passed" not in proc.stdout
