"""The ``dft`` section as PwBaseWorkChain overrides: forces and stress always, spin for magnetic elements."""

from __future__ import annotations

from aiida_mlip_autopipe.labelling.pw_inputs import pw_overrides


def test_overrides_turn_on_forces_and_stress():
    overrides = pw_overrides({'ecutwfc': 30}, ['Si'])
    control = overrides['pw']['parameters']['CONTROL']
    assert control['tprnfor'] and control['tstress']
    assert overrides['pw']['parameters']['SYSTEM']['ecutrho'] == 120
    assert 'nspin' not in overrides['pw']['parameters']['SYSTEM']


def test_overrides_spin_for_magnetic_elements():
    system = pw_overrides({}, ['Fe', 'Al'])['pw']['parameters']['SYSTEM']
    assert system['nspin'] == 2
    assert system['starting_magnetization'] == {'Fe': 0.4, 'Al': 0.1}


def test_overrides_merge_user_parameters():
    overrides = pw_overrides({'parameters': {'ELECTRONS': {'mixing_beta': 0.2}}}, ['Si'])
    assert overrides['pw']['parameters']['ELECTRONS'] == {'electron_maxstep': 100, 'mixing_beta': 0.2}
