"""The browser suite's machinery: Debian's chromium options, console errors, a Jupyter server per person."""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from autograder.paths import REPO

SHOTS = REPO / "build" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
# Console errors a page may print without anything being wrong; every other one fails the test.
ALLOWED_CONSOLE_ERRORS = [
    # JupyterLab asks the server for optional things that this setup does not have:
    re.compile(r"Failed to load resource: the server responded with a status of 404"),
    re.compile(r"/lsp/status|language server", re.IGNORECASE),
    # MathJax 2 (HTML-CSS output) probes for a font at about:blank, which Chromium refuses:
    re.compile(r"Access to font at 'about:blank'"),
    re.compile(r"Failed to load resource: net::ERR_FAILED \[at about:blank\]"),
]


class ConsoleErrors:
    """Every console error and uncaught exception of a page, minus the allow-listed ones."""

    def __init__(self):
        self.errors = []

    def watch(self, page):
        page.on("console", lambda msg: msg.type == "error" and self.add(
            f"{page.url}: {msg.text} [at {msg.location.get('url')}]"))
        page.on("pageerror", lambda exc: self.add(f"{page.url}: uncaught {exc}"))

    def add(self, text):
        if not any(pattern.search(text) for pattern in ALLOWED_CONSOLE_ERRORS):
            self.errors.append(text)


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterServer:
    """JupyterLab on its own port with the person's own Jupyter config, data and runtime dirs (`env`),
    stopped by its pid."""

    def __init__(self, name, env, root_dir):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = SHOTS / f"{name}-server.log"
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root_dir}",
               "--ServerApp.port_retries=0", "--LabApp.news_url=", "--allow-root"]
        SHOTS.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_until_up()

    def api(self, path):
        with urllib.request.urlopen(f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}",
                                    timeout=10) as response:
            return response.read()

    def status(self, path):
        """The HTTP status of GET path."""
        try:
            self.api(path)
            return 200
        except urllib.error.HTTPError as error:
            return error.code

    def wait_until_up(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Jupyter server exited: {self.log.read_text()[-3000:]}")
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"Jupyter server not up after {timeout} s: {self.log}")

    def new_page(self, browser, console, timeout_ms):
        """A page in a browser context of its own that sends this server's token with every request."""
        context = browser.new_context(viewport={"width": 1400, "height": 900},
                                      extra_http_headers={"Authorization": f"token {self.token}"})
        context.set_default_timeout(timeout_ms)
        page = context.new_page()
        console.watch(page)
        return page

    def page_url(self, path):
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}"

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
