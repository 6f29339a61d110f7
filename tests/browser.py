"""Headless Chromium driven over the DevTools protocol (on a pipe: no port, no network).

Opens a local file with every network scheme blocked, records each request the page
makes, console messages, uncaught exceptions and JavaScript dialogs, reads the rendered
text and takes screenshots. Debian's ``chromium`` package provides the browser.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         # Nothing resolves and every proxied request goes to a closed local port: the page
         # could not fetch anything even if it tried (we also record that it did not try).
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
         "--remote-debugging-pipe"]
BLOCKED = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
# Waiting for the browser is not an assertion; it only keeps a broken browser from hanging CI.
PATIENCE_SECONDS = 120


def chromium_binary() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """The browser did not answer or reported an error."""


@dataclass
class PageLog:
    requests: List[str] = field(default_factory=list)        # every URL the page requested
    console: List[Dict[str, Any]] = field(default_factory=list)
    exceptions: List[str] = field(default_factory=list)
    dialogs: List[str] = field(default_factory=list)
    log_entries: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> List[str]:
        found = [f"console.{m['type']}: {m.get('text', '')}" for m in self.console
                 if m["type"] in ("error", "assert")]
        found += [f"exception: {e}" for e in self.exceptions]
        found += [f"log {e.get('source')}: {e.get('text')}" for e in self.log_entries
                  if e.get("level") == "error"]
        return found


class Chromium:
    """One headless browser, one page; use as a context manager."""

    def __init__(self, binary: Optional[str] = None):
        self.binary = binary or chromium_binary()
        if not self.binary:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="report-browser-")
        self._next_id = 0
        self._buffer = b""
        self._events: List[Dict[str, Any]] = []
        self.session: Optional[str] = None
        self.log = PageLog()

    def __enter__(self) -> "Chromium":
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_pipe_fds() -> None:  # Chromium reads commands on fd 3, writes on fd 4
            # Copies first: a pipe end may already be fd 3 or 4, and dup2 onto itself would
            # keep its close-on-exec flag.
            read_end, write_end = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipe_fds, close_fds=False)
        os.close(to_browser_read)
        os.close(from_browser_write)
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Network.setBlockedURLs", urls=BLOCKED)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.call("Browser.close", session=False)
        except Exception:  # the browser may already be gone; we kill it below either way
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- the protocol ------------------------------------------------------------------------

    def _send(self, message: Dict[str, Any]) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> Dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            if not ready:
                raise BrowserError("no answer from chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed = json.loads(message)
        if "method" in parsed:
            self._record(parsed)
        return parsed

    def _record(self, event: Dict[str, Any]) -> None:
        self._events.append(event)
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            self.log.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.log.console.append({"type": params["type"], "text": text})
        elif method == "Runtime.exceptionThrown":
            self.log.exceptions.append(params["exceptionDetails"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            self.log.dialogs.append(params.get("message", ""))
            # Dismiss it so the page does not block; the test fails on it anyway.
            self._send({"id": self._new_id(), "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": False}, "sessionId": self.session})
        elif method == "Log.entryAdded":
            self.log.log_entries.append(params["entry"])

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def call(self, method: str, session: bool = True, **params: Any) -> Dict[str, Any]:
        message: Dict[str, Any] = {"id": self._new_id(), "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method: str) -> Dict[str, Any]:
        seen = next((e for e in self._events if e["method"] == method), None)
        deadline = time.monotonic() + PATIENCE_SECONDS
        while seen is None:
            event = self._receive(deadline)
            if event.get("method") == method:
                seen = event
        return seen

    # -- what the tests use ------------------------------------------------------------------

    def open(self, path: str, width: int = 1280) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                  deviceScaleFactor=1, mobile=False)
        # A fresh log per page: what a test asserts is what this page did, not what an
        # earlier test's page did in the same browser.
        self._events.clear()
        self.log = PageLog()
        result = self.call("Page.navigate", url="file://" + os.path.abspath(path))
        if result.get("errorText"):
            raise BrowserError(f"{path}: {result['errorText']}")
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """Runs ``expression`` from DevTools (not from the page, which has no scripts); a
        promise is awaited and its value returned."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: str, width: int = 1280, media: str = "screen") -> int:
        """A full-page PNG at ``width`` px with CSS media ``media``; returns its height."""
        self.call("Emulation.setEmulatedMedia", media=media)
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
        self.call("Emulation.setEmulatedMedia", media="")
        return height
