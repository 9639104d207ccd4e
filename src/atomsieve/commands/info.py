"""``atomsieve info PATH``: what a structure file holds."""

from __future__ import annotations

from atomsieve.commands import add_label_keys, add_query, load_dataset


def register(sub) -> None:
    p = sub.add_parser("info", help="structures, atoms, elements and label keys of a file")
    p.add_argument("path", help="structure file (extxyz, .db, .json, .traj, ...)")
    add_label_keys(p)
    add_query(p)
    p.set_defaults(run=run)


def run(args) -> int:
    ds = load_dataset(args)
    s = ds.summary()
    print(f"file:        {s['source']}")
    print(f"structures:  {s['structures']}")
    print(f"atoms:       {s['atoms']}")
    print(f"elements:    {' '.join(s['elements'])}")
    for element, count in s["atoms_per_element"].items():
        print(f"  {element:<3} {count} atoms")
    print(f"energy key:  {s['energy_key'] or 'none found'} (eV)")
    print(f"forces key:  {s['forces_key'] or 'none found'} (eV/Å)")
    return 0
