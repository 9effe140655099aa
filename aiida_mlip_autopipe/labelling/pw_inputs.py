"""What pw.x is asked: the ``dft`` section as ``PwBaseWorkChain`` protocol overrides, and enough bands.

Pure functions of the config and the structure (plus the pseudopotentials' valence), so
every choice that goes into a label can be unit-tested without running pw.x.

Slabs and molecules (issue 16) are labelled in the periodic box pw.x always uses, with the
settings their kind calls for (:func:`~aiida_mlip_autopipe.candidates.kinds.structure_kind`:
a molecule has ``pbc`` all False, a slab is a periodic box with vacuum along its third cell
vector), from :func:`structure_settings`:

- **molecule** (``pbc`` all False): Γ only (``K_POINTS gamma``, pw.x's real-wavefunction
  "gamma tricks", about half the cost of a 1×1×1 mesh), ``assume_isolated = 'mt'`` and no stress.
  Martyna–Tuckerman removes the interaction of the molecule with its periodic images from the
  energy *and* the potential, so forces stay the derivative of the energy; Makov–Payne only
  corrects the printed energy (and only in cubic boxes), which would leave energies and forces
  of a label inconsistent. MT needs the box about twice the size of the molecule's charge
  density, which a vacuum of 4 Å or more per side gives small molecules. pw.x itself skips the
  stress of an isolated system ("not meaningful");
- **surface**: one k-point along the normal and the in-plane mesh from the spacing (an explicit
  mesh; the slab builder also makes the box tall enough that ``kpoints_distance`` alone gives
  one point along it), no stress (the box is mostly vacuum), and no ``assume_isolated``: the
  slabs made here are neutral and symmetric, whose images along the normal interact only
  through the vacuum; a polar slab would need a dipole correction;
- **bulk**: the template unchanged.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from aiida import orm

from aiida_mlip_autopipe.labelling.config import DFTConfig

__all__ = (
    'ISOLATED_CORRECTION',
    'pw_overrides',
    'reference_structure',
    'smearing_bands',
    'structure_settings',
    'surface_mesh',
)

#: ``assume_isolated`` of a molecule's label (see the module docstring for why not makov-payne).
ISOLATED_CORRECTION = 'mt'


def pw_overrides(dft: Mapping[str, Any], elements: list[str]) -> dict[str, Any]:
    """Translate the ``dft`` section of the config into ``PwBaseWorkChain`` protocol overrides."""
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    config = dft if isinstance(dft, DFTConfig) else DFTConfig.model_validate(dict(dft))
    system: dict[str, Any] = {'smearing': config.smearing, 'degauss': config.degauss}
    if config.ecutwfc is not None:
        system['ecutwfc'] = config.ecutwfc
        system['ecutrho'] = config.ecutrho if config.ecutrho is not None else 4 * config.ecutwfc
    magnetization = config.magnetization_for(elements)
    if magnetization:
        system['nspin'] = 2
        system['starting_magnetization'] = magnetization
    parameters = {
        'CONTROL': {'calculation': 'scf', 'tprnfor': True, 'tstress': True},
        'SYSTEM': system,
        'ELECTRONS': {'electron_maxstep': config.electron_maxstep},
    }
    parameters = recursive_merge(parameters, copy.deepcopy(config.parameters))
    return {
        'pseudo_family': config.pseudo_family,
        'kpoints_distance': config.kpoints_distance,
        'meta_parameters': {'conv_thr_per_atom': config.conv_thr_per_atom},
        'clean_workdir': False,
        'pw': {
            'parameters': parameters,
            'metadata': {
                'options': {
                    'max_wallclock_seconds': config.max_wallclock_seconds,
                    'withmpi': config.num_mpiprocs > 1,
                    'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': config.num_mpiprocs},
                }
            },
        },
    }


def reference_structure(elements: list[str]) -> orm.StructureData:
    """One atom of each element in a large box: what the protocol needs to pick pseudos and cutoffs.

    Cutoffs come out as the maximum over all elements, so every label of a run uses the
    same basis and energies stay comparable across structures of different chemistry.
    """
    structure = orm.StructureData(cell=[[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]])
    for i, element in enumerate(elements):
        structure.append_atom(position=(1.5 * i, 0.0, 0.0), symbols=element, name=element)
    return structure


def smearing_bands(structure: orm.StructureData, pseudos: Mapping[str, Any]) -> int:
    """Bands for a smeared SCF of ``structure``: 1.5 times the occupied ones, at least 8 more.

    pw.x's default (1.2 times, at least 4 more) is often too few for strained or rattled
    cells, whose highest band then holds charge; PwBaseWorkChain notices after the run
    and restarts with more bands, which doubles the cost of that label. Asking for
    enough bands up front costs a little more per run and saves the restart.
    """
    electrons = sum(pseudos[site.kind_name].z_valence for site in structure.sites)
    occupied = math.ceil(electrons / 2)
    return max(math.ceil(1.5 * occupied), occupied + 8)


def surface_mesh(structure: orm.StructureData, kpoints_distance: float) -> list[int]:
    """The k-point mesh of a slab: aiida-quantumespresso's in-plane counts for the spacing, one along the normal."""
    cell = np.asarray(structure.cell, dtype=float)
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    counts = [max(1, math.ceil(round(float(np.linalg.norm(b)) / kpoints_distance, 5))) for b in reciprocal[:2]]
    return [counts[0], counts[1], 1]


def structure_settings(
    structure: orm.StructureData,
    parameters: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    kpoints_distance: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[int] | None]:
    """The pw.x ``parameters`` and ``settings`` of a label of ``structure``, and its k-point mesh if fixed.

    Returns copies of ``parameters`` and ``settings`` adapted to the kind of structure (see the
    module docstring) and the mesh: ``[1, 1, 1]`` for a molecule (Γ, with ``GAMMA_ONLY`` in the
    settings), :func:`surface_mesh` for a slab when ``kpoints_distance`` is given, else ``None``
    (the mesh follows ``kpoints_distance``). Values the user set for ``assume_isolated`` are kept.
    """
    from aiida_mlip_autopipe.candidates.kinds import structure_kind

    parameters = copy.deepcopy(dict(parameters))
    settings = copy.deepcopy(dict(settings or {}))
    kind = structure_kind(structure.get_ase())
    if kind == 'bulk':
        return parameters, settings, None
    parameters.setdefault('CONTROL', {})['tstress'] = False
    if kind == 'surface':
        return parameters, settings, surface_mesh(structure, kpoints_distance) if kpoints_distance else None
    parameters.setdefault('SYSTEM', {}).setdefault('assume_isolated', ISOLATED_CORRECTION)
    settings['GAMMA_ONLY'] = True
    return parameters, settings, [1, 1, 1]
