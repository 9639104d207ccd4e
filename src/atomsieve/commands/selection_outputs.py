"""What ``atomsieve select`` writes besides the structures' coordinates: fitting-code label names,
isolated-atom reference frames, and the selection record (``--indices-out``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from atomsieve.errors import ParameterError


def add_selection_outputs(p: argparse.ArgumentParser) -> None:
    """``--label-prefix``, ``--isolated-atom-energies`` and ``--indices-out``."""
    p.add_argument(
        "--label-prefix", metavar="PREFIX", default=None,
        help="write labels as fitting codes read them: info[PREFIX+'energy'], arrays[PREFIX+'forces'], "
        "info[PREFIX+'stress'] when present (MACE: REF_); config_type and other keys are kept",
    )
    p.add_argument(
        "--isolated-atom-energies", nargs="+", metavar="EL=E", default=None,
        help="append one single-atom frame per element with this energy in eV and "
        "config_type=IsolatedAtom (MACE takes E0 from them), e.g. Ge=-0.1234",
    )
    p.add_argument(
        "--indices-out", metavar="SEL.json", default=None,
        help="also write the selected indices with the method, its parameters, counts and the "
        "descriptor parameters (JSON), to reproduce or apply the selection elsewhere",
    )


def parse_element_energies(items: list[str] | None) -> dict[str, float] | None:
    """``["Ge=-0.1234", "H=-13.6"]`` -> ``{"Ge": -0.1234, "H": -13.6}`` (eV).

    >>> parse_element_energies(["Ge=-0.1234"])
    {'Ge': -0.1234}
    """
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        symbol, sep, value = item.partition("=")
        if not sep or not symbol.strip():
            raise ParameterError(
                f"--isolated-atom-energies {item!r}: expected ELEMENT=ENERGY in eV, e.g. Ge=-0.1234"
            )
        try:
            energy = float(value)
        except ValueError:
            raise ParameterError(f"--isolated-atom-energies {item!r}: {value!r} is not a number") from None
        if not math.isfinite(energy):
            raise ParameterError(f"--isolated-atom-energies {item!r}: the energy must be finite")
        out[symbol.strip()] = energy
    return out


def check_selection_outputs(args, elements: list[str] | None = None) -> dict[str, float] | None:
    """Fail before the work: prefix, energies (one per element of ``elements`` when given), paths."""
    from atomsieve.commands import check_output
    from atomsieve.data.fitting_labels import check_prefix, isolated_atoms

    if args.label_prefix is not None:
        check_prefix(args.label_prefix)
        if Path(args.output).suffix.lower() == ".traj":
            raise ParameterError(f"--label-prefix: {args.output} is .traj, which drops per-atom arrays; "
                                 "write .extxyz or .db")
    energies = parse_element_energies(args.isolated_atom_energies)
    if energies:
        isolated_atoms(energies, args.label_prefix)  # unknown elements, before the work
        if elements is not None:
            missing = sorted(set(elements) - set(energies))
            if missing:
                raise ParameterError(f"--isolated-atom-energies: no energy for {', '.join(missing)} "
                                     f"(the file holds {', '.join(elements)})")
    if args.indices_out:
        check_output(args.indices_out, args.overwrite, (".json",))
    return energies


def write_selection_outputs(args, ds, sel, feats, output: Path, **context) -> None:
    """Write the selected structures (with ``--label-prefix``/``--isolated-atom-energies``) and the
    ``--indices-out`` record; print what was written."""
    from atomsieve.data import save
    from atomsieve.selectors.record import selection_record, write_selection_record

    energies = check_selection_outputs(args, ds.elements)
    if len(sel.selected_):
        save(ds.subset(sel.selected_), output, overwrite=args.overwrite, label_prefix=args.label_prefix,
             isolated_atom_energies=energies)
        extra = f" (+{len(energies)} isolated-atom frames)" if energies else ""
        print(f"written:     {output}{extra}")
    else:
        print(f"written:     nothing; no structure is new against the bank, {output} not created")
    if args.indices_out:
        record = selection_record(sel, feats, ds, query=getattr(args, "query", None), **context)
        write_selection_record(record, args.indices_out, overwrite=args.overwrite)
        print(f"indices:     {args.indices_out}")
