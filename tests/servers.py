"""Servers the browser tests start (the dashboard, ``panel serve``, JupyterLab): run, wait, stop."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def wait_for_http(url: str, proc: subprocess.Popen, log: Path | None = None,
                  seconds: float = 120) -> tuple[int, str]:
    """Status and body once ``url`` answers 200; raise with the server's output (``log``'s tail, else
    its stderr pipe) if it exits or stays silent. A request may take 90 s: a page's first render on
    a loaded machine takes far longer than a connection."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            output = log.read_text() if log is not None else (proc.stderr.read() if proc.stderr else "")
            raise RuntimeError(f"server exited early: {output[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=90) as response:
                if response.status == 200:
                    return response.status, response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@contextmanager
def running(command: list[str], url: str, *, env: dict | None = None, cwd: str | None = None,
            seconds: float = 120) -> Iterator[Path]:
    """Run the server ``command`` while the block runs, once ``url`` answers; yields its log file."""
    log = Path(tempfile.mkdtemp(prefix="atomsieve-server-")) / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, "BOKEH_LOG_LEVEL": "warn", **(env or {})})
    try:
        wait_for_http(url, proc, log, seconds)
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def assert_no_atomsieve_exception(log: Path) -> None:
    """Exceptions through atomsieve's code are failures; tornado's "websocket closed" noise when a
    browser tab goes away mid-message is not."""
    text = log.read_text()
    assert "src/atomsieve/" not in text, f"the server logged an exception:\n{text[-4000:]}"
