"""TrainingSetData: extxyz storage, pacemaker DataFrame round trip, summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from aiida_mlip_autopipe.data.training_set import TrainingSetData

DATASET = Path(__file__).parents[1] / 'fixtures' / 'datasets' / 'si_pw_lda.extxyz'


@pytest.fixture
def frames():
    return read(DATASET, ':')


def test_round_trip_is_lossless(aiida_profile, frames):
    node = TrainingSetData.from_frames(frames).store()
    assert node.num_frames == len(frames) == 24
    assert node.elements == ['Si']
    back = node.get_frames()
    for a, b in zip(frames, back):
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.allclose(a.get_forces(), b.get_forces(), atol=1e-8)
        assert np.allclose(a.get_stress(), b.get_stress(), atol=1e-10)
        assert a.info['source_uuid'] == b.info['source_uuid']


def test_dataframe_round_trip(aiida_profile, frames):
    frames[0].arrays['force_weight'] = np.full(len(frames[0]), 0.5)
    node = TrainingSetData.from_frames(frames)
    df = node.to_dataframe(buffer_weight=0.1)
    assert list(df.columns[:5]) == ['name', 'ase_atoms', 'energy', 'energy_corrected', 'forces']
    assert df['w_forces'][0].tolist() == [0.5, 0.5]
    assert df['w_forces'][1].tolist() == [1.0, 1.0]
    back = TrainingSetData.from_dataframe(df).get_frames()
    assert [f.info['source_uuid'] for f in back] == node.source_uuids
    assert np.allclose(back[3].get_forces(), frames[3].get_forces(), atol=1e-8)
    assert np.allclose(back[3].get_stress(), frames[3].get_stress(), atol=1e-10)


def test_frames_need_labels(si_atoms):
    with pytest.raises(ValueError, match='energy and forces'):
        TrainingSetData.from_frames([si_atoms])
    si_atoms.calc = SinglePointCalculator(si_atoms, energy=np.nan, forces=np.zeros((2, 3)))
    with pytest.raises(ValueError, match='non-finite'):
        TrainingSetData.from_frames([si_atoms])


def test_empty_set(aiida_profile):
    node = TrainingSetData.from_frames([]).store()
    assert node.num_frames == 0
    assert node.get_frames() == []


def test_potential_energies_are_on_the_dft_scale(aiida_profile):
    """The fitted potential returns energies minus pacemaker's reference; get_calculator adds it back."""
    from aiida_mlip_autopipe.data.potential import AcePotentialData

    tiny = Path(__file__).parents[1] / 'fixtures' / 'potentials' / 'si_tiny'
    potential = AcePotentialData.from_files(tiny / 'potential.yaml', tiny / 'potential.yace', tiny / 'potential.asi')
    potential.base.attributes.set('reference_energy', {'Si': -107.25, 'shift': -2.0})
    assert potential.energy_offset(['Si', 'Si']) == pytest.approx(2 * -107.25 + 2 * 2.0)
    frame = read(DATASET, 0)
    bare = frame.copy()
    bare.calc = potential.get_calculator(active_set=False, dft_energies=False)
    referenced = frame.copy()
    referenced.calc = potential.get_calculator(active_set=True)
    assert referenced.get_potential_energy() - bare.get_potential_energy() == pytest.approx(
        potential.energy_offset(frame.get_chemical_symbols())
    )
    assert np.allclose(referenced.get_forces(), bare.get_forces())
    assert len(referenced.calc.results['gamma']) == len(frame)


def test_prediction_errors_against_labels(aiida_profile, frames):
    """Per-frame energy error per atom and force-component errors, the same as evaluating by hand."""
    from aiida_mlip_autopipe.data.potential import AcePotentialData

    tiny = Path(__file__).parents[1] / 'fixtures' / 'potentials' / 'si_tiny'
    potential = AcePotentialData.from_files(tiny / 'potential.yaml', tiny / 'potential.yace', tiny / 'potential.asi')
    energy, forces = potential.prediction_errors(frames[:3])
    assert energy.shape == (3,) and [f.shape for f in forces] == [(3 * len(a),) for a in frames[:3]]
    probe = frames[1].copy()
    probe.calc = potential.get_calculator(active_set=False)
    expected = (probe.get_potential_energy() - frames[1].get_potential_energy()) / len(probe)
    assert energy[1] == pytest.approx(expected)
    np.testing.assert_allclose(forces[1], (probe.get_forces() - frames[1].get_forces()).ravel())
