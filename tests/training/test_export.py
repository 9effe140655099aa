"""Training data export: extxyz and pacemaker DataFrame round trips keep labels, weights and provenance."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.training.export import (
    dataframe_to_frames,
    frames_to_dataframe,
    read_extxyz,
    read_pacemaker_dataset,
    write_extxyz,
    write_pacemaker_dataset,
)


def _assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.cell.array, b.cell.array)
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.array_equal(a.get_forces(), b.get_forces())
        assert np.array_equal(a.get_stress(), b.get_stress())
        for key in ('source_uuid', 'structure_uuid', 'workchain_uuid', 'name', 'generation', 'origin'):
            assert a.info.get(key) == b.info.get(key), key
        assert np.array_equal(
            a.arrays.get('force_weight', np.ones(len(a))), b.arrays.get('force_weight', np.ones(len(b)))
        )


@pytest.fixture
def labelled(si_frames):
    frames = si_frames[:6]
    frames[1].arrays['force_weight'] = np.array([1.0, 0.1])
    frames[2].info.update(generation=2, origin='gamma-extract')
    return frames


def test_dataframe_round_trip_is_lossless(labelled, tmp_path):
    frame = frames_to_dataframe(labelled)
    assert list(frame.columns[:5]) == ['name', 'ase_atoms', 'energy', 'energy_corrected', 'forces']
    assert frame['w_energy'].tolist() == [1.0] * 6
    assert frame['w_forces'][1].tolist() == [1.0, 0.1]
    assert frame['w_forces'][0].tolist() == [1.0, 1.0]
    assert frame['source_uuid'].tolist() == [f.info['source_uuid'] for f in labelled]
    _assert_same(labelled, dataframe_to_frames(frame))
    path = write_pacemaker_dataset(labelled, tmp_path / 'data.pckl.gzip')
    _assert_same(labelled, read_pacemaker_dataset(path))
    # pacemaker's own reader: gzip pickle, pickle protocol 4.
    import gzip
    import pickletools

    with gzip.open(path, 'rb') as handle:
        opcodes = [op for op, _, _ in pickletools.genops(handle)]
    assert opcodes[0].name == 'PROTO'


def test_extxyz_round_trip_is_lossless_through_the_node(aiida_profile, labelled, tmp_path):
    node = TrainingSetData.from_frames(labelled).store()
    node.write_extxyz(str(tmp_path / 'set.extxyz'))
    again = TrainingSetData.from_extxyz(str(tmp_path / 'set.extxyz'))
    _assert_same(node.get_frames(), again.get_frames())
    assert again.source_uuids == node.source_uuids
    write_extxyz(node.get_frames(), tmp_path / 'direct.extxyz')
    _assert_same(node.get_frames(), read_extxyz(tmp_path / 'direct.extxyz'))
    node.write_pacemaker_dataset(str(tmp_path / 'node.pckl.gzip'))
    _assert_same(node.get_frames(), read_pacemaker_dataset(tmp_path / 'node.pckl.gzip'))


def test_unweighted_export_and_bad_weights(labelled):
    assert 'w_forces' not in frames_to_dataframe(labelled, weights=False).columns
    labelled[0].arrays['force_weight'] = np.array([1.0, np.nan])
    with pytest.raises(ValueError, match='force_weight'):
        frames_to_dataframe(labelled)


def test_unlabelled_frames_are_refused(si_atoms, tmp_path):
    with pytest.raises(ValueError, match='energy and forces'):
        frames_to_dataframe([si_atoms])
    from ase.io import write

    write(tmp_path / 'bare.extxyz', si_atoms)
    with pytest.raises(ValueError, match='frame 0 has no energy and forces'):
        read_extxyz(tmp_path / 'bare.extxyz')
