"""Pacemaker's ``input.yaml`` from the training settings and the statistics of the data set.

The one place where a :class:`~aiida_mlip_autopipe.training.config.TrainingConfig` becomes a
pacemaker input: basis shape, embedding, the deliberately placed short-range repulsion,
loss weights, optimizer, test split, reference energies and the warm start. Pure and
deterministic, so the stored settings of a fit reproduce its input exactly.

Warm starts (``initial`` given):

- *upfit* — the previous potential has at least as many functions per element as asked:
  pacemaker continues from it (``potential: {filename: ...}``), keeping its basis.
- *ladder* — more functions are asked for: the target basis is built from the settings
  and the previous potential is its starting point (``potential.initial_potential``);
  pacemaker adds the missing functions and fits.
- *cold start* with a note — the previous potential cannot seed this fit (different
  cutoff or elements).

Reference energies fitted by the first generation (``reference_energy: auto``) are passed
on explicitly, so every generation fits energies relative to the same references.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .repulsion import (
    PairRepulsion,
    bond_repulsion_entry,
    pacemaker_pair_name,
    repulsion_for_pairs,
)

if TYPE_CHECKING:
    from aiida_mlip_autopipe.training.config import TrainingConfig

    from .potential_file import PotentialSummary
    from .statistics import DatasetStatistics

__all__ = ('GeneratedInput', 'active_set_capacity', 'deep_merge', 'embedding_parameters', 'generate_input')

#: Pacemaker's template basis shape (nradmax, lmax per body order) for blocks of 1, 2, 3 and more species.
DEFAULT_FUNCTIONS = {
    'UNARY': {'nradmax_by_orders': [15, 6, 4, 3, 2, 2], 'lmax_by_orders': [0, 3, 3, 2, 2, 1]},
    'BINARY': {'nradmax_by_orders': [15, 6, 3, 2, 2, 1], 'lmax_by_orders': [0, 3, 2, 1, 1, 0]},
    'TERNARY': {'nradmax_by_orders': [15, 3, 3, 2, 1], 'lmax_by_orders': [0, 2, 2, 1, 1]},
    'ALL': {'nradmax_by_orders': [15, 3, 2, 1, 1], 'lmax_by_orders': [0, 2, 2, 1, 1]},
}
#: Exponents of the Finnis–Sinclair densities, one per density (pacemaker's usual choices first).
FS_EXPONENTS = (1.0, 0.5, 2.0, 0.75, 0.25, 1.5, 0.125, 3.0)
#: pace_activeset drops atoms with outlying force errors before MaxVol; keep this fraction as margin.
ACTIVE_SET_MARGIN = 0.8
#: Radial-basis scale parameter of pacemaker's template.
RADIAL_PARAMETER = 5.25


def active_set_capacity(atoms: int, train_fraction: float) -> float:
    """Most basis functions per element that ``pace_activeset`` can fill from ``atoms`` of that element.

    The training share of the atoms, less the margin of atoms it drops as outliers: the one rule
    behind the note of :func:`generate_input` and the cap of the final refit's basis.
    """
    return ACTIVE_SET_MARGIN * train_fraction * atoms


@dataclass
class GeneratedInput:
    """The input.yaml content and the decisions behind it."""

    input: dict[str, Any]
    repulsion: dict[str, PairRepulsion]
    warm_start: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-compatible record of the decisions (stored with the calculation)."""
        return {
            'warm_start': self.warm_start,
            'repulsion': {k: v.as_dict() for k, v in self.repulsion.items()},
            'notes': list(self.notes),
        }


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``extra`` (dicts merge, everything else replaces); a new dict."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def embedding_parameters(config: TrainingConfig) -> dict[str, Any]:
    """The pacemaker ``embeddings: ALL`` entry for the configured embedding."""
    if config.embedding == 'linear':
        npot, ndensity = 'FinnisSinclairShiftedScaled', 1
        fs_parameters = [1.0, 1.0]
    else:
        npot, ndensity = config.embedding, config.ndensity
        fs_parameters = []
        for exponent in FS_EXPONENTS[:ndensity]:
            fs_parameters += [1.0, exponent]
    return {'npot': npot, 'fs_parameters': fs_parameters, 'ndensity': ndensity}


def _potential_section(config: TrainingConfig, elements: list[str], pairs: Mapping[str, PairRepulsion]) -> dict:
    bonds: dict[str, Any] = {
        'ALL': {
            'radbase': config.radial_basis,
            'radparameters': [RADIAL_PARAMETER],
            'rcut': config.cutoff,
            'dcut': 0.01,
            'NameOfCutoffFunction': 'cos',
        }
    }
    for key, repulsion in pairs.items():
        bonds[pacemaker_pair_name(key)] = bond_repulsion_entry(repulsion)
    functions: dict[str, Any] = {'number_of_functions_per_element': config.functions_per_element}
    if config.nradmax_by_orders is not None:
        functions['ALL'] = {
            'nradmax_by_orders': list(config.nradmax_by_orders),
            'lmax_by_orders': list(config.lmax_by_orders or []),
        }
    else:
        for kind, shape in DEFAULT_FUNCTIONS.items():
            if (kind == 'BINARY' and len(elements) < 2) or (kind == 'TERNARY' and len(elements) < 3):
                continue
            if kind == 'ALL' and len(elements) < 4:
                continue
            functions[kind] = copy.deepcopy(shape)
    return {
        'deltaSplineBins': 0.001,
        'elements': list(elements),
        'embeddings': {'ALL': embedding_parameters(config)},
        'bonds': bonds,
        'functions': functions,
    }


