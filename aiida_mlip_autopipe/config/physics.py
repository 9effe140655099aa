"""Checks across sections that would otherwise fail mid-run, after DFT has been paid for, or never.

Each returns ``(dotted field, message)`` for the first field it finds wrong; ``MLIPConfig``
raises it at ``validate`` time so the error names the field. Pure: numbers and ASE, no AiiDA.

- **lattice**: the prototype built with ``target.lattice_constant`` (and ``c_over_a``) must not put
  atoms closer than half the sum of their covalent radii, and the ACE cutoff must reach its nearest
  neighbours (a potential that sees no neighbour fits nothing);
- **supercells**: every supercell of ``target.supercell_atoms`` must hold every element of the target;
- **first fit**: the DFT budget (minus the held-out labels) must allow enough labels of the rarest
  element for the first fit's active set (``pace_activeset`` needs at least ``functions_per_element``
  environments per element). A lower bound: the largest supercells, no test split; an initial
  training set given to the work chain is not counted (the config does not know it);
- **gamma**: a calibrated ``gamma_lower`` must stay below ``gamma_upper`` (the MD input refuses
  otherwise), and the extraction threshold must be reachable below the halt;
- **validation MD**: ``validation.md_steps`` must be a multiple of the exploration's gamma interval,
  the same rule the MD input applies to ``n_steps``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ('cross_field_problem',)

#: Atoms closer than this fraction of the sum of their covalent radii overlap.
OVERLAP_FRACTION = 0.5


def _primitive(config: Any) -> Any:
    """The primitive cell of the target's prototype (ASE ``Atoms``), or None without a prototype."""
    target = config.target
    if target.prototype is None:
        return None
    from aiida_mlip_autopipe.candidates.bulk import build_primitive

    lattice = list(getattr(target, 'lattice_elements', target.elements))
    try:
        return build_primitive(target.prototype, lattice, target.lattice_constant, target.c_over_a, target.composition)
    except (ValueError, KeyError):
        return None  # no reference data for a default: the candidate builder says so with its own message


def _lattice(config: Any) -> tuple[str, str] | None:
    target = config.target
    primitive = _primitive(config)
    if primitive is None:
        return None
    from ase.data import atomic_numbers, covalent_radii
    from ase.neighborlist import neighbor_list

    lattice = list(getattr(target, 'lattice_elements', target.elements))
    _, _, distances = neighbor_list('ijd', primitive, 12.0)
    nearest = float('inf') if len(distances) == 0 else float(distances.min())
    radii = sorted((covalent_radii[atomic_numbers[e]], e) for e in lattice)
    if len(lattice) == 1 or target.prototype in ('rocksalt', 'zincblende', 'cesiumchloride', 'fluorite', 'wurtzite'):
        (small, first), (large, second) = radii[0], radii[-1]
        pair, contact = f'{first}-{second}', small + large
    else:  # an alloy on one lattice: any two elements can be neighbours, the two largest the worst
        (r1, first), (r2, second) = radii[-1], radii[-2]
        pair, contact = f'{first}-{second}', r1 + r2
    a = target.lattice_constant
    shown = f'{a} Å' if a is not None else 'the default (reference data)'
    if nearest < OVERLAP_FRACTION * contact:
        field = 'target.lattice_constant'
        if target.c_over_a is not None and _ideal_nearest(config) >= OVERLAP_FRACTION * contact:
            field = 'target.c_over_a'  # the ideal c/a would not overlap: the given ratio does
        fix = (
            'give c/a near the ideal 1.633 (or leave it unset)'
            if field == 'target.c_over_a'
            else 'give the lattice constant of the conventional cell in Å'
        )
        return (
            field,
            f'with a = {shown} (c/a {target.c_over_a or "ideal"}) the {target.prototype} lattice puts {pair} '
            f'neighbours {nearest:.2f} Å apart, less than {OVERLAP_FRACTION} x their covalent bond ({contact:.2f} Å): '
            f'the atoms overlap; {fix}',
        )
    cutoff = config.training.cutoff
    if nearest >= cutoff:
        return (
            'training.cutoff',
            f'the ACE cutoff ({cutoff} Å) does not reach the nearest neighbours of the {target.prototype} lattice '
            f'({nearest:.2f} Å with a = {shown}): the potential would see no neighbour; raise training.cutoff or '
            'check target.lattice_constant',
        )
    return None


