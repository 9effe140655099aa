"""What the loop asks of its children: the stage jobs, the MD runs of a generation, the fit, the validation MD.

Pure functions of the config (and of the loop's current gamma threshold), so the seeds,
call link labels and settings of every child can be checked without running one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiida import orm

__all__ = (
    'ONE_CORE',
    'calibration_inputs',
    'evaluation_inputs',
    'extraction_inputs',
    'extraction_settings',
    'final_basis_size',
    'final_fit_inputs',
    'fit_inputs',
    'fit_settings',
    'md_inputs',
    'md_runs',
    'phase_references',
    'scoring_inputs',
    'screening_inputs',
    'selection_inputs',
    'untrained_basis_section',
    'validation_md_inputs',
    'validation_md_settings',
)

#: Resources of the fit and MD jobs: one core each (the labelling runs several pw.x at once).
ONE_CORE = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}


def md_runs(cfg: Any, generation: int, start_keys: Iterable[str], gamma_lower: float) -> list[tuple[str, str, dict]]:
    """``(call link label, start cell key, settings)`` of every MD of ``generation``.

    One run per temperature, pressure (NPT only) and start cell, each with its own seed;
    the dump threshold follows the gamma calibration of earlier generations.
    """
    ex = cfg.exploration
    pressures = ex.pressures if ex.ensemble == 'npt' else [None]
    runs = []
    i = 0
    for temperature in ex.temperatures:
        for pressure in pressures:
            for key in sorted(start_keys):
                settings = ex.md_settings(
                    temperature,
                    cfg.seed + 1000 * generation + i,
                    pressure=pressure,
                    stable_fraction=cfg.loop.stable_fraction,
                )
                settings['gamma_lower'] = min(gamma_lower, 0.999 * settings['gamma_upper'])
                label = f'md_gen{generation:02d}_T{int(temperature)}' + (
                    f'_P{int(pressure)}' if pressure is not None else ''
                )
                runs.append((f'{label}_{key}', key, settings))
                i += 1
    return runs


def fit_settings(cfg: Any, attempt: int) -> dict[str, Any]:
    """The ``settings`` of a ``PacemakerCalculation``: the ``training`` section, a new seed per retry."""
    settings = cfg.training.model_dump(mode='json')
    settings['seed'] = cfg.training.seed + attempt
    return settings


def validation_md_settings(cfg: Any) -> dict[str, Any]:
    """The stability MD of validation: ``validation.md_steps`` at the highest exploration temperature."""
    ex = cfg.exploration.model_copy(
        update={
            'n_steps': cfg.validation.md_steps,
            'dump_interval': min(cfg.exploration.dump_interval, cfg.validation.md_steps),
        }
    )
    return ex.md_settings(max(ex.temperatures), cfg.seed + 4242)


def fit_inputs(
    cfg: Any,
    generation: int,
    attempt: int,
    code: orm.AbstractCode,
    training_set: orm.Data,
    initial_potential: orm.Data | None,
) -> dict[str, Any]:
    """The inputs of the ``attempt``-th ``PacemakerCalculation`` of ``generation`` (warm start from a potential)."""
    inputs = {
        'code': code,
        'training_set': training_set,
        'settings': orm.Dict(fit_settings(cfg, attempt)),
        'metadata': {
            'call_link_label': f'train_gen{generation:02d}' + (f'_retry{attempt}' if attempt else ''),
            'options': {'resources': ONE_CORE, 'max_wallclock_seconds': cfg.training.max_wallclock_seconds},
        },
    }
    if initial_potential is not None:
        inputs['initial_potential'] = initial_potential
    return inputs


def md_inputs(
    cfg: Any,
    generation: int,
    starts: Mapping[str, orm.StructureData],
    potential: orm.Data,
    code: orm.AbstractCode,
    gamma_lower: float,
) -> dict[str, dict[str, Any]]:
    """The inputs of every ``LammpsCalculation`` of ``generation``, by call link label (see :func:`md_runs`)."""
    options = {'resources': ONE_CORE, 'max_wallclock_seconds': cfg.exploration.max_wallclock_seconds}
    return {
        label: {
            'code': code,
            'structure': starts[key],
            'potential': potential,
            'settings': orm.Dict(settings),
            'metadata': {'call_link_label': label, 'options': options},
        }
        for label, key, settings in md_runs(cfg, generation, starts, gamma_lower)
    }


def validation_md_inputs(
    cfg: Any, starts: Mapping[str, orm.StructureData], potential: orm.Data, code: orm.AbstractCode
) -> dict[str, Any]:
    """The inputs of the stability ``LammpsCalculation`` of validation, on the first start cell."""
    return {
        'code': code,
        'structure': starts[sorted(starts)[0]],
        'potential': potential,
        'settings': orm.Dict(validation_md_settings(cfg)),
        'metadata': {'call_link_label': 'md_validation', 'options': {'resources': ONE_CORE}},
    }


def extraction_settings(cfg: Any, gamma_lower: float, generation: int) -> dict[str, Any]:
    """The ``settings`` of ``extract_uncertain_environments`` after the MD of ``generation``.

    The candidates it cuts belong to the next generation; the threshold is the loop's current one.
    """
    return cfg.exploration.extraction.settings(
        cfg.training.cutoff, gamma_lower, cfg.training.buffer_force_weight, generation + 1
    )


def _job(code: orm.AbstractCode, label: str, **inputs: Any) -> dict[str, Any]:
    return {'code': code, **inputs, 'metadata': {'call_link_label': label, 'options': {'resources': ONE_CORE}}}


def phase_references(candidates: Mapping[str, orm.StructureData]) -> dict[str, orm.StructureData]:
    """The base structures among generation 0's candidates (no parent: not made by an operation)."""
    return {
        key: node
        for key, node in candidates.items()
        if node.base.attributes.get('parent_uuid', None) is None and node.base.attributes.get('generation', 0) == 0
    }