def _warm_start_mode(
    config: TrainingConfig, elements: list[str], initial: PotentialSummary | None, notes: list[str]
) -> str | None:
    if initial is None:
        return None
    if not config.warm_start:
        notes.append('initial potential given but warm_start is off: cold start')
        return None
    if initial.elements != elements:
        notes.append(f'cold start: initial potential has elements {initial.elements}, the data {elements}')
        return None
    if initial.cutoff is None or abs(initial.cutoff - config.cutoff) > 1e-6:
        notes.append(f'cold start: initial potential cutoff {initial.cutoff} A differs from cutoff {config.cutoff} A')
        return None
    fewest = min(initial.functions_per_element.get(e, 0) for e in elements)
    if fewest < config.functions_per_element:
        notes.append(
            f'ladder warm start: initial potential has {fewest} functions per element, '
            f'{config.functions_per_element} are asked for'
        )
        return 'ladder'
    return 'upfit'


def generate_input(
    config: TrainingConfig,
    statistics: DatasetStatistics,
    *,
    data_filename: str,
    test_filename: str | None = None,
    initial: PotentialSummary | None = None,
    initial_filename: str | None = None,
) -> GeneratedInput:
    """The pacemaker input for fitting ``config`` to a data set described by ``statistics``.

    ``data_filename``/``test_filename`` are the DataFrame files the job writes;
    ``initial``/``initial_filename`` describe the previous generation's potential for a
    warm start (the caller writes it, with the repulsion of ``result.repulsion``
    applied, under ``initial_filename``).
    """
    if not statistics.elements or statistics.num_frames == 0:
        raise ValueError('the training set is empty: nothing to fit')
    if initial is not None and initial_filename is None:
        raise ValueError('initial_filename is needed with an initial potential')
    elements = list(statistics.elements)
    notes: list[str] = []
    pairs = repulsion_for_pairs(config.repulsion, elements, statistics.min_distance)
    mode = _warm_start_mode(config, elements, initial, notes)

    if mode == 'upfit':
        potential: dict[str, Any] = {'filename': initial_filename}
    else:
        potential = _potential_section(config, elements, pairs)
        if mode == 'ladder':
            potential['initial_potential'] = initial_filename

    data: dict[str, Any] = {'filename': data_filename}
    if test_filename is not None:
        data['test_filename'] = test_filename
    elif int(statistics.num_frames * config.test_fraction) >= 1:
        # pacemaker holds out int(n * test_size) frames and crashes on an empty test set
        # (test_size 0, or too few frames), so the key is only written for a real split.
        data['test_size'] = config.test_fraction
    elif config.test_fraction > 0:
        notes.append(
            f'no test split: {statistics.num_frames} frames x test_fraction {config.test_fraction} '
            'is less than one frame'
        )
    if isinstance(config.reference_energy, dict):
        data['reference_energy'] = dict(config.reference_energy)
    elif mode is not None and initial is not None and initial.reference_energy:
        data['reference_energy'] = dict(initial.reference_energy)
        notes.append('reference energies taken from the initial potential')
    else:
        data['reference_energy'] = 'auto'
        if mode is not None and initial is not None:
            notes.append('the initial potential records no reference energies: reference_energy auto for this fit')

    document = {
        'seed': config.seed,
        'metadata': {'origin': 'aiida-mlip-autopipe PacemakerCalculation', 'warm_start': str(mode or 'none')},
        'potential': potential,
        'data': data,
        'fit': {
            'loss': {
                'kappa': round(config.kappa, 10),
                'L1_coeffs': config.l1_regularization,
                'L2_coeffs': config.l2_regularization,
            },
            'optimizer': config.optimizer,
            'maxiter': config.maxiter,
        },
        'backend': {'evaluator': 'tensorpot', 'batch_size': config.batch_size, 'display_step': config.display_step},
    }
    train_fraction = 1.0 if test_filename is not None else 1.0 - data.get('test_size', 0.0)
    for element, count in statistics.atoms_per_element.items():
        if mode != 'upfit' and config.functions_per_element > active_set_capacity(count, train_fraction):
            notes.append(
                f'{element}: {config.functions_per_element} functions but only ~{int(train_fraction * count)} '
                'atoms to fit; pace_activeset needs at least as many atoms as functions per element'
            )
    if config.extra_input:
        document = deep_merge(document, config.extra_input)
        notes.append(f'extra_input merged: {sorted(config.extra_input)}')
    return GeneratedInput(input=document, repulsion=pairs, warm_start=mode, notes=notes)
