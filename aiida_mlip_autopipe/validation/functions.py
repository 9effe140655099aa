"""The calcfunctions that validate a final potential against DFT: energy–volume curve, phonons, a stability MD.

``validation_structures`` makes the cells DFT labels (E–V points of the base cell and,
when the supercell is small enough for DFT, phonopy's displaced supercells; for each target
surface its slab and oriented bulk cell) and the molecule DFT relaxes;
``analyse_validation`` evaluates the potential on the same cells and compares:
lattice constant and bulk modulus from Birch–Murnaghan fits, phonon frequencies with
and without DFT, imaginary modes, surface energies, the bonds and angles of the relaxed
molecule (:mod:`~aiida_mlip_autopipe.validation.systems`), and the verdict of a stability MD run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_mlip_autopipe.validation.core import (
    Q_POINTS,
    ev_fit,
    phonon_frequencies,
    phonopy_for,
    primitive_from,
    to_atoms,
)

__all__ = ('analyse_validation', 'validation_structures')


@calcfunction
def validation_structures(config: orm.Dict, structure: orm.StructureData | None = None) -> dict:
    """The cells to label for validation: E–V points and, if small enough, displaced supercells.

    Returns ``structures`` (``ev00``..., ``ph00``...) and ``cells`` (``Dict``: strains,
    volumes, phonopy settings, which cells DFT labels).
    """
    from aiida_mlip_autopipe.candidates.builder import base_structures
    from aiida_mlip_autopipe.config import parse_config

    parsed = parse_config(config.get_dict())
    settings = parsed.validation
    base = structure.get_ase() if structure is not None else None
    outputs, metadata = _system_cells(parsed, base)
    if 'bulk' not in parsed.target.kinds:
        return {'structures': outputs, 'cells': orm.Dict(metadata), **_molecule_output(parsed)}
    target = parsed.target.model_copy(update={'supercell_atoms': [1]})
    generator = parsed.generator.model_copy(update={'sqs': parsed.generator.sqs.model_copy(update={'n_structures': 1})})
    primitive = base_structures(target, generator, 0, base)[0][0].atoms
    strains = np.linspace(-settings.ev_strain, settings.ev_strain, settings.ev_points)
    volumes = []
    for i, strain in enumerate(strains):
        atoms = primitive.copy()
        atoms.set_cell(atoms.cell.array * (1 + strain), scale_atoms=True)
        volumes.append(float(atoms.get_volume() / len(atoms)))
        outputs[f'ev{i:02d}'] = orm.StructureData(ase=atoms)
        outputs[f'ev{i:02d}'].label = f'ev{i:02d}'
    phonon = phonopy_for(primitive, settings.phonon_supercell)
    phonon.generate_displacements(distance=settings.phonon_displacement)
    supercells = [to_atoms(s) for s in phonon.supercells_with_displacements]
    n_super = len(supercells[0]) if supercells else 0
    label_phonons = settings.phonons and n_super <= settings.phonon_dft_max_atoms
    if label_phonons:
        for i, atoms in enumerate(supercells):
            outputs[f'ph{i:02d}'] = orm.StructureData(ase=atoms)
            outputs[f'ph{i:02d}'].label = f'ph{i:02d}'
    metadata.update(
        {
            'strains': strains.tolist(),
            'volumes_per_atom': volumes,
            'tolerances': {
                'lattice': settings.lattice_tolerance,
                'bulk_modulus': settings.bulk_modulus_tolerance,
                'ev_rmse_mev': settings.ev_rmse_tolerance,
                'phonon_mae_thz': settings.phonon_mae_tolerance,
            },
            'primitive': {
                'symbols': primitive.get_chemical_symbols(),
                'cell': primitive.cell.array.tolist(),
                'scaled_positions': primitive.get_scaled_positions().tolist(),
            },
            'phonons': settings.phonons,
            'phonon_supercell': settings.phonon_supercell,
            'phonon_displacement': settings.phonon_displacement,
            'phonon_supercell_atoms': n_super,
            'phonon_displacements': len(supercells),
            'phonons_labelled_by_dft': label_phonons,
        }
    )
    return {'structures': outputs, 'cells': orm.Dict(metadata), **_molecule_output(parsed)}


def _system_cells(parsed: Any, base: Any) -> tuple[dict[str, orm.StructureData], dict[str, Any]]:
    """The slab (``sf00s``) and oriented bulk cell (``sf00b``) of each target surface, and their records."""
    from aiida_mlip_autopipe.candidates import surfaces as slabs
    from aiida_mlip_autopipe.candidates.kinds import single_kpoint_height
    from aiida_mlip_autopipe.candidates.system_bases import bulk_lattice, slab_for
    from aiida_mlip_autopipe.validation.systems import record_of

    outputs: dict[str, orm.StructureData] = {}
    records = []
    target = parsed.target
    if 'surface' not in target.kinds:
        return outputs, {}
    primitive, conventional, prototype = bulk_lattice(target, base)
    height = single_kpoint_height(parsed.dft.kpoints_distance)
    for index, surface in enumerate(target.surfaces):
        slab, details = slab_for(
            target, surface, base, repeat=(1, 1), rng=np.random.default_rng(index), min_height=height
        )
        hexagonal = prototype is None or prototype in slabs.HEXAGONAL_PROTOTYPES
        oriented = slabs.oriented_bulk(primitive, conventional, slabs.miller_three(surface.miller, hexagonal))
        keys = (f'sf{index:02d}s', f'sf{index:02d}b')
        for key, atoms in zip(keys, (slab, oriented), strict=True):
            outputs[key] = orm.StructureData(ase=atoms)
            outputs[key].label = key
        records.append(
            {
                'slab': keys[0],
                'bulk': keys[1],
                'miller': list(surface.miller),
                'layers': surface.layers,
                'area': slabs.slab_area(slab),
                'stoichiometric': details['stoichiometric'] and not target.is_alloy,
                'slab_cell': record_of(slab),
                'bulk_cell': record_of(oriented),
            }
        )
    return outputs, {'surfaces': records, 'surface_energy_tolerance': parsed.validation.surface_energy_tolerance}


def _molecule_output(parsed: Any) -> dict[str, orm.StructureData]:
    """``molecule``: the target molecule in its box, which pw.x and the potential relax (none without a molecule)."""
    if 'molecule' not in parsed.target.kinds:
        return {}
    from aiida_mlip_autopipe.candidates.system_bases import cluster

    node = orm.StructureData(ase=cluster(parsed.target.molecule, 1, np.random.default_rng(0)))
    node.label = 'molecule'
    return {'molecule': node}


@calcfunction
def analyse_validation(
    potential: orm.Data,
    cells: orm.Dict,
    dft_labels: orm.Data | None = None,
    md_summary: orm.Dict | None = None,
    md_status: orm.Dict | None = None,
    molecule: orm.StructureData | None = None,
    molecule_dft: orm.StructureData | None = None,
    settings: orm.Dict | None = None,
) -> dict:
    """Compare ``potential`` with the DFT validation labels; judge the stability MD.

    ``md_status`` (``{'exit_status', 'exit_message'}`` of the stability MD) is needed for a
    "stable" verdict: a failed MD is never stable, whatever its partial summary says.
    ``molecule`` is the start of the relaxations and ``molecule_dft`` its pw.x relaxation;
    ``settings`` may give ``bond_tolerance``, ``angle_tolerance`` and ``relax_fmax``
    (``validation`` section). Returns ``validation`` (``Dict``: E–V fits of ACE and DFT, phonon
    frequencies, imaginary modes, surface energies, molecular geometry, MD verdict) and
    ``curves`` (``ArrayData`` for plots).
    """
    from aiida_mlip_autopipe.validation.systems import analyse_molecule, analyse_surfaces

    meta = cells.get_dict()
    calculator = potential.get_calculator(active_set=False)
    frames = {f.info.get('structure_label'): f for f in (dft_labels.get_frames() if dft_labels is not None else [])}
    result: dict[str, Any] = {}
    curves = orm.ArrayData()
    if meta.get('surfaces'):
        result['surfaces'] = analyse_surfaces(meta, frames, calculator)
    if molecule is not None:
        options = settings.get_dict() if settings is not None else {}
        result['molecule'] = analyse_molecule(
            molecule.get_ase(), molecule_dft.get_ase() if molecule_dft is not None else None, calculator, **options
        )
    if 'primitive' in meta:
        _analyse_bulk(meta, frames, calculator, result, curves)
        if 'tolerances' in meta:
            from aiida_mlip_autopipe.validation.core import bulk_verdicts

            result['verdicts'] = bulk_verdicts(result, meta['tolerances'])
    if md_summary is not None or md_status is not None:
        from aiida_mlip_autopipe.validation.core import md_verdict

        status = md_status.get_dict() if md_status is not None else {}
        result['md'] = md_verdict(
            md_summary.get_dict() if md_summary is not None else None,
            status.get('exit_status'),
            status.get('exit_message'),
        )
    result['q_points'] = list(Q_POINTS)
    return {'validation': orm.Dict(result), 'curves': curves}


def _analyse_bulk(meta: dict, frames: dict, calculator: Any, result: dict[str, Any], curves: orm.ArrayData) -> None:
    """E–V fits and phonons of the bulk cell, into ``result`` and ``curves``."""
    primitive = primitive_from(meta)
    ev_labels = [f for k, f in frames.items() if not (k or '').startswith(('sf', 'ph'))]
    by_volume = sorted(ev_labels, key=lambda f: f.get_volume())

    # Energy–volume: ACE on the strained base cells, DFT where labelled.
    volumes, ace_energies = [], []
    for strain in meta['strains']:
        atoms = primitive.copy()
        atoms.set_cell(atoms.cell.array * (1 + strain), scale_atoms=True)
        atoms.calc = calculator
        volumes.append(atoms.get_volume() / len(atoms))
        ace_energies.append(atoms.get_potential_energy() / len(atoms))
    result['ev'] = {'ace': ev_fit(volumes, ace_energies)}
    curves.set_array('ev_volumes', np.asarray(volumes))
    curves.set_array('ev_ace', np.asarray(ace_energies))
    ev_frames = [f for f in by_volume if len(f) == len(primitive)]
    if len(ev_frames) >= 4:
        dft_v = [f.get_volume() / len(f) for f in ev_frames]
        dft_e = [f.get_potential_energy() / len(f) for f in ev_frames]
        result['ev']['dft'] = ev_fit(dft_v, dft_e)
        curves.set_array('ev_dft_volumes', np.asarray(dft_v))
        curves.set_array('ev_dft', np.asarray(dft_e))
        ace, dft = result['ev']['ace'], result['ev']['dft']
    if len(ev_frames) >= 4 and 'fit_failed' not in ace and 'fit_failed' not in dft:
        result['ev']['lattice_ratio'] = (ace['v0'] / dft['v0']) ** (1 / 3)
        result['ev']['bulk_modulus_error'] = ace['bulk_modulus'] - dft['bulk_modulus']
        # Energy differences only: both curves are shifted to their own minimum.
        ace_at = np.interp(dft_v, volumes, ace_energies)
        result['ev']['rmse_relative_mev'] = float(
            1000 * np.sqrt(np.mean(((ace_at - min(ace_energies)) - (np.asarray(dft_e) - min(dft_e))) ** 2))
        )

    # Phonons: ACE always (force constants from the potential); DFT when labelled.
    if meta.get('phonons'):
        phonon = phonopy_for(primitive, meta['phonon_supercell'])
        phonon.generate_displacements(distance=meta['phonon_displacement'])
        ace_forces = []
        for supercell in phonon.supercells_with_displacements:
            atoms = to_atoms(supercell)
            atoms.calc = calculator
            ace_forces.append(atoms.get_forces())
        ace_freq = phonon_frequencies(primitive, meta['phonon_supercell'], ace_forces, meta['phonon_displacement'])
        lowest = min(min(v) for v in ace_freq.values())
        # Acoustic modes at Γ are zero up to numerical noise; anything clearly negative elsewhere is unstable.
        imaginary = [q for q, v in ace_freq.items() if min(v) < (-0.3 if q == 'G' else -0.05)]
        result['phonons'] = {'ace': ace_freq, 'lowest_thz': lowest, 'imaginary_at': imaginary}
        ph_frames = [f for k, f in sorted(frames.items()) if k and k.startswith('ph')]
        if meta.get('phonons_labelled_by_dft') and len(ph_frames) == meta['phonon_displacements']:
            dft_freq = phonon_frequencies(
                primitive, meta['phonon_supercell'], [f.get_forces() for f in ph_frames], meta['phonon_displacement']
            )
            diffs = [abs(a - d) for q in Q_POINTS for a, d in zip(ace_freq[q], dft_freq[q])]
            result['phonons']['dft'] = dft_freq
            result['phonons']['mae_thz'] = float(np.mean(diffs))
            result['phonons']['max_abs_thz'] = float(np.max(diffs))
        curves.set_array('phonon_ace', np.asarray([ace_freq[q] for q in Q_POINTS]))
        if 'dft' in result['phonons']:
            curves.set_array('phonon_dft', np.asarray([result['phonons']['dft'][q] for q in Q_POINTS]))
