"""Load: N concurrent dashboard sessions moving the threshold slider over real websockets.

Serves ``atomsieve dashboard --no-show`` on a free 127.0.0.1 port (loopback only) and opens
sessions with ``bokeh.client.pull_session`` — the same websocket protocol a browser tab uses,
so each client is a real server session with its own Dashboard. Each client thread moves the
``Threshold <element>`` slider (``value`` and ``value_throttled``, as a slider release sends) to
a random value on the slider's grid and waits until the server's selection note shows that
threshold with a finished count; the time from the move to that reply is one update latency.
Then the client "looks" for ``uniform(--think MIN MAX)`` seconds (default 0.5–1.5 s) before its
next release; ``--back-to-back`` also runs both phases with no pause. Loops are bounded by
``--seconds`` and every wait by ``--timeout``.

    .venv/bin/python benchmarks/bench_load.py --sessions 20 --seconds 30 --back-to-back

The server precomputes the slider positions of a single-element dataset at startup; the driver
waits for that (its log line is reported), then runs a warm-up session, takes the RSS baseline
once that session was discarded, and runs one session alone (the reference p95) and then
``--sessions`` at once, for each pacing. It prints p50/p95/max latencies, their ratio, server
errors (tracebacks / ERROR lines in the server's output) and the server's resident memory
(VmRSS) before, at peak and after the sessions closed and the server discarded them (bokeh drops
a closed session after ``unused_session_lifetime``, 15 s, checked every 17 s).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
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
#: The first argument sets how long a closed session lingers before the server discards it
#: (``serve(session_lifetime_s=...)``; 0 keeps Bokeh's default of 15 s, checked every 17 s). Like
#: ``atomsieve dashboard``, it first restarts itself on the system allocator.
SERVER_SCRIPT = (
    "import functools, logging, sys; logging.basicConfig(level=logging.WARNING, stream=sys.stderr); "
    "logging.getLogger('bokeh.server.contexts').setLevel(logging.DEBUG); "
    "import atomsieve.app.serve as served; served.restart_with_system_malloc(); "
    "lifetime = float(sys.argv[1]); "
    "served.serve = (functools.partial(served.serve, session_lifetime_s=lifetime) if lifetime "
    "else served.serve); "
    "from atomsieve.cli import main; sys.exit(main(['dashboard', *sys.argv[2:]]))"
)
#: Seconds between the client's wake-up requests while it waits for an update.
HEARTBEAT_S = 0.25
#: A person's pause between seeing an update and the next slider release (uniform, seconds).
THINK_S = (0.5, 1.5)
#: Longest wait for the server to settle after the sessions opened (s).
SETTLE_MAX_S = 180.0
#: The server counts as settled below this fraction of one core (see :meth:`Server.wait_idle`).
IDLE_CPU_FRACTION = 0.3
#: Seconds to wait for the server's slider precomputation at startup, and for its memory release.
PRECOMPUTE_WAIT_S = 300.0
RELEASE_WAIT_S = 4.0
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

    def __init__(self, extra_args: list[str] | None = None, start_timeout: float = 300.0,
                 session_lifetime_s: float = 0.0):
        from atomsieve.app.serve import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = Path(tempfile.mkdtemp(prefix="atomsieve-load-")) / "server.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVER_SCRIPT, str(session_lifetime_s), "--port", str(self.port),
                 "--no-show",
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

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, seconds: float, busy_below: float = IDLE_CPU_FRACTION, window: float = 1.0) -> float:
        """Wait until the server uses less than ``busy_below`` of a core over ``window``; seconds waited.

        Opening a session costs the server a few CPU-seconds that continue after the first
        selection shows (the other views render); latencies are measured once that has settled.
        """
        t = time.monotonic()
        while time.monotonic() - t < seconds:
            before = self.cpu_seconds()
            time.sleep(window)
            if (self.cpu_seconds() - before) / window < busy_below:
                break
        return time.monotonic() - t

    def errors(self) -> list[str]:
        text = self.log.read_text()
        return [m.group(0) + ": " + text[m.start():m.start() + 300] for m in ERROR_PATTERN.finditer(text)]

    def wait_precomputed(self, seconds: float) -> str | None:
        """Wait for the server's "precomputed N slider positions" line; that line, or None."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                if "slider precomputation" in line or "precomputed" in line:
                    return line.strip()
            time.sleep(0.5)
        return None

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
    """One dashboard session over the websocket: find the threshold slider, move it, wait for the count.

    Waiting runs the client's own event loop until the server's PATCH-DOC carries the expected
    selection note (as a browser tab receives it); a SERVER-INFO request every
    :data:`HEARTBEAT_S` seconds only wakes the loop so a deadline is noticed. Once the session is
    ready, incoming patches are read (the note is recorded from them) but no longer applied to the
    client's copy of the document: the client's CPU is the server's CPU on this machine, and a
    browser would do that work elsewhere.
    """

    def __init__(self, url: str, timeout: float):
        from bokeh.client import pull_session
        from bokeh.events import DocumentReady

        t = time.monotonic()
        self.session = pull_session(url=url)
        # A browser tab announces "document_ready" once the page has rendered; Panel only writes a
        # session's model changes as one combined message once it has heard that.
        self.session.document.callbacks.send_event(DocumentReady())
        self.connect_seconds = time.monotonic() - t
        self.timeout = timeout
        self.doc = self.session.document
        self.note = _note_text(self.doc)
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
        self.apply_patches = True
        apply = self.session._handle_patch
        self.session._handle_patch = lambda message: apply(message) if self.apply_patches else None

    def wait_until(self, predicate, seconds: float) -> bool:
        """Run the client loop until ``predicate()`` or ``seconds`` pass; whether it became true."""
        connection = self.session._connection
        loop = connection._loop
        deadline = time.monotonic() + seconds
        handle = None

        def heartbeat():
            nonlocal handle
            loop.add_callback(connection.send_message, connection._protocol.create("SERVER-INFO-REQ"))
            handle = loop.call_later(HEARTBEAT_S, heartbeat)

        handle = loop.call_later(HEARTBEAT_S, heartbeat)
        try:
            connection._loop_until(lambda: predicate() or time.monotonic() > deadline
                                   or type(connection._state).__name__ == "DISCONNECTED")
        finally:
            loop.remove_timeout(handle)
        if type(connection._state).__name__ == "DISCONNECTED":
            raise ConnectionError("the server closed the session")
        return predicate()

    def wait_ready(self) -> tuple[object, str]:
        """Wait until the slider exists and the first selection finished; return (slider, element).

        Patches are applied until then (the slider may arrive in one), and not after.
        """
        found: list = []

        def ready() -> bool:
            if not found:
                found.extend(_find(self.doc, lambda m: type(m).__name__ == "Slider"
                                   and str(getattr(m, "title", "")).startswith("Threshold ")))
            return bool(found) and "LE-bank fit" in self.note and "computing" not in self.note

        if not self.wait_until(ready, self.timeout):
            raise TimeoutError(f"no threshold slider with a finished selection within {self.timeout} s")
        self.apply_patches = False
        return found[0], found[0].title.split()[-1]

    def move(self, slider, element: str, value: float) -> float | None:
        """Set the slider as a release does; seconds until the server shows the count (None: timeout)."""
        t = time.monotonic()
        slider.value = value
        set_throttled(slider, value)
        if self.wait_until(lambda: _shows(self.note, element, value), self.timeout):
            return time.monotonic() - t
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


