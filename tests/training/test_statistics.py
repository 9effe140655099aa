"""Data-set statistics that the input generator relies on."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.training.statistics import dataset_statistics, pair_key


def test_pair_key_is_alphabetical():
    assert pair_key('Si', 'Ge') == pair_key('Ge', 'Si') == 'Ge-Si'


def test_si_statistics(si_frames, data_regression):
    stats = dataset_statistics(si_frames)
    assert stats.elements == ['Si']
    assert stats.num_frames == 24
    assert stats.atoms_per_element == {'Si': 132}
    # The shortest Si-Si distance, checked independently of the neighbour list.
    shortest = min(
        np.min(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)]) if len(a) > 1 else np.inf for a in si_frames
    )
    assert stats.min_distance['Si-Si'] == pytest.approx(shortest, abs=1e-9)
    data_regression.check(stats.as_dict())


def test_pairs_and_weights(sige_frames):
    sige_frames[0].arrays['force_weight'] = np.ones(len(sige_frames[0]))
    stats = dataset_statistics(sige_frames)
    assert stats.elements == ['Ge', 'Si']
    assert set(stats.min_distance) == {'Ge-Ge', 'Ge-Si', 'Si-Si'}
    assert stats.has_force_weights
    assert dataset_statistics([]).num_frames == 0
