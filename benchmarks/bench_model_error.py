"""Live model error: slider move -> counts, histogram, RMSE cards and marker; and the "at this size" line.

State level (no browser): on the embedded germanium set (228 structures, 14,072 atoms; prediction
set: the embedded test split, 25 structures) a ``SelectionState`` and a ``ModelErrorState`` (linear
model, synchronous) are moved through seeded random slider positions. Each move is timed from
setting the threshold to:

- ``cards``: the selection's counts, the histogram data, and the RMSE cards (the marker is the same
  row) -- a linear model trained on the selection and scored on the prediction set;
- ``at_size``: also every compared method (FPS, CUR, random, energy- and force-uniform) selecting
  the same number of structures (or, with ``--unit atoms``, about the same number of atoms), each
  trained and scored (in the served app this streams in after the cards).

Two cases: ``cold`` (a slider position never fitted: LE-bank fit included) and ``prefetched`` (the
position is in the outcome cache, as after the served app's start-up precomputation). The peer is
the bare work the cards wrap: ``LinearModel().fit(prepared, structures=...)`` and ``score`` on
the prepared test set, on the same selections (interleaved A/B pairs).

Browser level (``--browser``): ``atomsieve dashboard`` in a subprocess, headless Chromium; one
ArrowRight/ArrowLeft on the threshold handle, then the time until the RMSE text on the page shows
new numbers (and no "training…").

    .venv/bin/python benchmarks/bench_model_error.py [--moves 40] [--unit structures|atoms] [--path F]
        [--browser [--presses 10]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_dashboard import (  # noqa: E402
    launch_chromium,
    open_dashboard_page,
    percentiles,
    start_dashboard,
)


def state_level(moves: int, seed: int, unit: str, path: Path | None = None) -> dict:
    from atomsieve.app import model_error_state
    from atomsieve.app.features_state import FeaturesState
    from atomsieve.app.model_error_state import ROWS, ModelErrorState
    from atomsieve.app.selection_state import OUTCOMES, THRESHOLD_STEP, SelectionState
    from atomsieve.app.state import DatasetState
    from atomsieve.datasets import load_default
    from atomsieve.potentials.linear import LinearModel
    from atomsieve.selectors.structure_points import one_blas_thread

    fs = FeaturesState(data=DatasetState.from_path(path))
    fs.compute_now()
    sel = SelectionState(features_state=fs, synchronous=True, prefetch=False)
    start = time.perf_counter()
    # the embedded set is scored on its test split; another file on the whole pool (as the app does)
    test = load_default("test") if path is None else None
    errors = ModelErrorState(selection=sel, synchronous=True, size_unit=unit, test=test)
    errors.prepare_now()
    prepare_s = time.perf_counter() - start
    ctx = errors.context
    stamps = {}
    errors.param.watch(lambda *_e: stamps.__setitem__("current", time.perf_counter()), ["current"])
    rng = random.Random(seed)
    grid = np.round(np.arange(0.15, 0.80 + 1e-9, THRESHOLD_STEP), 6)
    positions = [float(grid[rng.randrange(len(grid))]) for _ in range(moves)]

    def move(t: float) -> tuple[float, float]:
        begin = time.perf_counter()
        sel.thresholds = {"Ge": t}  # selection, then (watchers) cards, then every method at this size
        done = time.perf_counter()
        hist_begin = time.perf_counter()
        sel.histogram()
        hist = time.perf_counter() - hist_begin
        assert errors.current_is_fresh and len(errors.at_size) == 1 + len(errors.methods)
        return stamps["current"] - begin + hist, done - begin + hist

    def bare(selected) -> None:
        LinearModel().fit(ctx.prepared, structures=selected).score(
            ctx.test if ctx.test is not None else ctx.prepared)

    def peer(selected, threads_one: bool) -> float:
        begin = time.perf_counter()
        (one_blas_thread(bare) if threads_one else bare)(selected)
        return time.perf_counter() - begin

    out = {"cold": {"cards": [], "at_size": []}, "prefetched": {"cards": [], "at_size": []}, "peer": [],
           "peer_default_threads": [], "at_size_orderings_ab": []}
    prefix = model_error_state.PREFIX_METHODS
    for t in positions:
        OUTCOMES.clear()
        ROWS.clear()
        sel.thresholds = {"Ge": 0.9}  # somewhere else, untimed
        ROWS.clear()
        cards, full = move(t)
        out["cold"]["cards"].append(cards)
        out["cold"]["at_size"].append(full)
        out["peer"].append(peer(sel.outcome.selected, True))
        out["peer_default_threads"].append(peer(sel.outcome.selected, False))
        sel.thresholds = {"Ge": round(t + THRESHOLD_STEP, 6)}  # fits t + step into the cache, untimed
        sel.thresholds = {"Ge": 0.9}
        ROWS.clear()
        cards, full = move(round(t + THRESHOLD_STEP, 6))
        out["prefetched"]["cards"].append(cards)
        out["prefetched"]["at_size"].append(full)
        # A/B: the same prefetched move with FPS and CUR selecting again instead of slicing their
        # greedy orderings (the order of the pair alternates).
        pair = []
        for reuse in ((True, False) if len(out["prefetched"]["cards"]) % 2 else (False, True)):
            model_error_state.PREFIX_METHODS = prefix if reuse else ()
            sel.thresholds = {"Ge": 0.9}
            ROWS.clear()
            pair.append((reuse, move(round(t + THRESHOLD_STEP, 6))[1]))
        model_error_state.PREFIX_METHODS = prefix
        out["at_size_orderings_ab"].append(dict(pair))
    result = {"prepare_s": prepare_s, "unit": unit, "thresholds": positions}
    for case in ("cold", "prefetched"):
        result[case] = {k: percentiles(v) for k, v in out[case].items()}
    result["peer_linear_fit_and_score"] = percentiles(out["peer"])
    result["peer_default_blas_threads"] = percentiles(out["peer_default_threads"])
    ab = out["at_size_orderings_ab"]
    result["at_size_sliced_orderings"] = percentiles([x[True] for x in ab])
    result["at_size_selecting_again"] = percentiles([x[False] for x in ab])
    result["selecting_again_over_sliced_median"] = float(np.median([x[False] / x[True] for x in ab]))
    return result


def browser_level(presses: int) -> dict:
    from playwright.sync_api import sync_playwright

    from atomsieve.app.selection_state import DEFAULT_THRESHOLD, THRESHOLD_STEP

    port, proc = start_dashboard()
    out: dict = {"press_to_rmse_text_s": []}
    pattern = re.compile(r"force RMSE [\d.]+ meV/Å, energy RMSE [\d.]+ meV/atom")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            context, page = open_dashboard_page(browser, port)
            load = time.perf_counter()
            page.locator(".model-error-at-size", has_text="FPS").wait_for()
            out["load_to_first_rmse_s"] = time.perf_counter() - load
            handle = page.locator(".threshold-Ge .noUi-handle").first
            text = page.locator(".model-error-text").first
            note = page.locator(".selection-note").first
            threshold = DEFAULT_THRESHOLD
            for _ in range(presses):
                page.wait_for_timeout(4000)  # idle: prefetch and curve filling run meanwhile
                threshold = round(threshold + THRESHOLD_STEP, 6)  # a new position every press
                handle.focus()
                start = time.perf_counter()
                handle.press("ArrowRight")
                page.wait_for_function("([n, label]) => (n.shadowRoot || n).textContent.includes(label)",
                                       arg=[note.element_handle(), f"Ge {threshold:.3f}"], polling=20)
                out.setdefault("press_to_count_note_s", []).append(time.perf_counter() - start)
                # Fresh when the note names the new threshold and the RMSE text no longer says
                # "training…" (both change in the same update; the RMSE may equal the previous one
                # when one step selects the same structures).
                page.wait_for_function(
                    """([note, text, label]) => {
                        const n = (note.shadowRoot || note).textContent;
                        const t = (text.shadowRoot || text).textContent;
                        return n.includes(label) && t.includes('force RMSE')
                            && !t.includes('training…'); }""",
                    arg=[note.element_handle(), text.element_handle(), f"Ge {threshold:.3f}"], polling=20)
                out["press_to_rmse_text_s"].append(time.perf_counter() - start)
                out.setdefault("rmse_text", []).append(pattern.search(
                    text.evaluate("el => (el.shadowRoot || el).textContent"))[0])
            context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    out["summary"] = percentiles(out["press_to_rmse_text_s"])
    out["count_note_summary"] = percentiles(out["press_to_count_note_s"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--path", type=Path, default=None,
                        help="a germanium file instead of the embedded set; prediction set: the whole pool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unit", choices=["structures", "atoms"], default="structures")
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--presses", type=int, default=10)
    parser.add_argument("--skip-state", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {}
    if not args.skip_state:
        r = result["state"] = state_level(args.moves, args.seed, args.unit, args.path)
        print(f"model input prepared in {r['prepare_s']:.1f} s (size unit: {args.unit})")
        for case in ("cold", "prefetched"):
            for k in ("cards", "at_size"):
                q = r[case][k]
                print(f"state {case:10s} {k:8s} n={q['n']:3d} p50 {q['p50_ms']:8.1f} ms  "
                      f"p95 {q['p95_ms']:8.1f} ms  max {q['max_ms']:8.1f} ms")
        for name in ("at_size_sliced_orderings", "at_size_selecting_again"):
            q = r[name]
            print(f"A/B prefetched {name:26s} p50 {q['p50_ms']:8.1f} ms  p95 {q['p95_ms']:8.1f} ms")
        print(f"selecting again / slicing, median of pairs: {r['selecting_again_over_sliced_median']:.2f}")
        for name, k in (("one BLAS thread", "peer_linear_fit_and_score"),
                        ("default BLAS threads", "peer_default_blas_threads")):
            q = r[k]
            print(f"peer: bare linear fit + score, {name:20s} p50 {q['p50_ms']:8.1f} ms  "
                  f"p95 {q['p95_ms']:8.1f} ms")
    if args.browser:
        r = result["browser"] = browser_level(args.presses)
        q = r["summary"]
        print(f"browser: page load -> first RMSE line {r['load_to_first_rmse_s']:.1f} s; "
              f"press -> new RMSE text n={q['n']} p50 {q['p50_ms']:.0f} ms p95 {q['p95_ms']:.0f} ms "
              f"max {q['max_ms']:.0f} ms")
        q = r["count_note_summary"]
        print(f"browser: press -> count note (same presses) p50 {q['p50_ms']:.0f} ms "
              f"p95 {q['p95_ms']:.0f} ms max {q['max_ms']:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
