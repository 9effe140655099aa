"""A user's structure file (``target.structure_file``): checked when the config is loaded, read when the run starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ase import Atoms

__all__ = ('check_structure_file', 'read_structure_file')


def check_structure_file(
    path: Path, elements: list[str], min_distance: float = 0.5, composition: Mapping[str, float] | None = None
) -> list[str]:
    """Problems with a user structure file: unreadable, empty, wrong elements, overlapping atoms.

    :param composition: when given and the file holds several species, each species' count
        must be the whole number of atoms closest to its fraction.
    """
    if not path.is_file():
        return [f'file {str(path)!r} not found']
    if path.stat().st_size == 0:
        return [f'file {str(path)!r} is empty']
    try:
        from ase.io import read

        atoms = read(str(path))
    except Exception as exc:
        return [f'ASE cannot read {str(path)!r}: {type(exc).__name__}: {exc}'.strip()]
    if isinstance(atoms, list):
        atoms = atoms[0] if atoms else None
    if atoms is None or len(atoms) == 0:
        return [f'file {str(path)!r} holds no atoms']
    import numpy as np

    problems = []
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(elements))
    if unknown:
        problems.append(f'contains {unknown}, which are not in target.elements {elements}')
    present = sorted(set(symbols))
    if composition and len(present) > 1 and not unknown:
        found = {e: symbols.count(e) / len(symbols) for e in present}
        off = {e for e in present if abs(symbols.count(e) - composition.get(e, 0.0) * len(symbols)) > 0.5 + 1e-9}
        missing = sorted(e for e in composition if e not in found)
        if off or missing:
            shown = ', '.join(f'{e} {f:.3g}' for e, f in found.items())
            problems.append(
                f'holds {shown}, which does not match target.composition {dict(composition)}; '
                'fix one of them (or leave composition out to use the file as it is)'
            )
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell.array).all()):
        problems.append('positions or cell contain NaN or infinity')
    elif not all(atoms.pbc) or atoms.cell.rank < 3:
        problems.append('the structure must be a 3D periodic crystal with a full cell')
    elif abs(atoms.cell.volume) < 1e-3:
        problems.append(f'the cell vectors are linearly dependent (volume {atoms.cell.volume:.3g} Å³)')
    else:
        from aiida_mlip_autopipe.common.geometry import closest_pair

        closest = closest_pair(atoms, min_distance)
        if closest is not None:
            i, j, d = closest
            pair = f'atom {i} and its periodic image' if i == j else f'atoms {i} and {j}'
            problems.append(f'{pair} are {d:.3f} Å apart (< {min_distance} Å): overlapping atoms')
    return problems


def read_structure_file(path: str | Path) -> Atoms:
    """The first structure in a file ASE can read, checked to be a 3D periodic crystal."""
    from ase.io import read

    atoms = read(str(path))
    if isinstance(atoms, list):
        atoms = atoms[0]
    if len(atoms) == 0:
        raise ValueError(f'{path} holds no atoms')
    if atoms.cell.rank < 3:
        raise ValueError(f'{path}: the structure needs a full 3D cell')
    atoms.pbc = True
    atoms.calc = None
    return atoms
