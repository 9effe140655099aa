"""What pw.x is asked: the ``dft`` section as ``PwBaseWorkChain`` protocol overrides, and enough bands.

Pure functions of the config and the structure (plus the pseudopotentials' valence), so
every choice that goes into a label can be unit-tested without running pw.x.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from aiida import orm

from aiida_mlip_autopipe.labelling.config import DFTConfig

__all__ = ('pw_overrides', 'reference_structure', 'smearing_bands')


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
