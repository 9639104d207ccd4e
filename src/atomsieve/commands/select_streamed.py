"""``atomsieve select`` on a large file: LE-bank over the on-disk feature store, the selection written
while the file is read again in partitions (see :mod:`atomsieve.commands.streamed`).

Same selection as the in-memory path (:func:`atomsieve.selectors.streaming.lebank_stream` screens the
store in dataset order against the bank left by the previous chunks), same printed summary, same file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from atomsieve.commands.streamed import refuse_in_stream, should_stream

#: Methods other than LE-bank that see only each structure's mean fingerprint (and hfps its size),
#: so they run on n_structures rows computed from the store (the others need labels in memory).
STRUCTURE_METHODS = ("fps", "hfps", "cur", "cluster", "random")


def wants_stream(args) -> bool:
    """Whether ``select`` streams ``args.path``: large or ``--store``/``--scheduler``, and no option
    that needs the whole file in memory."""
    if args.path is None or not should_stream(args, args.path):
        return False
    return refuse_in_stream(
        args, args.path,
        **{"--budget": args.budget, "--shuffle": args.shuffle, "--features": args.features,
           "--query": getattr(args, "query", None), "--indices-out": getattr(args, "indices_out", None),
           f"--method {args.method}": args.method not in ("lebank", *STRUCTURE_METHODS)},
    )


def run_streamed_method(args, output: Path) -> int:
    """``--method fps|hfps|cur|cluster|random --n N`` on the structures' mean fingerprints from the store."""
    from atomsieve.commands.options import count_or_fraction
    from atomsieve.commands.selection_outputs import check_selection_outputs
    from atomsieve.commands.streamed import descriptor_for, feature_store
    from atomsieve.data.io import atomic_group
    from atomsieve.data.stream import scan_elements, write_selected
    from atomsieve.errors import ParameterError
    from atomsieve.progress import progress_bar
    from atomsieve.selectors.registry import make_selector

    for flag, value in (("--threshold", args.threshold), ("--budget", args.budget),
                        ("--bank-in", args.bank_in), ("--bank-out", args.bank_out)):
        if value:
            raise ParameterError(f"{flag} applies to --method lebank only; --method {args.method} takes --n")
    if args.n is None:
        raise ParameterError(f"--method {args.method} needs --n (a count, or a fraction like 0.2)")
    n = count_or_fraction(args.n)
    elements = scan_elements(args.path)
    energies = check_selection_outputs(args, elements)
    with feature_store(args, args.path, descriptor_for(args, elements)) as store:
        means = store.structure_means()
        counts = store.atom_counts()
    sizes = {"atom_counts": counts} if args.method == "hfps" else {}  # its first level: structure sizes
    sel = make_selector(args.method, n, seed=args.seed).fit(means, **sizes)
    print(f"method:      {args.method}")
    print(f"selected:    {len(sel.selected_)} of {len(counts)} structures, "
          f"{int(counts[sel.selected_].sum())} of {int(counts.sum())} atoms")
    print(f"time:        {sel.seconds_:.3f} s (selection only)")
    with atomic_group(), progress_bar("writing", enabled=args.progress) as bar:
        write_selected(args.path, sel.selected_, output, overwrite=args.overwrite, energy_key=args.energy_key,
                       forces_key=args.forces_key, partition_size=args.partition,
                       label_prefix=args.label_prefix, isolated_atom_energies=energies, progress=bar)
    extra = f" (+{len(energies)} isolated-atom frames)" if energies else ""
    print(f"written:     {output}{extra}")
    return 0


def run_streamed(args, thresholds, bank, output: Path) -> int:
    """Select with ``thresholds`` (against ``bank`` when given) from the store of ``args.path``."""
    from atomsieve.commands.selection_outputs import check_selection_outputs
    from atomsieve.commands.streamed import descriptor_for, feature_store
    from atomsieve.data.io import atomic_group
    from atomsieve.data.stream import scan_elements, write_selected
    from atomsieve.progress import progress_bar
    from atomsieve.selectors.lebank import normalise_thresholds, thresholds_for
    from atomsieve.selectors.streaming import lebank_stream

    elements = scan_elements(args.path)
    chosen = thresholds_for(normalise_thresholds(thresholds), elements)  # fail before featurising
    energies = check_selection_outputs(args, elements)
    sf = descriptor_for(args, elements, bank)
    with feature_store(args, args.path, sf) as store:
        start = time.perf_counter()
        with progress_bar("selecting", enabled=args.progress) as bar:
            selected, final = lebank_stream(store, thresholds, seed=args.seed, init=args.init,
                                            device=args.device, bank=bank, progress=bar)
        seconds = time.perf_counter() - start
        counts = store.atom_counts()
    n_new = len(final) - (len(bank) if bank is not None else 0)
    print(f"thresholds:  {', '.join(f'{e}={t:.6g}' for e, t in chosen.items())}")
    print(f"selected:    {len(selected)} of {len(counts)} structures, "
          f"{int(counts[selected].sum())} of {int(counts.sum())} atoms")
    per = ", ".join(f"{e} {c}" for e, c in final.counts_per_element().items())
    print(f"bank:        {len(final)} vectors ({per}); {n_new} new")
    print(f"time:        {seconds:.3f} s (selection only)")
    with atomic_group():  # selection and bank: all or nothing
        if len(selected):
            with progress_bar("writing", enabled=args.progress) as bar:
                write_selected(args.path, selected, output, overwrite=args.overwrite,
                               energy_key=args.energy_key, forces_key=args.forces_key,
                               partition_size=args.partition, label_prefix=args.label_prefix,
                               isolated_atom_energies=energies, progress=bar)
            extra = f" (+{len(energies)} isolated-atom frames)" if energies else ""
            print(f"written:     {output}{extra}")
        else:
            print(f"written:     nothing; no structure is new against the bank, {output} not created")
        if args.bank_out:
            final.save(args.bank_out, overwrite=args.overwrite)
            print(f"bank saved:  {args.bank_out}")
    sys.stdout.flush()
    return 0
