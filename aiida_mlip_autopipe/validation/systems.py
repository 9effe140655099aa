"""Validation physics of slabs and molecules (issue 16), without AiiDA.

- **Surface energy**: ``γ = (E_slab − N_slab · ε_bulk) / (2 A)`` of the ideal, bulk-terminated
  (unrelaxed) slab of each configured surface, with ``ε_bulk`` the energy per atom of the
  oriented bulk cell that has the slab's in-plane cell (same in-plane k-points, so k-point
  errors largely cancel). Two single points per surface for DFT, which is why the unrelaxed
  value is the one compared: a relaxed slab would cost a DFT relaxation of tens of atoms; the
  potential's relaxed value is reported next to it for information. For a slab whose two faces
  differ, ``γ`` is their mean; a slab that is not stoichiometric has no surface energy without
  chemical potentials and is reported as such.
- **Molecular geometry**: the molecule relaxed with the potential (ASE's BFGS) against the
  molecule relaxed with pw.x (``calculation = 'relax'``, one PwBaseWorkChain, a few ionic steps
  for a small molecule from ASE's reference geometry), compared bond by bond (pairs bonded in
  the DFT geometry) and angle by angle (every angle at an atom with two bonds). A DFT relaxation
  is cheaper than a scan of single points (nine for the two coordinates of water, more for any
  other molecule) and works for any molecule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = (
    'EV_PER_A2_TO_J_PER_M2',
    'analyse_molecule',
    'analyse_surfaces',
    'atoms_from_record',
    'compare_geometries',
    'geometry',
    'record_of',
    'relax',
    'surface_energy',
    'validation_lines',
)

#: 1 eV/Å² in J/m².
EV_PER_A2_TO_J_PER_M2 = 16.021766


def record_of(atoms: Any) -> dict[str, Any]:
    """A JSON-compatible record of a structure (symbols, cell, Cartesian positions, pbc)."""
    return {
        'symbols': atoms.get_chemical_symbols(),
        'cell': atoms.cell.array.tolist(),
        'positions': atoms.positions.tolist(),
        'pbc': [bool(p) for p in atoms.pbc],
    }


def atoms_from_record(record: dict[str, Any]) -> Any:
    """The ASE ``Atoms`` of :func:`record_of`."""
    from ase import Atoms

    return Atoms(symbols=record['symbols'], cell=record['cell'], positions=record['positions'], pbc=record['pbc'])


def surface_energy(e_slab: float, n_slab: int, e_bulk: float, n_bulk: int, area: float) -> float:
    """Surface energy in J/m² from the slab's energy (eV, ``n_slab`` atoms) and the bulk cell's (eV, ``n_bulk``)."""
    return float((e_slab - n_slab * e_bulk / n_bulk) / (2 * area) * EV_PER_A2_TO_J_PER_M2)


def geometry(atoms: Any, bonds: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    """Bond lengths (Å) and bond angles (degrees) of a molecule; ``bonds`` default: its covalent bonds."""
    from aiida_mlip_autopipe.candidates.molecules import bonds as covalent_bonds

    pairs = [tuple(p) for p in (bonds if bonds is not None else covalent_bonds(atoms))]
    positions = atoms.positions
    lengths = [[int(i), int(j), float(np.linalg.norm(positions[j] - positions[i]))] for i, j in pairs]
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs:
        neighbours.setdefault(i, []).append(j)
        neighbours.setdefault(j, []).append(i)
    angles = []
    for centre, unsorted in sorted(neighbours.items()):
        around = sorted(unsorted)
        for a in range(len(around)):
            for b in range(a + 1, len(around)):
                u = positions[around[a]] - positions[centre]
                v = positions[around[b]] - positions[centre]
                cosine = float(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))
                degrees = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
                angles.append([around[a], centre, around[b], degrees])
    return {'bonds': lengths, 'angles': angles}


def compare_geometries(ace: Any, dft: Any) -> dict[str, Any]:
    """Bonds and angles of the potential's geometry against DFT's, on the bonds of the DFT geometry."""
    from aiida_mlip_autopipe.candidates.molecules import bonds as covalent_bonds

    pairs = covalent_bonds(dft)
    reference = geometry(dft, pairs)
    mine = geometry(ace, pairs)
    symbols = dft.get_chemical_symbols()
    bonds = [
        {'atoms': [i, j], 'species': f'{symbols[i]}-{symbols[j]}', 'ace': a, 'dft': d, 'error': a - d}
        for (i, j, d), (_, _, a) in zip(reference['bonds'], mine['bonds'], strict=True)
    ]
    angles = [
        {
            'atoms': [i, j, k],
            'species': f'{symbols[i]}-{symbols[j]}-{symbols[k]}',
            'ace': a,
            'dft': d,
            'error': a - d,
        }
        for (i, j, k, d), (_, _, _, a) in zip(reference['angles'], mine['angles'], strict=True)
    ]
    return {
        'bonds': bonds,
        'angles': angles,
        'max_bond_error': max((abs(b['error']) for b in bonds), default=0.0),
        'max_angle_error': max((abs(a['error']) for a in angles), default=0.0),
    }


def relax(atoms: Any, calculator: Any, fmax: float = 0.005, steps: int = 500) -> tuple[Any, bool, int]:
    """``atoms`` relaxed with ``calculator`` (BFGS, fixed cell): the structure, whether it converged, the steps."""
    from ase.optimize import BFGS

    relaxed = atoms.copy()
    relaxed.calc = calculator
    optimizer = BFGS(relaxed, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    return relaxed, converged, int(optimizer.get_number_of_steps())


def analyse_surfaces(meta: dict[str, Any], frames: dict[str, Any], calculator: Any) -> list[dict[str, Any]]:
    """Per target surface: the unrelaxed surface energy of the potential and of DFT (where labelled), and a verdict.

    ``meta`` is the ``cells`` record of ``validation_structures``, ``frames`` the DFT labels by
    structure label. ``passed`` is ``None`` when there is nothing to compare against (no DFT label,
    or a slab that is not stoichiometric).
    """
    tolerance = float(meta.get('surface_energy_tolerance', 0.1))
    results = []
    for record in meta['surfaces']:
        slab = atoms_from_record(record['slab_cell'])
        bulk = atoms_from_record(record['bulk_cell'])
        entry: dict[str, Any] = {
            'miller': record['miller'],
            'layers': record['layers'],
            'area': record['area'],
            'slab_atoms': len(slab),
            'stoichiometric': record['stoichiometric'],
            'tolerance': tolerance,
            'passed': None,
        }
        if not record['stoichiometric']:
            entry['note'] = 'not stoichiometric: no surface energy without chemical potentials'
            results.append(entry)
            continue
        energies = {}
        for name, atoms in (('slab', slab), ('bulk', bulk)):
            atoms.calc = calculator
            energies[name] = float(atoms.get_potential_energy())
        entry['ace'] = surface_energy(energies['slab'], len(slab), energies['bulk'], len(bulk), record['area'])
        relaxed, converged, _ = relax(slab, calculator, fmax=0.01, steps=300)
        entry['ace_relaxed'] = surface_energy(
            float(relaxed.get_potential_energy()), len(slab), energies['bulk'], len(bulk), record['area']
        )
        entry['ace_relaxed_converged'] = converged
        dft_slab, dft_bulk = frames.get(record['slab']), frames.get(record['bulk'])
        if dft_slab is not None and dft_bulk is not None:
            entry['dft'] = surface_energy(
                dft_slab.get_potential_energy(),
                len(dft_slab),
                dft_bulk.get_potential_energy(),
                len(dft_bulk),
                record['area'],
            )
            entry['error'] = entry['ace'] - entry['dft']
            entry['passed'] = bool(abs(entry['error']) <= tolerance)
        else:
            entry['note'] = 'no DFT label of the slab and its bulk cell'
        results.append(entry)
    return results


def analyse_molecule(
    start: Any,
    dft_relaxed: Any | None,
    calculator: Any,
    bond_tolerance: float = 0.02,
    angle_tolerance: float = 3.0,
    relax_fmax: float = 0.005,
) -> dict[str, Any]:
    """The molecule relaxed with the potential, against its pw.x relaxation when there is one."""
    relaxed, converged, steps = relax(start, calculator, fmax=relax_fmax)
    entry: dict[str, Any] = {
        'formula': start.get_chemical_formula(),
        'ace_converged': converged,
        'ace_steps': steps,
        'bond_tolerance': bond_tolerance,
        'angle_tolerance': angle_tolerance,
        'passed': None,
    }
    if dft_relaxed is None:
        entry['ace_geometry'] = geometry(relaxed)
        entry['note'] = 'no DFT relaxation to compare with'
        return entry
    compared = compare_geometries(relaxed, dft_relaxed)
    entry.update(compared)
    entry['passed'] = bool(
        converged and compared['max_bond_error'] <= bond_tolerance and compared['max_angle_error'] <= angle_tolerance
    )
    return entry


def validation_lines(data: dict[str, Any]) -> list[str]:
    """Report lines of the surface and molecule checks (the bulk ones are the loop's)."""
    lines = []
    for entry in data.get('surfaces', []):
        miller = '(' + ' '.join(str(m) for m in entry['miller']) + ')'
        if 'ace' not in entry:
            lines.append(f'surface {miller}: {entry.get("note", "not computed")}')
            continue
        text = f'surface {miller} energy ACE {entry["ace"]:.3f}'
        if 'dft' in entry:
            verdict = 'pass' if entry['passed'] else 'FAIL'
            text += (
                f' / DFT {entry["dft"]:.3f} J/m² (error {entry["error"]:+.3f}, {verdict} at ±{entry["tolerance"]:g})'
            )
        else:
            text += f' J/m² ({entry.get("note", "no DFT")})'
        lines.append(text + f'; ACE relaxed {entry["ace_relaxed"]:.3f} J/m²')
    molecule = data.get('molecule')
    if molecule:
        if 'bonds' not in molecule:
            lines.append(f'molecule {molecule["formula"]}: {molecule.get("note", "")}')
        else:
            parts = [f'{b["species"]} {b["ace"]:.3f}/{b["dft"]:.3f} Å' for b in molecule['bonds']]
            parts += [f'{a["species"]} {a["ace"]:.1f}/{a["dft"]:.1f}°' for a in molecule['angles']]
            verdict = 'pass' if molecule['passed'] else 'FAIL'
            lines.append(
                f'molecule {molecule["formula"]} ACE/DFT: ' + ', '.join(_unique(parts)) + f' (max errors '
                f'{molecule["max_bond_error"]:.3f} Å, {molecule["max_angle_error"]:.1f}°: {verdict})'
            )
    return lines


def _unique(parts: list[str]) -> list[str]:
    seen, kept = set(), []
    for part in parts:
        if part not in seen:
            seen.add(part)
            kept.append(part)
    return kept