def drive(clients: list[Client], seconds: float, seed: int = 0,
          think: tuple[float, float] = THINK_S, settle=None) -> list[ClientResult]:
    """Every client in its own thread moves its slider until ``seconds`` have passed.

    After each update a client pauses ``uniform(*think)`` seconds (a person looking at the
    result) before the next release; ``think=(0, 0)`` is back-to-back. ``settle()`` runs once every
    client is ready, before the clock starts.
    """
    results = [ClientResult(connect_seconds=c.connect_seconds) for c in clients]
    start = threading.Barrier(len(clients), action=settle)

    def run(i: int) -> None:
        res = results[i]
        rng = random.Random(seed * 1000 + i)
        try:
            slider, element = clients[i].wait_ready()
            start.wait(timeout=clients[i].timeout + SETTLE_MAX_S)
            stop_at = time.monotonic() + seconds
            value = float(slider.value)
            while time.monotonic() < stop_at:
                value = _slider_values(slider, rng, value)
                latency = clients[i].move(slider, element, value)
                if latency is None:
                    res.timeouts += 1
                else:
                    res.latencies.append(latency)
                time.sleep(rng.uniform(*think))  # a person looks at the update before the next release
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


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages of this machine."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def run_phase(server: Server, n_sessions: int, seconds: float, timeout: float, seed: int,
              think: tuple[float, float] = THINK_S) -> dict:
    """Open ``n_sessions`` clients, drive them for ``seconds``, close them; latencies and outcomes."""
    clients = []
    load_before = loadavg()
    cpu_before, opened = server.cpu_seconds(), time.monotonic()
    settled: dict = {}

    def settle():
        settled["open_s"] = time.monotonic() - opened
        settled["settle_s"] = server.wait_idle(SETTLE_MAX_S)
        settled["server_cpu_s_per_session_open"] = (server.cpu_seconds() - cpu_before) / n_sessions

    try:
        for _ in range(n_sessions):
            clients.append(Client(server.url, timeout))
        results = drive(clients, seconds, seed, think, settle)
    finally:
        for c in clients:
            c.close()
    latencies = [x for r in results for x in r.latencies]
    return {
        "sessions": n_sessions,
        "think_s": list(think),
        "updates": len(latencies),
        "updates_per_session": [len(r.latencies) for r in results],
        "timeouts": sum(r.timeouts for r in results),
        "client_errors": [r.error for r in results if r.error],
        "connect_s_max": max(r.connect_seconds for r in results),
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies) if latencies else float("nan"),
        **settled,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }


