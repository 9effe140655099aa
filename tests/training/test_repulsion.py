"""Short-range repulsion: the chosen inner cutoffs, and what they do to a real fitted potential.

The physics tests use ``tests/fixtures/potentials/si_tiny`` (a real pacemaker fit to the
24 pw.x Si labels, made by ``make_si_tiny.py`` with the package's own input generator).
"""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.training.config import RepulsionConfig
from aiida_mlip_autopipe.training.potential_file import load_potential_yaml, summarize_potential
from aiida_mlip_autopipe.training.repulsion import PairRepulsion, apply_repulsion_to_potential, repulsion_for_pairs

from .conftest import SI_TINY

SHORTEST_TRAINING_DISTANCE = 1.825350828675967  # Si-Si, frame 18 of si_pw_lda.extxyz


def test_default_is_a_fraction_of_the_covalent_bond():
    pairs = repulsion_for_pairs(RepulsionConfig(), ['Si'], {})
    assert pairs['Si-Si'].inner_cutoff == pytest.approx(0.75 * 2 * 1.11)
    assert pairs['Si-Si'].delta == pytest.approx(0.25 * pairs['Si-Si'].inner_cutoff, abs=1e-4)


def test_data_only_ever_lowers_the_inner_cutoff():
    config = RepulsionConfig()
    assert repulsion_for_pairs(config, ['Si'], {'Si-Si': 1.7})['Si-Si'].inner_cutoff == pytest.approx(1.53)
    assert repulsion_for_pairs(config, ['Si'], {'Si-Si': 3.0})['Si-Si'].inner_cutoff == pytest.approx(1.665)
    lowered = repulsion_for_pairs(config, ['Si'], {'Si-Si': SHORTEST_TRAINING_DISTANCE})['Si-Si']
    assert lowered.inner_cutoff < SHORTEST_TRAINING_DISTANCE
    assert 'shortest Si-Si distance' in lowered.reason


def test_configured_values():
    config = RepulsionConfig(inner_cutoff={'Si-Ge': 1.4}, delta=0.3)
    pairs = repulsion_for_pairs(config, ['Si', 'Ge'], {})
    assert pairs['Ge-Si'] == PairRepulsion('Ge-Si', 1.4, 0.3, 'configured')
    assert pairs['Ge-Ge'].reason.startswith('0.75 x covalent')
    assert repulsion_for_pairs(RepulsionConfig(inner_cutoff=1.0), ['Si'], {})['Si-Si'].inner_cutoff == 1.0
    narrow = repulsion_for_pairs(RepulsionConfig(inner_cutoff=0.5, delta=0.6), ['Si'], {})['Si-Si']
    assert narrow.delta == 0.25
    assert 'delta reduced' in narrow.reason


def test_apply_to_a_potential_file():
    content = load_potential_yaml((SI_TINY / 'potential.yaml').read_text())
    wanted = {'Si-Si': PairRepulsion('Si-Si', 1.5, 0.3, 'test')}
    changes = apply_repulsion_to_potential(content, wanted)
    assert changes == ['Si-Si: r_in 1.6428 -> 1.5, delta_in 0.4107 -> 0.3, type zbl -> zbl']
    block = content['species'][0]
    assert (block['r_in'], block['delta_in'], block['inner_cutoff_type']) == (1.5, 0.3, 'zbl')
    assert apply_repulsion_to_potential(content, wanted) == []
    summary = summarize_potential(content)
    assert summary.elements == ['Si']
    assert summary.functions_per_element == {'Si': 16}
    assert summary.cutoff == 5.0


# ---------------------------------------------------------------------------------------
# Physics on the real tiny potential