def screening_inputs(
    cfg: Any,
    generation: int,
    code: orm.AbstractCode,
    model: orm.Data,
    candidates: Mapping[str, orm.StructureData],
    references: Mapping[str, orm.StructureData] | None = None,
) -> dict[str, Any]:
    """The ``ScreeningCalculation`` of a generation's new candidates, against the target phase ``references``."""
    from aiida_mlip_autopipe.screening.job import screening_settings

    inputs = _job(
        code, f'screen_gen{generation:02d}', model=model, settings=screening_settings(cfg), structures=dict(candidates)
    )
    if references:
        inputs['references'] = dict(references)
    return inputs


def scoring_inputs(
    generation: int,
    code: orm.AbstractCode,
    potential: orm.Data,
    gamma_lower: float,
    pool: Mapping[str, orm.StructureData],
) -> dict[str, Any]:
    """The ``ScoringCalculation`` of the unlabelled pool under the current potential."""
    return _job(
        code,
        f'score_pool_gen{generation:02d}',
        potential=potential,
        settings=orm.Dict({'gamma_threshold': gamma_lower}),
        structures=dict(pool),
    )


def untrained_basis_section(cfg: Any) -> dict[str, Any]:
    """The pacemaker ``potential:`` section of the fit settings, for D-optimal selection before the first fit.

    Only the basis functions matter for the projections, not fitted coefficients.
    """
    from aiida_mlip_autopipe.training.input import _potential_section

    return _potential_section(cfg.training, sorted(cfg.target.elements), {})


def selection_inputs(
    cfg: Any,
    generation: int,
    code: orm.AbstractCode,
    candidates: Mapping[str, orm.StructureData],
    n_select: int,
    labelled: orm.Data | None,
    potential: orm.Data | None = None,
) -> dict[str, Any]:
    """The ``SelectionCalculation`` of a generation: ``n_select`` picks, aware of ``labelled`` and the potential."""
    from aiida_mlip_autopipe.selection.job import selection_settings

    settings = selection_settings(cfg)
    if cfg.selection.method == 'doptimal' and potential is None:
        settings = orm.Dict({**settings.get_dict(), 'basis': untrained_basis_section(cfg)})
    inputs = _job(
        code,
        f'select_gen{generation:02d}',
        structures=dict(candidates),
        n=orm.Int(n_select),
        seed=orm.Int(cfg.seed + generation),
        settings=settings,
    )
    if labelled is not None:
        inputs['labelled'] = labelled
    if potential is not None and cfg.selection.method == 'doptimal':
        inputs['potential'] = potential
    return inputs