def pacing_pair(server: Server, args, think: tuple[float, float], seed: int,
                discarded: int) -> tuple[dict, int]:
    """One session alone, then ``args.sessions`` at once, with the same pacing; RSS around them."""
    single = run_phase(server, 1, args.seconds, args.timeout, seed, think)
    discarded = wait_discarded(server, discarded + 1)
    before = server.rss()
    server.peak = before
    many = run_phase(server, args.sessions, args.seconds, args.timeout, seed + 1, think)
    peak = server.peak
    discarded_now = wait_discarded(server, discarded + args.sessions, 90)
    time.sleep(RELEASE_WAIT_S)  # the server's memory release runs shortly after the last discard
    after = server.rss()
    return {
        "think_s": list(think), "single": single, "concurrent": many,
        "p95_ratio": many["p95_s"] / single["p95_s"],
        "rss_before_mib": before, "rss_peak_mib": peak, "rss_after_close_mib": after,
        "sessions_discarded_after_close": discarded_now - discarded,
    }, discarded_now


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the sessions move sliders")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for one update, s")
    parser.add_argument("--think", type=float, nargs=2, default=list(THINK_S), metavar=("MIN", "MAX"),
                        help="pause after each update before the next release, uniform in [MIN, MAX] s")
    parser.add_argument("--back-to-back", action="store_true",
                        help="also run both phases again with no pause between releases")
    parser.add_argument("--session-lifetime", type=float, default=0.0, metavar="S",
                        help="seconds a closed session lingers before the server discards it "
                             "(0: Bokeh's default, 15 s checked every 17 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    _import_panel_models()
    server = Server(session_lifetime_s=args.session_lifetime)
    try:
        precompute = server.wait_precomputed(PRECOMPUTE_WAIT_S)
        # Warm-up: the first session builds what every session shares; baseline is after it is gone.
        warm = run_phase(server, 1, min(5.0, args.seconds), args.timeout, args.seed + 99)
        discarded = wait_discarded(server, 1)
        time.sleep(RELEASE_WAIT_S)
        baseline = server.rss()
        pacings = [tuple(args.think)] + ([(0.0, 0.0)] if args.back_to_back else [])
        runs = []
        for k, think in enumerate(pacings):
            run, discarded = pacing_pair(server, args, think, args.seed + 10 * k, discarded)
            runs.append(run)
        report = {
            "precompute": precompute, "warmup": warm, "runs": runs,
            "rss_baseline_mib": baseline, "rss_peak_mib": max(r["rss_peak_mib"] for r in runs),
            "rss_after_close_mib": runs[-1]["rss_after_close_mib"],
            "server_errors": server.errors(),
        }
    finally:
        server.stop()
    print(json.dumps(report, indent=1))
    for run in runs:
        one, many = run["single"], run["concurrent"]
        print(f"think {run['think_s'][0]:g}-{run['think_s'][1]:g} s: p50/p95/max 1 session "
              f"{one['p50_s']:.3f}/{one['p95_s']:.3f}/{one['max_s']:.3f} s ({one['updates']} updates), "
              f"{args.sessions} sessions {many['p50_s']:.3f}/{many['p95_s']:.3f}/{many['max_s']:.3f} s "
              f"({many['updates']} updates, {many['timeouts']} timeouts): p95 ratio {run['p95_ratio']:.2f}x; "
              f"RSS before {run['rss_before_mib']:.0f}, peak {run['rss_peak_mib']:.0f}, after close "
              f"{run['rss_after_close_mib']:.0f} MiB ({run['sessions_discarded_after_close']} discarded); "
              f"load {many['loadavg_before'][0]:.1f}->{many['loadavg_after'][0]:.1f}")
    print(f"RSS baseline {baseline:.0f} MiB; server errors: {len(report['server_errors'])}; "
          f"precompute: {precompute}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
