"""Load: N concurrent dashboard sessions moving the threshold slider over real websockets.

Serves ``atomsieve dashboard --no-show`` on a free 127.0.0.1 port (loopback only) and opens
sessions with ``bokeh.client.pull_session`` — the same websocket protocol a browser tab uses,
so each client is a real server session with its own Dashboard. Each client thread moves the
``Threshold <element>`` slider (``value`` and ``value_throttled``, as a slider release sends) to
a random value on the slider's grid and waits until the server's selection note shows that
threshold with a finished count; the time from the move to that reply is one update latency.
Loops are bounded by ``--seconds`` and every wait by ``--timeout``.

    .venv/bin/python benchmarks/bench_load.py --sessions 20 --seconds 45

Runs one session alone first (the reference p95), then ``--sessions`` at once. Prints p50/p95
latencies of both, their ratio, server errors (tracebacks / ERROR lines in the server's
output) and the server's resident memory (VmRSS) at baseline, at peak and after the sessions
closed and the server discarded them (bokeh drops a closed session after
``unused_session_lifetime``, 15 s, checked every 17 s).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

#: Runs ``atomsieve dashboard ARGS`` with Python logging on stderr: warnings and errors from every
#: logger, plus bokeh's debug line for each session it discards (per-session cleanup is counted).
SERVER_SCRIPT = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING, stream=sys.stderr); "
    "logging.getLogger('bokeh.server.contexts').setLevel(logging.DEBUG); "
    "from atomsieve.cli import main; sys.exit(main(['dashboard', *sys.argv[1:]]))"
)
#: Server output that counts as an error (tornado's closed-websocket notices do not).
ERROR_PATTERN = re.compile(r"Traceback|^ERROR|\bERROR:|src/atomsieve/", re.MULTILINE)


def _import_panel_models() -> None:
    """The client must know Panel's custom bokeh models to decode the served document."""
    import panel.models

    for mod in pkgutil.iter_modules(panel.models.__path__):
        importlib.import_module(f"panel.models.{mod.name}")


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (``VmRSS`` from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Server:
    """``atomsieve dashboard`` in a subprocess on a free loopback port, its output in a log file."""

    def __init__(self, extra_args: list[str] | None = None, start_timeout: float = 300.0):
        from atomsieve.app.serve import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = Path(tempfile.mkdtemp(prefix="atomsieve-load-")) / "server.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVER_SCRIPT, "--port", str(self.port), "--no-show",
                 *(extra_args or [])],
                stdout=out, stderr=subprocess.STDOUT,
            )
        self._wait_listening(start_timeout)
        self.peak = rss_mib(self.proc.pid)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _wait_listening(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited early:\n{self.log.read_text()[-2000:]}")
            if "Launching server" in self.log.read_text() or "atomsieve dashboard:" in self.log.read_text():
                try:  # the port answers once tornado listens; /favicon.ico creates no session
                    urllib.request.urlopen(self.url + "favicon.ico", timeout=5)
                    return
                except OSError as exc:
                    if getattr(exc, "code", None):  # an HTTP error status: it listens
                        return
            time.sleep(0.5)
        raise RuntimeError(f"{self.url} did not listen within {seconds} s")

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.peak = max(self.peak, rss_mib(self.proc.pid))
            except (OSError, RuntimeError):
                return

    def rss(self) -> float:
        value = rss_mib(self.proc.pid)
        self.peak = max(self.peak, value)
        return value

    def errors(self) -> list[str]:
        text = self.log.read_text()
        return [m.group(0) + ": " + text[m.start():m.start() + 300] for m in ERROR_PATTERN.finditer(text)]

    def discarded_sessions(self) -> int:
        """Sessions the server has discarded so far (bokeh's debug line for each)."""
        return self.log.read_text().count("Discarding session")

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)


@dataclass
class ClientResult:
    """What one websocket client saw."""

    latencies: list[float] = field(default_factory=list)
    timeouts: int = 0
    error: str | None = None
    connect_seconds: float = 0.0


def set_throttled(slider, value: float) -> None:
    """Send ``value_throttled`` as BokehJS does on release (read-only to Python's ``__set__``)."""
    slider.set_from_json("value_throttled", value)


def _find(doc, predicate):
    return [m for m in doc.models if predicate(m)]


def _note_text(doc) -> str:
    notes = _find(doc, lambda m: "selection-note" in (getattr(m, "css_classes", None) or []))
    return " ".join(str(getattr(m, "text", "") or "") for m in notes)


def _shows(text: str, element: str, value: float) -> bool:
    return f"{element} {value:.3f}" in text and "computing" not in text and "LE-bank fit" in text


