"""The run directory of nearsighted force training: settings, labels, per-iteration logs, checkpoints.

Layout (every file written atomically, so an interrupted run leaves only whole files)::

    run/
      config.json             the settings; a resumed run must use the same ones
      target.extxyz           the target structure
      initial.extxyz          the labelled initial training cells
      chunks.extxyz           every labelled chunk, info["iteration"] saying when it was bought
      iterations/0003.json    one JSON record per finished iteration (see NFTLoop)
      iterations/0003.npz     per-atom uncertainty δ_i and predicted forces of the target
      checkpoints/0003/       the ensemble trained in that iteration
      best.json               which iteration is best so far

An iteration counts as finished when its JSON record exists; chunks bought by an iteration whose
record is missing (the run died in between) are dropped on resume and bought again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from atomsieve.data import atomic_path
from atomsieve.errors import DataError, ParameterError
from atomsieve.jsonable import jsonable


class RunDirectory:
    """Reads and writes one nearsighted-force-training run directory.

    Examples
    --------
    >>> import tempfile
    >>> run = RunDirectory(tempfile.mkdtemp())
    >>> run.write_iteration({"iteration": 0, "structure_uncertainty": 0.5})
    >>> [r["structure_uncertainty"] for r in run.iterations()]
    [0.5]
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- plumbing -------------------------------------------------------------------------------
    def create(self) -> RunDirectory:
        """Make the folders (the parent folder must exist)."""
        if self.path.exists() and not self.path.is_dir():
            raise DataError(f"{self.path}: exists and is not a directory; choose another --run-dir")
        if not self.path.parent.exists():
            raise DataError(f"{self.path}: parent folder {self.path.parent} does not exist")
        for sub in ("", "iterations", "checkpoints"):
            (self.path / sub).mkdir(exist_ok=True)
        return self

    def _write_json(self, name: str, data: dict) -> None:
        with atomic_path(self.path / name, overwrite=True) as tmp:
            tmp.write_text(json.dumps(jsonable(data, finite=True), indent=1))

    def _read_json(self, path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot be read as a run-directory JSON file: {exc}") from None

    def _write_frames(self, name: str, frames: list[Atoms]) -> None:
        with atomic_path(self.path / name, overwrite=True) as tmp:
            write(str(tmp), frames, format="extxyz")

    def _read_frames(self, name: str) -> list[Atoms]:
        path = self.path / name
        if not path.exists() or path.stat().st_size == 0:
            return []
        try:
            frames = read(str(path), index=":", format="extxyz")
        except Exception as exc:  # noqa: BLE001 - ASE raises many types for a broken file
            raise DataError(f"{path}: cannot be read as extxyz: {exc}") from None
        return frames if isinstance(frames, list) else [frames]

    # -- settings -------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the folder already holds a run (a ``config.json``)."""
        return (self.path / "config.json").exists()

    def read_config(self) -> dict:
        return self._read_json(self.path / "config.json")

    def write_config(self, config: dict) -> None:
        self._write_json("config.json", config)

    def check_config(self, config: dict, ignore: tuple[str, ...] = ()) -> None:
        """Refuse to resume a run made with different settings (names every differing one)."""
        old = self.read_config()
        new = jsonable(config, finite=True)
        keys = (set(old) | set(new)) - set(ignore)
        diff = sorted(k for k in keys if old.get(k) != new.get(k))
        if diff:
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:6])
            raise ParameterError(
                f"{self.path} holds a run with other settings ({shown}); use another --run-dir "
                "or the same settings to resume"
            )

    # -- structures -----------------------------------------------------------------------------
    def write_target(self, atoms: Atoms) -> None:
        self._write_frames("target.extxyz", [atoms])

    def read_target(self) -> Atoms | None:
        frames = self._read_frames("target.extxyz")
        return frames[0] if frames else None

    def write_initial(self, frames: list[Atoms]) -> None:
        self._write_frames("initial.extxyz", frames)

    def read_initial(self) -> list[Atoms]:
        return self._read_frames("initial.extxyz")

    def write_chunks(self, frames: list[Atoms]) -> None:
        self._write_frames("chunks.extxyz", frames)

    def read_chunks(self) -> list[Atoms]:
        """Labelled chunks of finished iterations (orphans of an unfinished one are dropped)."""
        done = {r["iteration"] for r in self.iterations()}
        return [c for c in self._read_frames("chunks.extxyz") if int(c.info.get("iteration", -1)) in done]

    # -- iterations -----------------------------------------------------------------------------
    def write_iteration(self, record: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
        """The JSON record of a finished iteration (and its per-atom arrays, written first)."""
        it = int(record["iteration"])
        self.create()
        if arrays:
            with atomic_path(self.path / "iterations" / f"{it:04d}.npz", overwrite=True) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
        self._write_json(f"iterations/{it:04d}.json", record)

    def drop_iteration(self, iteration: int) -> None:
        """Forget a finished iteration (its record and arrays), so it can be run again."""
        for suffix in (".json", ".npz"):
            (self.path / "iterations" / f"{int(iteration):04d}{suffix}").unlink(missing_ok=True)

    def iterations(self) -> list[dict]:
        """Every finished iteration's record, in order."""
        folder = self.path / "iterations"
        if not folder.exists():
            return []
        return [self._read_json(p) for p in sorted(folder.glob("[0-9][0-9][0-9][0-9].json"))]

    def iteration_arrays(self, iteration: int) -> dict[str, np.ndarray]:
        """The per-atom arrays saved with ``iteration`` (empty when there are none)."""
        path = self.path / "iterations" / f"{int(iteration):04d}.npz"
        if not path.exists():
            return {}
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def checkpoint_path(self, iteration: int) -> Path:
        return self.path / "checkpoints" / f"{int(iteration):04d}"

    def write_best(self, info: dict) -> None:
        self._write_json("best.json", info)

    def read_best(self) -> dict | None:
        path = self.path / "best.json"
        return self._read_json(path) if path.exists() else None