@pytest.fixture(scope='module')
def calculators(tmp_path_factory):
    """The si_tiny potential as fitted, and the same potential with pacemaker's ``repulsion: auto`` core."""
    import yaml
    from pyace import PyACECalculator

    folder = tmp_path_factory.mktemp('auto')
    content = load_potential_yaml((SI_TINY / 'potential.yaml').read_text())
    # What `repulsion: auto` does after a fit: ZBL from the shortest training distance, 0.1 A switch.
    apply_repulsion_to_potential(content, {'Si-Si': PairRepulsion('Si-Si', SHORTEST_TRAINING_DISTANCE, 0.1, 'auto')})
    (folder / 'auto.yaml').write_text(yaml.safe_dump(content))
    ours = PyACECalculator(str(SI_TINY / 'potential.yaml'))
    ours.set_active_set(str(SI_TINY / 'potential.asi'))
    return ours, PyACECalculator(str(folder / 'auto.yaml'))


def _dimer(distance: float, calc):
    from ase import Atoms

    atoms = Atoms('Si2', positions=[[0, 0, 0], [distance, 0, 0]], cell=[20, 20, 20], pbc=True)
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces()


def test_squeezed_dimer_is_strongly_repelled(calculators):
    ours, _ = calculators
    energy, forces = _dimer(0.5, ours)
    # Atom 0 sits at the origin, atom 1 at +x: repulsion pushes atom 0 towards -x.
    assert forces[0, 0] < -1000  # eV/A (ZBL: ~2600 eV/A at 0.5 A)
    assert forces[1, 0] == pytest.approx(-forces[0, 0])
    assert energy > 400
    # Monotonic wall all the way from 0.5 A up to the inner cutoff.
    energies = [_dimer(r, ours)[0] for r in np.arange(0.5, 1.65, 0.05)]
    assert np.all(np.diff(energies) < 0)


def test_slightly_shorter_than_the_training_data_gives_no_force_spike(si_frames, calculators):
    """Compress the frame with the shortest training distance by up to 5 %: forces grow smoothly.

    Pacemaker's ``repulsion: auto`` core, applied to the very same fit, switches ACE off
    right there and produces a spike of over 100 eV/A: the pitfall this module avoids.
    """
    from ase.neighborlist import neighbor_list

    ours, auto = calculators
    frame = si_frames[18]
    assert neighbor_list('d', frame, 3.0).min() == pytest.approx(SHORTEST_TRAINING_DISTANCE)
    scales = np.linspace(1.0, 0.95, 11)
    maxima = {}
    for name, calc in (('ours', ours), ('auto', auto)):
        values = []
        for scale in scales:
            atoms = frame.copy()
            atoms.set_cell(frame.cell * scale, scale_atoms=True)
            atoms.calc = calc
            values.append(np.linalg.norm(atoms.get_forces(), axis=1).max())
        maxima[name] = np.array(values)
    ours_f, auto_f = maxima['ours'], maxima['auto']
    # Smooth extrapolation: grows steadily, never more than 10 % per 0.5 % compression, < 1.3x overall.
    assert np.all(np.diff(ours_f) > 0)
    assert np.all(ours_f[1:] / ours_f[:-1] < 1.10)
    assert ours_f.max() < 1.3 * ours_f[0]
    # The same fit with the auto core spikes (identical at the training data itself).
    assert auto_f[0] == pytest.approx(ours_f[0], rel=1e-6)
    assert auto_f.max() > 5 * ours_f.max()


def test_deep_compression_is_repulsive_and_extrapolation_is_flagged(calculators):
    from ase.build import bulk

    ours, _ = calculators
    results = {}
    for scale in (1.0, 0.65, 0.5):
        atoms = bulk('Si', 'diamond', a=5.43 * scale, cubic=True)
        atoms.calc = ours
        energy = atoms.get_potential_energy() / len(atoms)
        results[scale] = (energy, ours.results['gamma'].max())
    # Nearest neighbours at 1.18 A, below the switching region: the core dominates.
    assert results[0.5][0] > results[1.0][0] + 10
    # Between the core and the data ACE extrapolates, and the extrapolation grade says so loudly
    # (the exploration halts at gamma_upper, 10 by default, long before).
    assert results[0.65][1] > 100
    assert results[1.0][1] < 5