class Client:
    """One dashboard session over the websocket: find the threshold slider, move it, wait for the count."""

    def __init__(self, url: str, timeout: float):
        from bokeh.client import pull_session

        t = time.monotonic()
        self.session = pull_session(url=url)
        self.connect_seconds = time.monotonic() - t
        self.timeout = timeout
        self.doc = self.session.document
        self.note = _note_text(self.doc)
        # Record the selection note from every PATCH-DOC the server sends. The client applies
        # patches only between round trips (it drops those arriving while it waits for a reply),
        # so the note is read off the incoming messages themselves.
        connection = self.session._connection
        pop = connection._pop_message

        async def pop_and_record():
            message = await pop()
            if message is not None and message.msgtype == "PATCH-DOC":
                for event in message.content.get("events", []):
                    new = event.get("new")
                    if event.get("attr") == "text" and isinstance(new, str) and "thresholds " in new:
                        self.note = new
            return message

        connection._pop_message = pop_and_record

    def wait_ready(self) -> tuple[object, str]:
        """Poll until the slider exists and the first selection finished; return (slider, element)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self.session.force_roundtrip()  # processes the server's pending patches
            sliders = _find(self.doc, lambda m: type(m).__name__ == "Slider"
                            and str(getattr(m, "title", "")).startswith("Threshold "))
            if sliders and "LE-bank fit" in self.note and "computing" not in self.note:
                return sliders[0], sliders[0].title.split()[-1]
            time.sleep(0.2)
        raise TimeoutError(f"no threshold slider with a finished selection within {self.timeout} s")

    def move(self, slider, element: str, value: float) -> float | None:
        """Set the slider as a release does; seconds until the server shows the count (None: timeout)."""
        t = time.monotonic()
        slider.value = value
        set_throttled(slider, value)
        deadline = t + self.timeout
        while time.monotonic() < deadline:
            self.session.force_roundtrip()
            if _shows(self.note, element, value):
                return time.monotonic() - t
            time.sleep(0.01)
        return None

    def close(self) -> None:
        self.session.close()


def _slider_values(slider, rng: random.Random, current: float) -> float:
    start, end, step = float(slider.start), float(slider.end), float(slider.step)
    n = int(round((end - start) / step))
    while True:
        value = round(start + step * rng.randrange(n + 1), 6)
        if abs(value - current) > 1e-9 and 0.1 <= value <= 0.6:  # the useful middle of the range
            return value


def drive(clients: list[Client], seconds: float, seed: int = 0) -> list[ClientResult]:
    """Every client in its own thread moves its slider until ``seconds`` have passed."""
    results = [ClientResult(connect_seconds=c.connect_seconds) for c in clients]
    start = threading.Barrier(len(clients))

    def run(i: int) -> None:
        res = results[i]
        rng = random.Random(seed * 1000 + i)
        try:
            slider, element = clients[i].wait_ready()
            start.wait(timeout=clients[i].timeout)
            stop_at = time.monotonic() + seconds
            value = float(slider.value)
            while time.monotonic() < stop_at:
                value = _slider_values(slider, rng, value)
                latency = clients[i].move(slider, element, value)
                if latency is None:
                    res.timeouts += 1
                else:
                    res.latencies.append(latency)
                time.sleep(rng.uniform(0.05, 0.3))  # a person's pause between slider releases
        except Exception as exc:  # noqa: BLE001 - reported per client
            res.error = f"{type(exc).__name__}: {exc}"
            start.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 3 * clients[0].timeout + 30)
    return results


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def wait_discarded(server: Server, expected: int | None, seconds: float = 45.0) -> int:
    """Wait until ``expected`` sessions were discarded (debug log), or ``seconds`` when not counted.

    Bokeh discards a closed session once unused for 15 s, checking every 17 s: at most ~32 s.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if expected is not None and server.discarded_sessions() >= expected:
            break
        time.sleep(1.0)
    time.sleep(1.0)  # let on_session_destroyed callbacks finish
    return server.discarded_sessions()


def run_phase(server: Server, n_sessions: int, seconds: float, timeout: float, seed: int) -> dict:
    """Open ``n_sessions`` clients, drive them for ``seconds``, close them; latencies and outcomes."""
    clients = []
    try:
        for _ in range(n_sessions):
            clients.append(Client(server.url, timeout))
        results = drive(clients, seconds, seed)
    finally:
        for c in clients:
            c.close()
    latencies = [x for r in results for x in r.latencies]
    return {
        "sessions": n_sessions,
        "updates": len(latencies),
        "updates_per_session": [len(r.latencies) for r in results],
        "timeouts": sum(r.timeouts for r in results),
        "client_errors": [r.error for r in results if r.error],
        "connect_s_max": max(r.connect_seconds for r in results),
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=45.0, help="how long the sessions move sliders")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for one update, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    _import_panel_models()
    server = Server()
    try:
        # Warm-up: the first session computes the shared fingerprints; baseline is after it is gone.
        warm = run_phase(server, 1, min(5.0, args.seconds), args.timeout, args.seed + 99)
        wait_discarded(server, 1)
        baseline = server.rss()
        single = run_phase(server, 1, args.seconds, args.timeout, args.seed)
        wait_discarded(server, 2)
        after_single = server.rss()
        server.peak = after_single
        many = run_phase(server, args.sessions, args.seconds, args.timeout, args.seed + 1)
        peak = server.peak
        discarded = wait_discarded(server, 2 + args.sessions, 90) - 2
        after = server.rss()
        report = {
            "warmup": warm, "single": single, "concurrent": many,
            "p95_ratio": many["p95_s"] / single["p95_s"],
            "rss_baseline_mib": baseline, "rss_after_single_mib": after_single,
            "rss_peak_mib": peak, "rss_after_close_mib": after,
            "sessions_discarded_after_close": discarded,
            "server_errors": server.errors(),
        }
    finally:
        server.stop()
    print(json.dumps(report, indent=1))
    print(f"p95 {args.sessions} sessions {many['p95_s']:.3f} s vs 1 session {single['p95_s']:.3f} s "
          f"= {report['p95_ratio']:.2f}x; RSS baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, "
          f"after close {after:.0f} MiB; server errors: {len(report['server_errors'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
