"""``training.extra_input`` checked as strictly as the typed fields of the ``training`` section.

The entries are deep-merged last into the generated pacemaker ``input.yaml``
(:func:`~aiida_mlip_autopipe.training.input.generate_input`). Every key must be one pacemaker
reads in its section (pacemaker's input documentation and pyace 0.4's readers), of the right
type and in a sane range. Refused, with what to do instead:

- keys that name files or folders (``data.filename``, ``data.test_filename``, ``data.datapath``,
  ``potential.filename``, ``potential.initial_potential``, an external weighting file): the
  calculation writes its own data and warm-start files from stored nodes, and a fit must not
  read files outside its provenance;
- keys that run code (``fit.callbacks`` imports and calls Python functions);
- keys a typed field sets (``fit.maxiter`` → ``training.maxiter``, ``backend.batch_size`` →
  ``training.batch_size``, ``bonds.*.rcut`` → ``training.cutoff``...): the typed field is checked
  and recorded, the copy would silently win over it;
- keys the generated input sets without a typed field (``potential.bonds.*.dcut``,
  ``potential.deltaSplineBins``, ``backend.evaluator``...), unless ``training.extra_input_overrides``
  lists them: overriding them is allowed, but only on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ('SECTIONS', 'check_extra_input', 'unused_overrides')

Check = Callable[[str, Any], str | None]


def _real(low: float, high: float, low_in: bool = True) -> Check:
    def check(where: str, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f'{where} = {value!r} must be a finite number'
        if not ((value >= low if low_in else value > low) and value <= high):
            return f'{where} = {value!r} is outside {"[" if low_in else "("}{low:g}, {high:g}]'
        return None

    return check


def _integer(low: int, high: int) -> Check:
    def check(where: str, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f'{where} = {value!r} must be an integer'
        if not low <= value <= high:
            return f'{where} = {value!r} is outside [{low}, {high}]'
        return None

    return check


def _boolean(where: str, value: Any) -> str | None:
    return None if isinstance(value, bool) else f'{where} = {value!r} must be true or false'


def _choice(*options: str) -> Check:
    def check(where: str, value: Any) -> str | None:
        return None if value in options else f'{where} = {value!r} is not one of {", ".join(options)}'

    return check


def _mapping(where: str, value: Any) -> str | None:
    return None if isinstance(value, Mapping) else f'{where} must be a mapping'


def _ladder_step(where: str, value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        integer = isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 100_000
        fraction = isinstance(item, float) and 0 < item < 1
        if not (integer or fraction):
            return f'{where} = {value!r}: give functions to add (integer >= 1), a fraction in (0, 1) or both in a list'
    return None


def _refuse(reason: str) -> Check:
    return lambda where, _value: f'{where} {reason}'


def _file(where: str, _value: Any) -> str:
    return f'{where} names a file or folder: the calculation writes its own files from stored nodes; remove it'


def _typed(field: str) -> Check:
    return lambda where, _value: f'{where} is set by {field}; give it there and remove it from training.extra_input'


#: Marks a key the generated input writes: allowed only when listed in ``training.extra_input_overrides``.
GENERATED = 'generated'
#: Block names of ``embeddings``, ``bonds`` and ``functions`` (elements and element combinations also go).
BLOCK_KEYWORDS = ('ALL', 'UNARY', 'BINARY', 'TERNARY', 'QUATERNARY', 'QUINARY')

EMBEDDING: dict[str, Any] = {
    'npot': _typed('training.embedding'),
    'fs_parameters': _typed('training.embedding and training.ndensity'),
    'ndensity': _typed('training.ndensity'),
    'rho_core_cut': _real(0, 1e7),
    'drho_core_cut': _real(0, 1e6),
}
BOND: dict[str, Any] = {
    'radbase': _typed('training.radial_basis'),
    'rcut': _typed('training.cutoff'),
    'r_in': _typed('training.repulsion.inner_cutoff'),
    'delta_in': _typed('training.repulsion.delta'),
    'core-repulsion': _typed('training.repulsion (the ZBL core repulsion is placed deliberately)'),
    'inner_cutoff_type': _typed('training.repulsion (the ZBL core repulsion is placed deliberately)'),
    'radparameters': (GENERATED, lambda w, v: None if isinstance(v, list) else f'{w} must be a list of numbers'),
    'dcut': (GENERATED, _real(0, 1, low_in=False)),
    'NameOfCutoffFunction': (GENERATED, _choice('cos', 'cos_poly')),
}
FUNCTION_BLOCK: dict[str, Any] = {
    'nradmax_by_orders': _typed('training.nradmax_by_orders'),
    'lmax_by_orders': _typed('training.lmax_by_orders'),
    'coefs_init': _choice('zero', 'random'),
}
LOSS: dict[str, Any] = {
    'kappa': _typed('training.energy_weight and training.force_weight'),
    'L1_coeffs': _typed('training.l1_regularization'),
    'L2_coeffs': _typed('training.l2_regularization'),
    **{key: _real(0, 1e3) for key in ('w0_rad', 'w1_rad', 'w2_rad', 'w1_coeffs', 'w2_coeffs', 'w_orth')},
}
WEIGHTING: dict[str, Any] = {
    'type': _choice('EnergyBasedWeightingPolicy'),
    'filename': _file,
    'nfit': _integer(1, 10_000_000),
    **{key: _real(0, 1e4) for key in ('DEup', 'DFup', 'DElow', 'DE', 'DF')},
    'wlow': _real(0, 1),
    'energy': _choice('convex_hull', 'cohesive'),
    'reftype': _choice('all', 'bulk', 'cluster'),
    'seed': _integer(0, 2**32 - 1),
}

#: Every key of every section: a check, a nested table, or ``(GENERATED, check)``.
SECTIONS: dict[str, dict[str, Any]] = {
    'potential': {
        'filename': _file,
        'initial_potential': _file,
        'elements': _refuse('is set from the elements of the training set; remove it'),
        'element': _refuse('is set from the elements of the training set; remove it'),
        'metadata': _refuse('goes to the top-level metadata section of extra_input'),
        'deltaSplineBins': (GENERATED, _real(0, 0.1, low_in=False)),
        'embeddings': ('blocks', EMBEDDING),
        'bonds': ('blocks', BOND),
        'functions': (
            'blocks',
            FUNCTION_BLOCK,
            {'number_of_functions_per_element': _typed('training.functions_per_element')},
        ),
        'reset': _boolean,
        'func_coefs_init': _choice('zero', 'random'),
        'overwrite_blocks_from_initial_bbasis': _boolean,
    },
    'data': {
        'filename': _file,
        'test_filename': _file,
        'datapath': _file,
        'cache_ref_df': _file,
        'test_size': _typed('training.test_fraction'),
        'reference_energy': _typed('training.reference_energy'),
        'seed': _typed('training.seed'),
        'ignore_weights': _refuse('would drop the force weights of cut-out buffer atoms (buffer_force_weight)'),
        'aug_factor': _real(0, 1, low_in=False),
    },
    'fit': {
        'loss': LOSS,
        'weighting': WEIGHTING,
        'optimizer': _typed('training.optimizer'),
        'maxiter': _typed('training.maxiter'),
        'repulsion': _typed('training.repulsion (pacemaker\'s "auto" puts the switching region where MD goes)'),
        'callbacks': _refuse('imports and runs Python functions, a command outside the provenance; remove it'),
        'options': _mapping,
        'optimizer_options': _mapping,
        'trainable_parameters': lambda w, v: None if isinstance(v, str | list | Mapping) else f'{w} is malformed',
        'fit_cycles': _integer(1, 100),
        'noise_relative_sigma': _real(0, 1),
        'noise_absolute_sigma': _real(0, 1),
        'randomize_func_coeffs': _real(0, 1),
        'ladder_step': _ladder_step,
        'ladder_type': _choice('body_order', 'power_order'),
        'min_relative_train_loss_per_iter': _real(0, 1),
        'min_relative_test_loss_per_iter': _real(0, 1),
        'early_stopping_patience': _integer(1, 1_000_000),
    },
    'backend': {
        'evaluator': (GENERATED, _choice('tensorpot', 'pyace')),
        'batch_size': _typed('training.batch_size'),
        'display_step': _typed('training.display_step'),
        'batch_size_reduction': _boolean,
        'batch_size_reduction_factor': _real(1, 10, low_in=False),
        'gpu_config': _mapping,
        'parallel_mode': _choice('serial', 'process'),
        'n_workers': _integer(1, 1024),
    },
}
#: Top-level keys of the generated input that are not sections.
TOP_LEVEL: dict[str, Check] = {
    'seed': _typed('training.seed'),
    'cutoff': _typed('training.cutoff (pacemaker deduces its cutoff from the bonds)'),
}
#: Metadata keys the fit writes or reads back (the reference energies of warm starts).
METADATA_OWNED = ('reference_energy', 'origin', 'warm_start', 'starttime', 'user', '_loss', 'intermediate_time')


def _walk(table: Mapping[str, Any], data: Mapping[str, Any], path: str, overrides: set[str]) -> list[str]:
    problems: list[str] = []
    for key, value in data.items():
        where = f'{path}.{key}'
        spec = table.get(key)
        if spec is None:
            allowed = ', '.join(sorted(table))
            problems.append(f'{where}: pacemaker reads no such key here (known: {allowed})')
            continue
        if isinstance(spec, tuple) and spec[0] == GENERATED:
            if where not in overrides and not _listed(where, overrides):
                problems.append(
                    f'{where} overrides a value the generated input sets; list "{where}" in '
                    'training.extra_input_overrides to do it on purpose'
                )
                continue
            spec = spec[1]
        if isinstance(spec, tuple) and spec[0] == 'blocks':
            problems += _blocks(spec, value, where, overrides)
        elif isinstance(spec, dict):
            problems += (
                _walk(spec, value, where, overrides) if isinstance(value, Mapping) else [f'{where} must be a mapping']
            )
        else:
            problem = spec(where, value)
            if problem:
                problems.append(problem)
    return problems


def _listed(where: str, overrides: set[str]) -> bool:
    """``potential.bonds.ALL.dcut`` is listed as itself or with ``*`` for the block (``potential.bonds.*.dcut``)."""
    parts = where.split('.')
    return len(parts) == 4 and '.'.join([parts[0], parts[1], '*', parts[3]]) in overrides


def _blocks(spec: tuple, value: Any, where: str, overrides: set[str]) -> list[str]:
    if not isinstance(value, Mapping):
        return [f'{where} must be a mapping of blocks ({", ".join(BLOCK_KEYWORDS)} or elements)']
    table, extra = spec[1], (spec[2] if len(spec) > 2 else {})
    problems: list[str] = []
    for block, entry in value.items():
        if block in extra:
            problems += _walk(extra, {block: entry}, where, overrides)
        elif not isinstance(entry, Mapping):
            problems.append(f'{where}.{block} must be a mapping')
        else:
            problems += _walk(table, entry, f'{where}.{block}', overrides)
    return problems


def check_extra_input(extra: Mapping[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every problem of ``training.extra_input``, each naming ``<section>.<key>`` and the fix."""
    problems: list[str] = []
    wanted = set(overrides)
    for section, value in extra.items():
        where = section
        if section in TOP_LEVEL:
            problems.append(TOP_LEVEL[section](where, value) or '')
        elif section == 'metadata':
            if not isinstance(value, Mapping):
                problems.append(f'{where} must be a mapping of names to text')
                continue
            for key, item in value.items():
                if key in METADATA_OWNED:
                    problems.append(f'{where}.{key} is written by the fit (and read back on warm starts); remove it')
                elif not isinstance(item, str | int | float) or isinstance(item, bool):
                    problems.append(f'{where}.{key} = {item!r} must be text or a number')
        elif section in SECTIONS:
            if not isinstance(value, Mapping):
                problems.append(f'{where} must be a mapping')
            else:
                problems += _walk(SECTIONS[section], value, where, wanted)
    return [p for p in problems if p]


def unused_overrides(extra: Mapping[str, Any], overrides: list[str] | tuple[str, ...]) -> list[str]:
    """The keys of ``training.extra_input_overrides`` that ``extra_input`` does not set (a typo, or a leftover)."""
    return sorted(o for o in set(overrides) if not _reaches(o, extra))


def _reaches(dotted: str, extra: Mapping[str, Any]) -> bool:
    """Whether ``extra`` sets the dotted key (``*`` stands for any block)."""

    def walk(node: Any, parts: list[str]) -> bool:
        if not parts:
            return True
        if not isinstance(node, Mapping):
            return False
        head, rest = parts[0], parts[1:]
        if head == '*':
            return any(walk(child, rest) for child in node.values())
        return head in node and walk(node[head], rest)

    return walk(extra, dotted.split('.'))
