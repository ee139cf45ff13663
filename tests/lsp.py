"""A small Language Server Protocol client over stdio, enough to drive
yaml-language-server the way an editor does: open a document, wait for its
diagnostics, ask for completion and hover."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

SERVER = Path(__file__).resolve().parent / "consumers" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"


class LspClient:
    def __init__(self, root: Path, settings: dict[str, Any] | None = None) -> None:
        assert SERVER.exists(), "run `npm ci --prefix tests/consumers` (done by .ci/run)"
        self.settings = settings or {}
        self.proc = subprocess.Popen(["node", str(SERVER), "--stdio"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._next_id = 0
        self._responses: dict[int, queue.Queue[Any]] = {}
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self._diagnostics_event = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.request("initialize", {
            "processId": None, "rootUri": root.as_uri(),
            "capabilities": {"textDocument": {
                "completion": {"completionItem": {"snippetSupport": False, "documentationFormat": ["markdown", "plaintext"]}},
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "publishDiagnostics": {}},
                "workspace": {"configuration": True}},
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": self._yaml_settings()}})

    def _yaml_settings(self) -> dict[str, Any]:
        return {"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False}, **self.settings}

    # --- wire ------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.proc.stdin.flush()

    def _read_loop(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            message = json.loads(stream.read(int(headers["content-length"])))
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and "method" not in message:
            self._responses.setdefault(message["id"], queue.Queue()).put(message)
        elif message.get("method") == "textDocument/publishDiagnostics":
            with self._diagnostics_event:
                self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
                self._diagnostics_event.notify_all()
        elif "id" in message:  # a request from the server
            method = message["method"]
            if method == "workspace/configuration":
                result: Any = [self._yaml_settings() if item.get("section") == "yaml" else None
                               for item in message["params"]["items"]]
            else:
                result = None
            self._send({"id": message["id"], "result": result})

    def request(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        self._next_id += 1
        rid = self._next_id
        box = self._responses.setdefault(rid, queue.Queue())
        self._send({"id": rid, "method": method, "params": params})
        reply = box.get(timeout=timeout)
        assert "error" not in reply, reply["error"]
        return reply["result"]

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    # --- editor actions ---------------------------------------------------------
    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        with self._diagnostics_event:
            self.diagnostics.pop(uri, None)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": path.read_text() if text is None else text}})
        return uri

    def wait_diagnostics(self, uri: str, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._diagnostics_event:
            while uri not in self.diagnostics:
                left = deadline - time.monotonic()
                assert left > 0, f"no diagnostics published for {uri}"
                self._diagnostics_event.wait(left)
            return self.diagnostics[uri]

    def completion(self, uri: str, line: int, character: int) -> list[str]:
        result = self.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        items = result["items"] if isinstance(result, dict) else (result or [])
        return [item["label"] for item in items]

    def hover(self, uri: str, line: int, character: int) -> str:
        result = self.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        if not result:
            return ""
        contents = result["contents"]
        return contents["value"] if isinstance(contents, dict) else str(contents)

    def close(self) -> None:
        try:
            self.request("shutdown", {}, timeout=10)
            self.notify("exit", {})
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - best effort; kill below
            pass
        if self.proc.poll() is None:
            self.proc.kill()