def _ideal_nearest(config: Any) -> float:
    """The nearest-neighbour distance of the target's lattice with the ideal c/a."""
    from ase.neighborlist import neighbor_list

    ideal = _primitive(config.model_copy(update={'target': config.target.model_copy(update={'c_over_a': None})}))
    distances = neighbor_list('d', ideal, 12.0) if ideal is not None else []
    return float(min(distances)) if len(distances) else float('inf')


def _primitive_atoms(config: Any) -> int | None:
    primitive = _primitive(config)
    return None if primitive is None else len(primitive)


def _supercells(config: Any) -> tuple[str, str] | None:
    primitive = _primitive_atoms(config)
    if primitive is None:
        return None
    elements = list(getattr(config.target, 'lattice_elements', config.target.elements))
    for index, wanted in enumerate(config.target.supercell_atoms):
        atoms = max(1, math.ceil(wanted / primitive)) * primitive
        if atoms < len(elements):
            return (
                'target.supercell_atoms',
                f'entry {index}: a supercell of {wanted} atoms ({atoms} with {primitive}-atom '
                f'{config.target.prototype} cells) '
                f'cannot hold all {len(elements)} elements {elements}; give at least {len(elements)}',
            )
    return None


def _first_fit(config: Any) -> tuple[str, str] | None:
    primitive = _primitive_atoms(config)
    if primitive is None:
        return None
    composition = config.target.composition or {}
    lattice = list(getattr(config.target, 'lattice_elements', config.target.elements))
    shares = [composition.get(e, 1.0 / len(lattice)) for e in lattice]
    largest = max(max(1, math.ceil(n / primitive)) * primitive for n in config.target.supercell_atoms)
    # A lower bound, so that only a config that cannot work is refused: the most atoms of the rarest
    # element one label can bring (an interstitial adds one), and no test split.
    rarest = max(1, round(min(shares) * largest)) + 1
    functions = config.training.functions_per_element
    needed = math.ceil(functions / rarest)
    holdout = int(getattr(config.loop, 'holdout', 0) or 0)
    labels = config.loop.dft_budget - holdout
    if labels >= needed:
        return None
    held = f' minus {holdout} held-out labels' if holdout else ''
    return (
        'loop.dft_budget',
        f'the first fit needs at least {needed} labels: {functions} functions per element need as many atomic '
        f'environments of each element (pace_activeset), and a label brings at most {rarest} atoms of the rarest '
        f'element (supercells of up to {largest} atoms, plus an interstitial); the budget allows {labels} '
        f'(loop.dft_budget {config.loop.dft_budget}{held}). Raise loop.dft_budget or target.supercell_atoms, or '
        'lower training.functions_per_element',
    )


def _gamma(config: Any) -> tuple[str, str] | None:
    exploration = config.exploration
    uncertainty = config.uncertainty
    if uncertainty.calibrate and uncertainty.bounds[1] >= exploration.gamma_upper:
        return (
            'uncertainty.bounds',
            f'the calibrated gamma_lower may reach {uncertainty.bounds[1]}, not below exploration.gamma_upper '
            f'({exploration.gamma_upper}): the MD input would refuse it mid-run; lower the upper bound or raise '
            'exploration.gamma_upper',
        )
    threshold = exploration.extraction.gamma_threshold
    if threshold is not None and threshold > exploration.gamma_upper:
        return (
            'exploration.extraction.gamma_threshold',
            f'{threshold} is above exploration.gamma_upper ({exploration.gamma_upper}), where the MD halts: '
            'no dumped frame would have an atom to cut out; give a threshold at most gamma_upper',
        )
    return None


def _validation_md(config: Any) -> tuple[str, str] | None:
    validation = config.validation
    if not getattr(validation, 'enabled', True):
        return None
    exploration = config.exploration
    dump = min(exploration.dump_interval, validation.md_steps)
    every = exploration.gamma_interval or math.gcd(exploration.thermo_interval, dump)
    if validation.md_steps % every:
        return (
            'validation.md_steps',
            f'{validation.md_steps} is not a multiple of the gamma interval of the exploration MD ({every}): the '
            'validation MD input would be refused at the end of the run; make it a multiple',
        )
    return None


def cross_field_problem(config: Any) -> tuple[str, str] | None:
    """The first ``(field, message)`` of the checks above that ``config`` (an ``MLIPConfig``) fails, or None."""
    for check in (_lattice, _supercells, _first_fit, _gamma, _validation_md):
        problem = check(config)
        if problem is not None:
            return problem
    return None
