"""Dashboard responsiveness: threshold change -> counts + histogram data, and the browser's count update.

State level (no browser): a ``SelectionState`` on the embedded germanium set (228 structures,
14,072 atoms) is moved through a sequence of slider positions; each step times the recompute
of counts, bank and histogram data. Three cases:

- ``cold``: a position never seen before (a fresh LE-bank fast-engine fit every step);
- ``neighbour``: one slider step from the last position after the idle prefetch has fitted it
  (what the served app does between moves), i.e. an explicit-key cache hit plus histogram;
- peer: the bare ``LEBank(...).fit(features)`` + ``np.histogram`` the state wraps, same positions.

Browser level (``--browser``): ``atomsieve dashboard`` in a subprocess, headless Chromium; one
ArrowRight on the threshold handle (a release), then the time until the card's text changes.
With ``--pages N`` the presses are repeated on N fresh pages (new sessions) in turn, since the
first press of a page is the one that used to be slow.

    .venv/bin/python benchmarks/bench_dashboard.py [--steps 30] [--browser [--presses 12] [--pages 3]
        [--settle 20]] [--json out.json]

Scale (``--path FILE``, issue 18): ``atomsieve dashboard FILE`` from a cold cache (an empty
``$ATOMSIEVE_CACHE_DIR``): seconds to the first selection on the page, ``--presses`` slider presses,
the model-error panel's state, the environment map (screenshots into ``--shots DIR``) and the
server's resident memory (VmHWM, the peak, from /proc).

    .venv/bin/python benchmarks/bench_dashboard.py --path ge_1000000.extxyz --presses 8 --shots DIR
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def percentiles(values) -> dict:
    a = np.asarray(values) * 1000
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "max_ms": float(a.max())}


def state_level(steps: int, seed: int) -> dict:
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.selection_state import (
        OUTCOMES,
        THRESHOLD_STEP,
        SelectionState,
        run_selection,
        selection_key,
    )
    from atomsieve.app.state import DatasetState
    from atomsieve.selectors import LEBank

    fs = FeaturesState(data=DatasetState.from_path())
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True)
    rng = random.Random(seed)
    grid = np.round(np.arange(0.15, 0.80 + 1e-9, THRESHOLD_STEP), 6)
    positions = [float(grid[rng.randrange(len(grid))]) for _ in range(steps)]

    def move(t: float) -> float:
        start = time.perf_counter()
        sel.thresholds = {"Ge": t}
        sel.histogram()
        return time.perf_counter() - start

    feats = fs.features
    column = feats.values[:, sel.feature_index]

    def peer_fit(t: float) -> float:
        start = time.perf_counter()
        fit = LEBank(thresholds={"Ge": t}, seed=0, device="cpu").fit(feats)
        mask = np.isin(feats.structure, fit.selected_)
        np.histogram(column, bins=40)
        np.histogram(column[mask], bins=40)
        return time.perf_counter() - start

    cold, peer = [], []
    for i, t in enumerate(positions):  # interleaved A/B pairs, alternating which goes first
        OUTCOMES.clear()
        if i % 2:
            peer.append(peer_fit(t))
            cold.append(move(t))
        else:
            cold.append(move(t))
            peer.append(peer_fit(t))
    neighbour = []
    digest = fs.data.dataset.content_hash()
    for i, t in enumerate(positions):
        OUTCOMES.clear()
        sel.thresholds = {"Ge": t}  # untimed
        for th in sel.neighbour_thresholds(1):  # untimed: what the served app's idle prefetch does
            run_selection(fs.features, selection_key(fs.features, digest, th, 0, False), th, 0, False)
        neighbour.append(move(round(t + (1 if i % 2 == 0 else -1) * THRESHOLD_STEP, 6)))
    ratio = float(np.median(np.asarray(cold) / np.asarray(peer)))
    return {"cold_over_peer_median_ratio": ratio, "cold": percentiles(cold),
            "neighbour": percentiles(neighbour), "peer_lebank_fit": percentiles(peer),
            "thresholds": positions}


def start_dashboard(path: str | None = None, env: dict | None = None,
                    log=None) -> tuple[int, subprocess.Popen]:
    """``atomsieve dashboard [PATH]`` on a free port in a subprocess: (port, process)."""
    from atomsieve.app.serve import free_port

    port = free_port()
    exe = str(Path(sys.executable).with_name("atomsieve"))
    argv = [exe, "dashboard", *([path] if path else []), "--port", str(port), "--no-show"]
    proc = subprocess.Popen(argv, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL, env=env)
    return port, proc


def launch_chromium(playwright):
    """Debian's headless Chromium (Playwright cannot download a browser here)."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def open_dashboard_page(browser, port: int):
    """A fresh 1500×1000 context and page on the dashboard at ``port``, retried while it starts."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(300_000)
    for _ in range(120):
        try:
            page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
            break
        except Exception:  # noqa: BLE001 - the server is still starting
            time.sleep(1)
    return context, page


def browser_level(presses: int, settle: float, pages: int = 1) -> dict:
    """``pages`` fresh browser pages on one server, ``presses`` timed arrow-key presses on each."""
    from playwright.sync_api import sync_playwright

    port, proc = start_dashboard()
    out = {"release_to_text_s": [], "first_press_s": [], "per_page_s": []}
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for _page in range(pages):
                context, page = open_dashboard_page(browser, port)
                page.locator(".selection-note", has_text="LE-bank fit").wait_for()
                first = page.locator(".selection-note").first.evaluate(
                    "el => (el.shadowRoot || el).textContent")
                out["first_selection_shown"] = first.strip()[-120:]
                page.wait_for_timeout(settle * 1000)  # optionally let the start-up studies finish
                handle = page.locator(".threshold-Ge .noUi-handle").first
                note = page.locator(".selection-note").first
                times = []
                for i in range(presses):
                    page.wait_for_timeout(4000)  # idle: the app prefetches the neighbouring positions
                    before = note.evaluate("el => (el.shadowRoot || el).textContent")
                    handle.focus()
                    start = time.perf_counter()
                    handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                    page.wait_for_function(
                        "([el, old]) => (el.shadowRoot || el).textContent !== old",
                        arg=[note.element_handle(), before], polling=20)
                    times.append(time.perf_counter() - start)
                context.close()
                out["per_page_s"].append(times)
                out["first_press_s"].append(times[0])
                out["release_to_text_s"].extend(times)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    out["summary"] = percentiles(out["release_to_text_s"])
    return out


def memory_of(pid: int) -> dict:
    """Resident and peak resident memory (GiB) of process ``pid`` from /proc (VmRSS, VmHWM)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 2**20
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def press_to_new_counts(page, note, handle, i: int, wait_s: float) -> float:
    """After 4 s idle, press the threshold handle (right on even ``i``, left on odd) and wait until the
    selection note changes; returns the time of the press (``time.perf_counter``)."""
    page.wait_for_timeout(4000)
    before = note.evaluate("el => (el.shadowRoot || el).textContent")
    handle.focus()
    t = time.perf_counter()
    handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
    page.wait_for_function("([el, old]) => (el.shadowRoot || el).textContent !== old",
                           arg=[note.element_handle(), before], polling=20, timeout=wait_s * 1000)
    return t