def calibration_inputs(
    cfg: Any, generation: int, code: orm.AbstractCode, potential: orm.Data, labels: orm.Data, gamma_lower: float
) -> dict[str, Any]:
    """The ``CalibrationCalculation`` of the previous potential on a generation's new labels."""
    from aiida_mlip_autopipe.loop.records import calibration_settings

    return _job(
        code,
        f'calibrate_gen{generation:02d}',
        potential=potential,
        labels=labels,
        settings=orm.Dict(calibration_settings(cfg, gamma_lower)),
    )


def extraction_inputs(
    cfg: Any,
    generation: int,
    code: orm.AbstractCode,
    potential: orm.Data,
    gamma_lower: float,
    trajectories: Mapping[str, orm.Data],
) -> dict[str, Any]:
    """The ``ExtractionCalculation`` of a generation's uncertain MD frames."""
    return _job(
        code,
        f'extract_gen{generation:02d}',
        settings=orm.Dict(extraction_settings(cfg, gamma_lower, generation)),
        seed=orm.Int(cfg.seed + generation),
        potential=potential,
        trajectories=dict(trajectories),
    )


def evaluation_inputs(
    generation: int | str, code: orm.AbstractCode, potentials: Mapping[str, orm.Data], labels: orm.Data
) -> dict[str, Any]:
    """The ``EvaluationCalculation`` of ``potentials`` (by key) on the held-out ``labels``."""
    label = f'evaluate_gen{generation:02d}' if isinstance(generation, int) else f'evaluate_{generation}'
    return _job(code, label, potentials=dict(potentials), labels=labels)


def final_basis_size(cfg: Any, training_set: orm.Data) -> int:
    """Basis functions per element of the final refit: ``loop.final_fit.functions_per_element``, or sized to the data.

    ``'auto'``: one function per 8 labelled atoms of the rarest element, in steps of 8, at least
    ``min_functions_per_element`` and at most ``max_functions_per_element``. A basis too small for
    the data cannot fit it (16 functions failed every label set of 24 Si cells: bulk modulus
    +20 % to +160 %, 32 gave +4 %); one too large for it overfits, and one larger than the
    training atoms of an element leaves ``pace_activeset`` without a basis, so the data caps the
    floor. Never below the per-generation basis, which the loop has already fitted.
    """
    from aiida_mlip_autopipe.training.input import active_set_capacity

    final = cfg.loop.final_fit
    if final.functions_per_element != 'auto':
        return int(final.functions_per_element)
    counts: dict[str, int] = {}
    for atoms in training_set.get_frames():
        for symbol in atoms.get_chemical_symbols():
            counts[symbol] = counts.get(symbol, 0) + 1
    rarest = min(counts.values()) if counts else 0
    sized = 8 * max(1, rarest // 64)
    held = 8 * int(active_set_capacity(rarest, 1.0 - cfg.training.test_fraction) // 8)
    wanted = min(final.max_functions_per_element, max(final.min_functions_per_element, sized), held)
    return int(max(cfg.training.functions_per_element, wanted))


def final_fit_inputs(
    cfg: Any, seed: int, functions: int, code: orm.AbstractCode, training_set: orm.Data
) -> dict[str, Any]:
    """The ``PacemakerCalculation`` of one final refit: from scratch, ``functions`` per element, its own seed."""
    settings = cfg.training.model_dump(mode='json')
    settings.update(
        {
            'functions_per_element': functions,
            'maxiter': cfg.loop.final_fit.maxiter,
            'seed': (cfg.training.seed + 1000 + seed) % 2**32,
            'warm_start': False,
        }
    )
    if cfg.loop.final_fit.kappa is not None:
        settings.update({'energy_weight': 1.0 - cfg.loop.final_fit.kappa, 'force_weight': cfg.loop.final_fit.kappa})
    return {
        'code': code,
        'training_set': training_set,
        'settings': orm.Dict(settings),
        'metadata': {
            'call_link_label': f'train_final_seed{seed}',
            'options': {'resources': ONE_CORE, 'max_wallclock_seconds': cfg.training.max_wallclock_seconds},
        },
    }
