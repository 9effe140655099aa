"""Training data in and out: extended XYZ (for people and other codes) and pacemaker's DataFrame.

Both directions keep energy, forces, stress, the per-atom force weights and the
provenance keys of every frame (``source_uuid`` and friends), so a set exported for a
fit, or to another MLIP code, can always be traced back to the DFT runs that made it.

Stress goes out only for bulk frames: the stress of a slab or a molecule is the virial of
the atoms divided by the volume of a box that is mostly vacuum, a number that depends on the
vacuum chosen and means nothing to a fit (issue 16; the kind comes from
:func:`~aiida_mlip_autopipe.candidates.kinds.structure_kind`). The frames keep their
periodicity (molecules ``pbc`` False, slabs periodic boxes whose vacuum is wider than the
cutoff), so pacemaker's neighbour lists see no periodic image across the vacuum either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiida_mlip_autopipe.common.names import FORCE_WEIGHT_ARRAY, FRAME_INFO_KEYS

__all__ = (
    'dataframe_to_frames',
    'frames_to_dataframe',
    'read_extxyz',
    'read_pacemaker_dataset',
    'stress_is_meaningful',
    'write_extxyz',
    'write_pacemaker_dataset',
)

#: Pacemaker's weight columns: per structure (energy) and per atom (forces).
ENERGY_WEIGHT_COLUMN = 'w_energy'
FORCE_WEIGHT_COLUMN = 'w_forces'


def stress_is_meaningful(atoms: Any) -> bool:
    """Whether a frame's stress may be fitted: only for bulk (not a slab or a molecule in its box)."""
    from aiida_mlip_autopipe.candidates.kinds import structure_kind

    return structure_kind(atoms) == 'bulk'


def _labels(atoms: Any) -> dict[str, Any]:
    calc = atoms.calc
    if calc is None or 'energy' not in calc.results or 'forces' not in calc.results:
        raise ValueError('every frame needs energy and forces in atoms.calc.results')
    return calc.results


def frames_to_dataframe(frames: Sequence[Any], weights: bool = True, energy_weighting: Any = None) -> Any:
    """Pacemaker's DataFrame from labelled ASE frames.

    Columns: ``name, ase_atoms, energy, energy_corrected, forces`` (what pacemaker
    reads), ``stress`` where known and meaningful (eV/Å³, ASE Voigt order; periodic frames
    only, see :func:`stress_is_meaningful`),
    every key of ``FRAME_INFO_KEYS`` present in any frame, and with ``weights``
    pacemaker's ``w_energy`` (1 per structure) and ``w_forces`` (the frame's per-atom
    ``force_weight``, else 1). Pacemaker uses these two columns as given and
    normalises them over the set, so unweighted frames are fitted exactly as with its
    default uniform weighting. With ``energy_weighting`` (``(delta_energy, delta_force)``)
    the weights are those of :func:`~aiida_mlip_autopipe.training.weights.loss_weights`
    instead. ``energy_corrected`` equals ``energy``; the fit subtracts its reference energies itself.
    """
    import pandas as pd

    rows = []
    info_keys = [k for k in FRAME_INFO_KEYS if k != 'name' and any(k in f.info for f in frames)]
    own = [_atom_weights(atoms, index) for index, atoms in enumerate(frames)] if weights else []
    if weights and energy_weighting is not None and frames:
        from aiida_mlip_autopipe.training.weights import loss_weights

        energy_w, force_w = loss_weights(frames, own, *energy_weighting)
    else:
        energy_w, force_w = [1.0] * len(frames), own
    for index, atoms in enumerate(frames):
        results = _labels(atoms)
        bare = atoms.copy()
        bare.calc = None
        bare.info = {}
        for key in list(bare.arrays):
            if key not in ('numbers', 'positions'):
                del bare.arrays[key]
        energy = float(results['energy'])
        row: dict[str, Any] = {
            'name': str(atoms.info.get('name') or atoms.info.get('source_uuid') or f'frame_{index:05d}'),
            'ase_atoms': bare,
            'energy': energy,
            'energy_corrected': energy,
            'forces': np.asarray(results['forces'], dtype=float).reshape(len(atoms), 3),
            'stress': np.asarray(results['stress'], dtype=float)
            if 'stress' in results and stress_is_meaningful(atoms)
            else None,
        }
        for key in info_keys:
            row[key] = atoms.info.get(key)
        if weights:
            row[ENERGY_WEIGHT_COLUMN] = float(energy_w[index])
            row[FORCE_WEIGHT_COLUMN] = force_w[index]
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame) and frame['stress'].isna().all():
        frame = frame.drop(columns=['stress'])
    return frame