def rmse_presses(page, note, handle, start: float, presses: int, wait_s: float) -> dict:
    """Once the model input is ready: seconds until the first RMSE and the "at this size" line, then
    slider presses from release to the RMSE text of the new threshold (a new position each press)."""
    text = page.locator(".model-error-text").first
    page.locator(".model-error-text", has_text="force RMSE").wait_for(timeout=wait_s * 1000)
    out: dict = {"first_rmse_s": time.perf_counter() - start}
    page.locator(".model-error-at-size", has_text="FPS").wait_for(timeout=wait_s * 1000)
    out["first_at_size_s"] = time.perf_counter() - start
    out["at_size_line"] = page.locator(".model-error-at-size").first.evaluate(
        "el => (el.shadowRoot || el).textContent").rsplit("}", 1)[-1].strip()[:400]
    print(f"{time.perf_counter() - start:7.1f} s  first RMSE and at-size line", file=sys.stderr, flush=True)
    times, texts = [], []
    for i in range(presses):
        t = press_to_new_counts(page, note, handle, i, wait_s)
        page.wait_for_function(
            "el => { const t = (el.shadowRoot || el).textContent;"
            " return t.includes('force RMSE') && !t.includes('training…'); }",
            arg=text.element_handle(), polling=20, timeout=wait_s * 1000)
        times.append(time.perf_counter() - t)
        shown = text.evaluate("el => (el.shadowRoot || el).textContent")
        texts.append(shown.rsplit("}", 1)[-1].strip()[:200])  # after the shadow root's styles
        print(f"  RMSE press {i + 1}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    out["rmse_presses_s"], out["rmse_texts"] = times, texts
    out["rmse_presses"] = percentiles(times or [0.0])
    return out


def scale_level(path: str, presses: int, shots: Path | None = None, timeout_s: float = 1800,
                model_error_wait: float = 1800, rmse_presses_n: int = 0) -> dict:
    """The dashboard on a large file from a cold cache (issue 18): ``atomsieve dashboard PATH`` with an
    empty ``$ATOMSIEVE_CACHE_DIR``; seconds until the server answers, until the first selection is on
    the page (usable), slider presses (release to new counts), the model-error panel's state, the
    environment map (screenshot into ``shots``), and the server's resident memory (VmHWM: the peak)."""
    import os
    import tempfile
    import threading

    from playwright.sync_api import sync_playwright

    cache = tempfile.mkdtemp(prefix="atomsieve-bench-cache-")
    env = {**os.environ, "ATOMSIEVE_CACHE_DIR": cache}
    log = open(Path(cache) / "server.log", "w")
    start = time.perf_counter()
    port, proc = start_dashboard(path, env, log)
    out: dict = {"path": path, "load_start": os.getloadavg()[0], "rss_samples": []}
    done = threading.Event()

    def sample():
        while not done.wait(2.0):
            try:
                m = memory_of(proc.pid)
            except OSError:
                return
            out["rss_samples"].append((round(time.perf_counter() - start, 1), round(m["VmRSS"], 3)))

    threading.Thread(target=sample, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(timeout_s * 1000)
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=30_000)
                    break
                except Exception:  # noqa: BLE001 - still reading the file
                    if proc.poll() is not None:
                        raise RuntimeError(f"dashboard exited: {proc.returncode}") from None
                    time.sleep(1)
            out["page_s"] = time.perf_counter() - start
            out["page_cpu_s"] = cpu_seconds(proc.pid)
            print(f"{time.perf_counter() - start:7.1f} s  page", file=sys.stderr, flush=True)
            note = page.locator(".selection-note").first
            page.locator(".selection-note", has_text="LE-bank fit").wait_for()
            out["usable_s"] = time.perf_counter() - start
            out["usable_cpu_s"] = cpu_seconds(proc.pid)
            print(f"{time.perf_counter() - start:7.1f} s  usable", file=sys.stderr, flush=True)
            out["first_selection"] = note.evaluate("el => (el.shadowRoot || el).textContent").strip()[-160:]
            if shots:
                page.screenshot(path=str(shots / "usable.png"))
            handle = page.locator(".threshold-Ge .noUi-handle").first
            times = []
            for i in range(presses):
                t = press_to_new_counts(page, note, handle, i, 300)
                times.append(time.perf_counter() - t)
                print(f"  press {i + 1}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
            out["presses_s"] = times
            status = page.locator(".model-error-status").first
            try:  # the model input streams in after the page is usable: wait at most model_error_wait
                page.wait_for_function(
                    "el => /model, prediction set|off for this|failed/"
                    ".test((el.shadowRoot || el).textContent)",
                    arg=status.element_handle(), polling=500, timeout=model_error_wait * 1000)
            except Exception:  # noqa: BLE001 - still preparing: recorded as such
                out["model_error_pending"] = True
            out["model_error_s"] = time.perf_counter() - start
            out["model_error_cpu_s"] = cpu_seconds(proc.pid)
            print(f"{time.perf_counter() - start:7.1f} s  model_error", file=sys.stderr, flush=True)
            out["model_error_status"] = status.evaluate("el => (el.shadowRoot || el).textContent").strip()
            if not out.get("model_error_pending") and "prediction set" in out["model_error_status"]:
                out.update(rmse_presses(page, note, handle, start, rmse_presses_n, model_error_wait))
                out["rmse_cpu_s"] = cpu_seconds(proc.pid)
            page.locator(".bk-tab", has_text="Environment map").click()
            page.get_by_text(re.compile(r"atoms \(a density image\)|atoms \(one point each\)")).wait_for()
            page.wait_for_timeout(3000)
            out["map_s"] = time.perf_counter() - start
            out["map_cpu_s"] = cpu_seconds(proc.pid)
            print(f"{time.perf_counter() - start:7.1f} s  map", file=sys.stderr, flush=True)
            out["map_caption"] = page.get_by_text(re.compile(r"bank environments")).first.text_content()
            if shots:
                page.screenshot(path=str(shots / "environment_map.png"))
            out.update(memory_of(proc.pid))
            out["load_end"] = os.getloadavg()[0]
            browser.close()
    except Exception as exc:  # noqa: BLE001 - keep what was measured up to here
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        try:
            out.update(memory_of(proc.pid))
            out["cpu_at_error_s"] = cpu_seconds(proc.pid)
        except OSError:
            pass
    finally:
        done.set()
        proc.terminate()
        proc.wait(60)
        log.close()
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
    out["presses"] = percentiles(out.get("presses_s") or [0.0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--presses", type=int, default=10)
    parser.add_argument("--pages", type=int, default=1,
                        help="fresh browser pages (sessions) in turn; the first press of each is reported")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after the first selection before the first press")
    parser.add_argument("--skip-state", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--path", default=None,
                        help="a large structure file: the cold-start scale run (issue 18) instead")
    parser.add_argument("--shots", type=Path, default=None, help="folder for the scale run's screenshots")
    parser.add_argument("--model-error-wait", type=float, default=1800,
                        help="scale run: seconds to wait for the model-error panel after the presses")
    parser.add_argument("--rmse-presses", type=int, default=0,
                        help="scale run: slider presses timed to the new RMSE once the model error is live")
    args = parser.parse_args()
    result = {}
    if args.path:
        result["scale"] = r = scale_level(args.path, args.presses, args.shots,
                                          model_error_wait=args.model_error_wait,
                                          rmse_presses_n=args.rmse_presses)
        samples = r.pop("rss_samples")
        print(json.dumps(r, indent=1))
        print("rss samples (s, GiB):", samples[::5])
        r["rss_samples"] = samples
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return
    if not args.skip_state:
        result["state"] = state_level(args.steps, args.seed)
        print(f"cold state update / bare LEBank fit + histograms, median of pairs: "
              f"{result['state']['cold_over_peer_median_ratio']:.2f}")
        for k in ("cold", "neighbour", "peer_lebank_fit"):
            r = result["state"][k]
            print(f"state {k:16s} n={r['n']:3d} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  "
                  f"max {r['max_ms']:8.1f} ms")
    if args.browser:
        result["browser"] = browser_level(args.presses, args.settle, args.pages)
        r = result["browser"]["summary"]
        print(f"browser release->text n={r['n']} p50 {r['p50_ms']:.0f} ms p95 {r['p95_ms']:.0f} ms "
              f"max {r['max_ms']:.0f} ms")
        for i, times in enumerate(result["browser"]["per_page_s"]):
            print(f"  page {i + 1}: first press {1000 * times[0]:.0f} ms; each: "
                  + " ".join(f"{1000 * x:.0f}" for x in times))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
