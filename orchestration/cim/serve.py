"""Serve the dashboard, the Dagster UI and the documentation on 127.0.0.1; Ctrl-C stops all.

Each server runs in its own process group, so stopping this command also stops what
they started (the Dagster daemon, dbt subprocesses) instead of leaving them behind.

The documentation server (a stdlib ``http.server`` thread, port ``CIM_DOCS_PORT``,
default 8502) serves two sites the dashboard links to:

- ``/dbt/``: the dbt docs that ``make docs`` writes into CIM_HOME/docs/dbt. Their
  index.html fetches manifest.json and catalog.json, which a browser refuses for a page
  opened as a file: over HTTP it works. Only those files are served, not the compiled SQL
  or run results dbt writes beside them.
- ``/quality/``: the GX Data Docs of CIM_HOME/quality/docs, already made self-contained
  (local stylesheet, no CDN) by ``cim.quality.offline``.

Both are read from the deployment's folder at each request, so a new run or ``make docs``
shows without a restart.
"""

from __future__ import annotations

import html
import os
import posixpath
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cim import settings

APP = settings.REPO_ROOT / "app" / "main.py"
# what `dbt docs generate` writes and its page needs; nothing else of target/ is served
DBT_DOCS_FILES = ("index.html", "manifest.json", "catalog.json", "static_index.html")
DEFAULT_DOCS_PORT = 8502


def docs_port() -> int:
    """The documentation server's port: CIM_DOCS_PORT, else 8502."""
    return int(os.environ.get("CIM_DOCS_PORT") or DEFAULT_DOCS_PORT)


def docs_url(path: str = "") -> str:
    """The address of ``path`` on the documentation server (``quality/``, ``dbt/``)."""
    return f"http://127.0.0.1:{docs_port()}/{path}"


class DocsHandler(SimpleHTTPRequestHandler):
    """GET/HEAD of the two documentation sites; everything else is a 404."""

    def translate_path(self, path: str) -> str:
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        parts = [p for p in posixpath.normpath(path).split("/") if p and p not in (".", "..")]
        if not parts:
            return ""
        site, rest = parts[0], parts[1:]
        if site == "dbt":
            name = rest[0] if rest else "index.html"
            if len(rest) > 1 or name not in DBT_DOCS_FILES:
                return ""
            return str(settings.paths().dbt_docs / name)
        if site == "quality":
            return str(settings.paths().quality_docs.joinpath(*rest))
        return ""

    def send_head(self):
        path = urllib.parse.urlsplit(self.path).path
        if path in ("", "/"):
            return self._index()
        if path in ("/dbt", "/quality"):
            # the pages fetch their files relative to the folder: /dbt must become /dbt/
            self.send_response(301)
            self.send_header("Location", path + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if not self.translate_path(self.path):
            self.send_error(404)
            return None
        return super().send_head()

    def _index(self):
        """A page linking both sites, saying which has not been built yet."""
        import io

        def link(href: str, label: str, exists: bool, how: str) -> str:
            if exists:
                return f'<li><a href="{href}">{html.escape(label)}</a></li>'
            return f"<li>{html.escape(label)}: not built yet ({html.escape(how)})</li>"

        body = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Collective Impact Monitor: documentation</title></head><body>"
            "<h1>Documentation</h1><ul>"
            + link(
                "/dbt/",
                "dbt docs: every model and column of the mart",
                (settings.paths().dbt_docs / "index.html").exists(),
                "make docs",
            )
            + link(
                "/quality/",
                "Data Docs: the quality checks of the last run",
                (settings.paths().quality_docs / "index.html").exists(),
                "make pipeline",
            )
            + "</ul></body></html>"
        ).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def list_directory(self, path):  # no directory listings: a folder without index is 404
        self.send_error(404)
        return None

    def end_headers(self) -> None:
        # the sites change with each run and `make docs`: never a stale cached page
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet beside the others
        pass


def start_docs_server(port: int) -> ThreadingHTTPServer:
    """The documentation server on 127.0.0.1:``port`` (0: any free port), serving in a
    daemon thread; ``shutdown()`` stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), DocsHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="cim-docs", daemon=True).start()
    return server


def _start(command: list[str]) -> subprocess.Popen:
    # from the repository root: `dagster dev` finds the code location in pyproject.toml
    return subprocess.Popen(
        command, start_new_session=True, env=os.environ.copy(), cwd=settings.REPO_ROOT
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # dagster dev shuts down cleanly on SIGINT
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def serve(dagster_port: int, app_port: int, documentation_port: int | None = None) -> int:
    bin_dir = Path(sys.executable).parent
    port = docs_port() if documentation_port is None else documentation_port
    docs = start_docs_server(port)
    # the dashboard links to the documentation on this port
    os.environ["CIM_DOCS_PORT"] = str(docs.server_address[1])
    processes = [
        _start(
            [
                str(bin_dir / "dagster"),
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(dagster_port),
            ]
        ),
        _start(
            [
                str(bin_dir / "streamlit"),
                "run",
                str(APP),
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(app_port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ]
        ),
    ]
    print(
        f"Dashboard:  http://127.0.0.1:{app_port}\nDagster UI: http://127.0.0.1:{dagster_port}\n"
        f"Docs:       {docs_url()} (dbt docs: {docs_url('dbt/')}, "
        f"Data Docs: {docs_url('quality/')})\n"
        "Press Ctrl-C to stop them all.",
        flush=True,
    )
    stopping = False

    def _on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    finally:
        _stop(processes)
        docs.shutdown()
    failed = [p.args[0] for p in processes if p.returncode not in (0, -2, -15, 130, None)]
    return 1 if failed and not stopping else 0