def _atom_weights(atoms: Any, index: int) -> np.ndarray:
    """A frame's own per-atom force weights (``force_weight`` array, 1 where it has none)."""
    per_atom = atoms.arrays.get(FORCE_WEIGHT_ARRAY)
    w = np.ones(len(atoms)) if per_atom is None else np.asarray(per_atom, dtype=float).reshape(-1)
    if w.shape != (len(atoms),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f'frame {index}: force_weight must hold one finite weight >= 0 per atom')
    return w


def dataframe_to_frames(frame: Any) -> list[Any]:
    """Labelled ASE frames from a pacemaker DataFrame (inverse of :func:`frames_to_dataframe`).

    ``energy`` is the label (``energy_corrected`` is used only when ``energy`` is
    missing); ``w_forces`` becomes the per-atom ``force_weight`` array.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    columns = set(frame.columns)
    if 'ase_atoms' not in columns or 'forces' not in columns:
        raise ValueError('a pacemaker DataFrame needs ase_atoms and forces columns')
    energy_column = 'energy' if 'energy' in columns else 'energy_corrected'
    frames = []
    for _, row in frame.iterrows():
        atoms = row['ase_atoms'].copy()
        atoms.calc = None
        results: dict[str, Any] = {
            'energy': float(row[energy_column]),
            'forces': np.asarray(row['forces'], dtype=float),
        }
        stress = row.get('stress') if 'stress' in columns else None
        if stress is not None and np.size(stress) in (6, 9) and np.all(np.isfinite(np.asarray(stress, dtype=float))):
            results['stress'] = np.asarray(stress, dtype=float)
        atoms.calc = SinglePointCalculator(atoms, **results)
        for key in FRAME_INFO_KEYS:
            value = row.get(key) if key in columns else None
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if key == 'generation' and isinstance(value, float | np.floating) and float(value).is_integer():
                value = int(value)  # pandas turns an int column with gaps into floats
            atoms.info[key] = value.item() if isinstance(value, np.generic) else value
        weights = row.get(FORCE_WEIGHT_COLUMN) if FORCE_WEIGHT_COLUMN in columns else None
        if weights is not None and np.size(weights) == len(atoms):
            w = np.asarray(weights, dtype=float)
            if not np.allclose(w, 1.0):
                atoms.arrays[FORCE_WEIGHT_ARRAY] = w
        frames.append(atoms)
    return frames


def write_pacemaker_dataset(
    frames: Sequence[Any], path: str | Path, weights: bool = True, energy_weighting: Any = None
) -> Path:
    """Write ``frames`` as pacemaker reads them: a gzip-pickled DataFrame (pickle protocol 4)."""
    path = Path(path)
    frame = frames_to_dataframe(frames, weights=weights, energy_weighting=energy_weighting)
    frame.to_pickle(path, compression='gzip', protocol=4)
    return path


def read_pacemaker_dataset(path: str | Path) -> list[Any]:
    """Frames from a pacemaker ``.pckl.gzip`` DataFrame (also pacemaker's ``fitting_data_info``)."""
    import pandas as pd

    return dataframe_to_frames(pd.read_pickle(Path(path), compression='gzip'))


def write_extxyz(frames: Sequence[Any], path: str | Path) -> Path:
    """Write labelled frames to an extended XYZ file (energy, forces, stress, info keys, force weights).

    Slabs and molecules go out without stress (:func:`stress_is_meaningful`), so that another
    code fitting stress never sees theirs.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    path = Path(path)
    written = []
    for atoms in frames:
        results = _labels(atoms)
        if 'stress' in results and not stress_is_meaningful(atoms):
            bare = atoms.copy()
            kept = {k: v for k, v in results.items() if k in ('energy', 'forces', 'free_energy')}
            bare.calc = SinglePointCalculator(bare, **kept)
            written.append(bare)
        else:
            written.append(atoms)
    write(path, written, format='extxyz')
    return path


def read_extxyz(path: str | Path) -> list[Any]:
    """Labelled frames from an extended XYZ file; each must carry energy and forces."""
    from ase.io import read

    frames = list(read(Path(path), index=':', format='extxyz'))
    for index, atoms in enumerate(frames):
        try:
            _labels(atoms)
        except ValueError:
            raise ValueError(f'{path}: frame {index} has no energy and forces') from None
    return frames
