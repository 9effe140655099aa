"""The bad-input cases of issue 14: pass-through dicts checked key by key, physics across sections, the oracle.

Each is ``(id, category, field, fragment, fix, config)``: the dotted field the error must name,
a part of the message that says what is wrong, and a part that says what to do instead.
``test_bad_inputs.py`` turns them into its ``Case`` objects and runs them through ``validate``,
``run`` and the Python API like every other case.
"""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {'target': {'elements': ['Si'], 'prototype': 'diamond'}}


def cfg(**sections: Any) -> dict:
    """BASE with dotted keys replaced, e.g. ``cfg(**{'dft.ecutwfc': -1})``."""
    data = copy.deepcopy(BASE)
    for path, value in sections.items():
        keys = path.split('.')
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return data


def pw(namelist: str, **keys: Any) -> dict:
    return cfg(**{'dft.parameters': {namelist: keys}})


def pace(**sections: Any) -> dict:
    return cfg(**{'training.extra_input': sections})


REMOVE = 'remove it'
#: (id, category, field, fragment, fix, config)
ISSUE_14_CASES: list[tuple[str, str, str, str, str, Any]] = [
    # dft.parameters: files, folders, restarts.
    (
        'pw-outdir',
        'dft parameters',
        'dft.parameters',
        'CONTROL.outdir names a file or folder',
        REMOVE,
        pw('CONTROL', outdir='/scratch/me'),
    ),
    (
        'pw-wfcdir',
        'dft parameters',
        'dft.parameters',
        'CONTROL.wfcdir names a file or folder',
        REMOVE,
        pw('CONTROL', wfcdir='/local'),
    ),
    (
        'pw-prefix',
        'dft parameters',
        'dft.parameters',
        'CONTROL.prefix names a file or folder',
        REMOVE,
        pw('CONTROL', prefix='si'),
    ),
    (
        'pw-restart-mode',
        'dft parameters',
        'dft.parameters',
        'CONTROL.restart_mode names a file or folder',
        REMOVE,
        pw('CONTROL', restart_mode='restart'),
    ),
    (
        'pw-vdw-table',
        'dft parameters',
        'dft.parameters',
        # Gone from pw.x before 6.7 (the kernel table is computed on the fly): unknown, not a file.
        'SYSTEM.vdw_table_name: no such pw.x variable in SYSTEM',
        REMOVE,
        pw('SYSTEM', vdw_table_name='vdW_kernel_table'),
    ),
    (
        'pw-startingwfc-file',
        'dft parameters',
        'dft.parameters',
        'reads files of a previous run',
        "use 'atomic+random'",
        pw('ELECTRONS', startingwfc='file'),
    ),
    (
        'pw-startingpot-file',
        'dft parameters',
        'dft.parameters',
        'reads files of a previous run',
        'leave it unset',
        pw('ELECTRONS', startingpot='file'),
    ),
    (
        'pw-input-dft',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.input_dft would override the functional',
        'choose a dft.pseudo_family',
        pw('SYSTEM', input_dft='PBE'),
    ),
    (
        'pw-max-seconds',
        'dft parameters',
        'dft.parameters',
        'set by AiiDA from dft.max_wallclock_seconds',
        REMOVE,
        pw('CONTROL', max_seconds=100),
    ),
    (
        'pw-assume-isolated',
        'dft parameters',
        'dft.parameters',
        'set by the labelling per structure kind',
        REMOVE,
        pw('SYSTEM', assume_isolated='mt'),
    ),
    # dft.parameters: copies of typed fields.
    (
        'pw-ecutwfc-copy',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.ecutwfc is set by dft.ecutwfc',
        'give it there',
        pw('SYSTEM', ecutwfc=20.0),
    ),
    (
        'pw-degauss-copy',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.degauss is set by dft.degauss',
        'give it there',
        pw('SYSTEM', degauss=0.5),
    ),
    (
        'pw-nspin-copy',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.nspin is set by dft.spin_polarised',
        'give it there',
        pw('SYSTEM', nspin=2),
    ),
    (
        'pw-conv-thr-copy',
        'dft parameters',
        'dft.parameters',
        'ELECTRONS.conv_thr is set by dft.conv_thr_per_atom',
        'give it there',
        pw('ELECTRONS', conv_thr=1e-6),
    ),
    (
        'pw-maxstep-copy',
        'dft parameters',
        'dft.parameters',
        'ELECTRONS.electron_maxstep is set by dft.electron_maxstep',
        'give it there',
        pw('ELECTRONS', electron_maxstep=5),
    ),
    # dft.parameters: unknown keys, types, options, ranges.
    (
        'pw-unknown-key',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.ecut_wfc: no such pw.x variable',
        "did you mean 'ecutwfc'",
        pw('SYSTEM', ecut_wfc=30),
    ),
    (
        'pw-wrong-namelist',
        'dft parameters',
        'dft.parameters',
        'mixing_beta belongs to namelist ELECTRONS',
        'move it there',
        pw('SYSTEM', mixing_beta=0.3),
    ),
    (
        'pw-indexed-key',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.starting_charge(1)',
        'give indexed variables as a mapping',
        pw('SYSTEM', **{'starting_charge(1)': 0.1}),
    ),
    (
        'pw-nbnd-zero',
        'dft parameters',
        'dft.parameters',
        'SYSTEM.nbnd = 0 is outside [1, 100000]',
        'outside [1,',
        pw('SYSTEM', nbnd=0),
    ),
    (
        'pw-nbnd-text',
        'dft parameters',
        'dft.parameters',
        "SYSTEM.nbnd = '20' must be an integer",
        'must be an integer',
        pw('SYSTEM', nbnd='20'),
    ),
    (
        'pw-mixing-beta-high',
        'dft parameters',
        'dft.parameters',
        'ELECTRONS.mixing_beta = 1.5 is outside (0, 1]',
        'outside (0, 1]',
        pw('ELECTRONS', mixing_beta=1.5),
    ),
    (
        'pw-mixing-beta-bool',
        'dft parameters',
        'dft.parameters',
        'ELECTRONS.mixing_beta = True must be a number',
        'must be a number',
        pw('ELECTRONS', mixing_beta=True),
    ),
    (
        'pw-occupations-tetra',
        'dft parameters',
        'dft.parameters',
        'tetrahedron occupations are not variational',
        "use 'smearing'",
        pw('SYSTEM', occupations='tetrahedra'),
    ),
    (
        'pw-occupations-typo',
        'dft parameters',
        'dft.parameters',
        "SYSTEM.occupations = 'smear' is not a pw.x option",
        'allowed: fixed',
        pw('SYSTEM', occupations='smear'),
    ),
    (
        'pw-diagonalization',
        'dft parameters',
        'dft.parameters',
        "'davidson' is not a pw.x option",
        'allowed:',
        pw('ELECTRONS', diagonalization='davidson'),
    ),
    (
        'pw-nosym-text',
        'dft parameters',
        'dft.parameters',
        "SYSTEM.nosym = 'yes' must be true or false",
        'true or false',
        pw('SYSTEM', nosym='yes'),
    ),
    (
        'pw-dry-run',
        'dft parameters',
        'dft.parameters',
        'CONTROL.nstep = 0 is outside',
        'outside [1,',
        pw('CONTROL', nstep=0),
    ),
    # training.extra_input.
    (
        'pace-data-file',
        'extra input',
        'training.extra_input',
        'data.filename names a file or folder',
        REMOVE,
        pace(data={'filename': '/home/me/other.pckl.gzip'}),
    ),
    (
        'pace-test-file',
        'extra input',
        'training.extra_input',
        'data.test_filename names a file or folder',
        REMOVE,
        pace(data={'test_filename': 'test.pckl.gzip'}),
    ),
    (
        'pace-datapath',
        'extra input',
        'training.extra_input',
        'data.datapath names a file or folder',
        REMOVE,
        pace(data={'datapath': '../data'}),
    ),
    (
        'pace-potential-file',
        'extra input',
        'training.extra_input',
        'potential.filename names a file or folder',
        REMOVE,
        pace(potential={'filename': 'old.yaml'}),
    ),
    (
        'pace-initial-potential',
        'extra input',
        'training.extra_input',
        'potential.initial_potential names a file or folder',
        REMOVE,
        pace(potential={'initial_potential': 'old.yaml'}),
    ),
    (
        'pace-weights-file',
        'extra input',
        'training.extra_input',
        'fit.weighting.filename names a file or folder',
        REMOVE,
        pace(fit={'weighting': {'type': 'EnergyBasedWeightingPolicy', 'filename': 'w.pckl.gzip'}}),
    ),
    (
        'pace-callbacks',
        'extra input',
        'training.extra_input',
        'fit.callbacks imports and runs Python functions',
        REMOVE,
        pace(fit={'callbacks': ['os.system']}),
    ),
    (
        'pace-l2-copy',
        'extra input',
        'training.extra_input',
        'fit.loss.L2_coeffs is set by training.l2_regularization',
        'give it there',
        pace(fit={'loss': {'L2_coeffs': 1e-3}}),
    ),
    (
        'pace-maxiter-copy',
        'extra input',
        'training.extra_input',
        'fit.maxiter is set by training.maxiter',
        'give it there',
        pace(fit={'maxiter': 10}),
    ),
    (
        'pace-batch-copy',
        'extra input',
        'training.extra_input',
        'backend.batch_size is set by training.batch_size',
        'give it there',
        pace(backend={'batch_size': 4}),
    ),
    (
        'pace-rcut-copy',
        'extra input',
        'training.extra_input',
        'potential.bonds.ALL.rcut is set by training.cutoff',
        'give it there',
        pace(potential={'bonds': {'ALL': {'rcut': 7.0}}}),
    ),
    (
        'pace-repulsion-auto',
        'extra input',
        'training.extra_input',
        'fit.repulsion is set by training.repulsion',
        'give it there',
        pace(fit={'repulsion': 'auto'}),
    ),
    (
        'pace-generated-override',
        'extra input',
        'training.extra_input',
        'potential.bonds.ALL.dcut overrides a value the generated input sets',
        'in training.extra_input_overrides',
        pace(potential={'bonds': {'ALL': {'dcut': 0.05}}}),
    ),
    (
        'pace-unknown-key',
        'extra input',
        'training.extra_input',
        'fit.ladder_stepp: pacemaker reads no such key',
        'known: callbacks',
        pace(fit={'ladder_stepp': 5}),
    ),
    (
        'pace-fit-cycles',
        'extra input',
        'training.extra_input',
        'fit.fit_cycles = 0 is outside [1, 100]',
        'outside [1,',
        pace(fit={'fit_cycles': 0}),
    ),
    (
        'pace-ladder-type',
        'extra input',
        'training.extra_input',
        "fit.ladder_type = 'random' is not one of",
        'body_order, power_order',
        pace(fit={'ladder_type': 'random'}),
    ),
    (
        'pace-metadata-reference',
        'extra input',
        'training.extra_input',
        'metadata.reference_energy is written by the fit',
        REMOVE,
        pace(metadata={'reference_energy': '{}'}),
    ),
    (
        'pace-override-unused',
        'extra input',
        'training',
        "lists ['fit.maxiter'], which training.extra_input does not",
        'remove them or set those keys',
        cfg(**{'training.extra_input_overrides': ['fit.maxiter']}),
    ),
    # Physics across sections.
    (
        'lattice-overlap',
        'cross-field physics',
        'target.lattice_constant',
        'the atoms overlap',
        'give the lattice constant of the conventional cell',
        cfg(**{'target.lattice_constant': 1.0}),
    ),
    (
        'rocksalt-overlap',
        'cross-field physics',
        'target.lattice_constant',
        'O-Mg neighbours 0.75 Å apart',
        'give the lattice constant',
        cfg(target={'elements': ['Mg', 'O'], 'prototype': 'rocksalt', 'lattice_constant': 1.5}),
    ),
    (
        'hcp-flat',
        'cross-field physics',
        'target.c_over_a',
        'the atoms overlap',
        'give c/a near the ideal',
        cfg(target={'elements': ['Mg'], 'prototype': 'hcp', 'c_over_a': 0.2}),
    ),
    (
        'cutoff-short-of-neighbours',
        'cross-field physics',
        'training.cutoff',
        'does not reach the nearest neighbours',
        'raise training.cutoff',
        cfg(**{'target.lattice_constant': 20.0}),
    ),
    (
        'supercell-too-small',
        'cross-field physics',
        'target.supercell_atoms',
        'cannot hold all 3 elements',
        'give at least 3',
        cfg(target={'elements': ['Si', 'Ge', 'C'], 'prototype': 'diamond', 'supercell_atoms': [2]}),
    ),
    (
        'first-fit-budget',
        'cross-field physics',
        'loop.dft_budget',
        'the first fit needs at least',
        'or lower training.functions_per_element',
        cfg(**{'loop.dft_budget': 2}),
    ),
    (
        'first-fit-budget-large-basis',
        'cross-field physics',
        'loop.dft_budget',
        'the first fit needs at least 23 labels',
        'Raise loop.dft_budget',
        cfg(**{'loop.dft_budget': 20, 'training.functions_per_element': 200}),
    ),
    (
        'calibrated-gamma-above-halt',
        'cross-field physics',
        'uncertainty.bounds',
        'not below exploration.gamma_upper',
        'lower the upper bound',
        cfg(**{'uncertainty.calibrate': True, 'uncertainty.bounds': [1.5, 8.0], 'exploration.gamma_upper': 6.0}),
    ),
    (
        'extraction-above-halt',
        'cross-field physics',
        'exploration.extraction.gamma_threshold',
        'above exploration.gamma_upper',
        'give a threshold at most gamma_upper',
        cfg(**{'exploration.extraction.gamma_threshold': 20.0}),
    ),
    (
        'validation-md-steps',
        'cross-field physics',
        'validation.md_steps',
        'not a multiple of the gamma interval',
        'make it a multiple',
        cfg(**{'validation.md_steps': 1005}),
    ),
    (
        'md-steps-vs-gamma',
        'cross-field physics',
        'exploration',
        'must be a multiple of the gamma interval',
        'set gamma_interval',
        cfg(**{'exploration.n_steps': 1005}),
    ),
    # The benchmark oracle: only through its own section.
    (
        'oracle-old-place',
        'benchmark',
        'dft.oracle',
        'moved to benchmark.oracle',
        'benchmark: {oracle: emt}',
        cfg(**{'dft.oracle': 'emt'}),
    ),
    (
        'oracle-uncovered',
        'benchmark',
        'benchmark.oracle',
        "oracle 'emt' has no parameters for ['Si']",
        'it covers',
        cfg(**{'benchmark.oracle': 'emt'}),
    ),
    (
        'oracle-unknown',
        'benchmark',
        'benchmark.oracle',
        "Input should be 'emt'",
        'emt',
        cfg(**{'benchmark.oracle': 'lj'}),
    ),
]
