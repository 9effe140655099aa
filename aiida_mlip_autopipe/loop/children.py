"""What the loop asks of its children: the MD runs of a generation, the fit settings, the validation MD.

Pure functions of the config (and of the loop's current gamma threshold), so the seeds,
call link labels and settings of every child can be checked without running one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiida import orm

__all__ = (
    'ONE_CORE',
    'extraction_settings',
    'fit_inputs',
    'fit_settings',
    'md_inputs',
    'md_runs',
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
