"""A ready ``ActiveLearningWorkChain`` builder from a config, a protocol and overrides.

Values the user wrote in the config win over the protocol's presets
(``protocols/active_learning.yaml``), and ``overrides`` win over both; the labelling
template comes from ``PwBaseWorkChain``'s own protocol through ``LabellingWorkChain``.
"""

from __future__ import annotations

import copy
from typing import Any

from aiida import orm
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

from aiida_mlip_autopipe.data.potential import AcePotentialData
from aiida_mlip_autopipe.data.training_set import TrainingSetData
from aiida_mlip_autopipe.labelling.workchain import LabellingWorkChain

__all__ = ('LABELLING_EXCLUDED', 'builder_from_protocol', 'validate_config')

#: Inputs of the labelling template the loop fills in per generation (or never exposes).
#: Labelling inputs the loop sets itself. ``oracle`` is among them: the benchmark oracle comes only
#: from the config's ``benchmark.oracle`` (checked by the config model), never from a port.
LABELLING_EXCLUDED = ('structures', 'failure_budget', 'clean_workdir', 'oracle')


def validate_config(value: orm.Dict, _: Any = None) -> str | None:
    """Why the ``config`` input is not a valid ``MLIPConfig`` (every problem, one per line), or ``None``."""
    from aiida_mlip_autopipe.config import ConfigError, parse_config

    try:
        parse_config(value.get_dict())
    except ConfigError as exc:
        return exc.format()
    return None


def builder_from_protocol(
    process_class: Any,
    config: Any,
    codes: dict[str, orm.AbstractCode | str] | None = None,
    protocol: str | None = None,
    overrides: dict[str, Any] | None = None,
    screening_model: orm.SinglefileData | str | None = None,
    structure: orm.StructureData | None = None,
    initial_training_set: TrainingSetData | None = None,
    initial_potential: AcePotentialData | None = None,
    **kwargs: Any,
) -> Any:
    """The builder of ``process_class`` (an ``ActiveLearningWorkChain``) for ``config``.

    :param config: an ``MLIPConfig`` or its dict (values the user did not write take the protocol's).
    :param codes: ``{'pw': ..., 'pacemaker': ..., 'lammps': ..., 'screening': ..., 'selection': ...,
        'uncertainty': ..., 'extraction': ...}`` (codes or labels); default: the code labels of the config.
    :param kwargs: passed on to ``PwBaseWorkChain.get_builder_from_protocol``.
    """
    from aiida_mlip_autopipe.config import MLIPConfig, parse_config
    from aiida_mlip_autopipe.screening.job import model_input

    if not isinstance(config, MLIPConfig):
        config = parse_config(config)
    inputs = process_class.get_protocol_inputs(protocol, None)
    explicit = config.model_dump(mode='json', exclude_unset=True)
    merged = recursive_merge(copy.deepcopy(inputs.get('config', {})), explicit)
    merged = recursive_merge(merged, copy.deepcopy(overrides or {}))
    resolved = parse_config(merged)
    codes = dict(codes or {})
    pw = codes.get('pw', resolved.dft.code)
    pacemaker = codes.get('pacemaker', resolved.training.code)
    lammps = codes.get('lammps', resolved.exploration.code)

    builder = process_class.get_builder()
    builder.config = orm.Dict(resolved.to_dict())
    # The labelling template covers every element of the target, so each generation's
    # structures (of any chemistry) share cutoffs and pseudopotentials.
    dummy = {}
    labelling = LabellingWorkChain.get_builder_from_protocol(
        pw,
        dummy,
        dft=resolved.dft,
        elements=list(resolved.target.elements),
        oracle=resolved.benchmark.oracle,
        **kwargs,
    )
    builder.labelling = {
        key: value
        for key, value in labelling._inputs(prune=True).items()
        if key not in (*LABELLING_EXCLUDED, 'metadata')
    }
    builder.training.pacemaker.code = orm.load_code(pacemaker) if isinstance(pacemaker, str) else pacemaker
    builder.exploration.lammps.code = orm.load_code(lammps) if isinstance(lammps, str) else lammps
    stage_codes = {
        'screening': resolved.screening.code,
        'selection': resolved.selection.code,
        'uncertainty': resolved.uncertainty.code,
        'extraction': resolved.exploration.extraction.code,
    }
    for stage, label in stage_codes.items():
        code = codes.get(stage, label)
        builder.codes[stage] = orm.load_code(code) if isinstance(code, str) else code
    model = screening_model if screening_model is not None else resolved.screening.model
    builder.screening_model = model if isinstance(model, orm.Data) else model_input(model)
    if structure is not None:
        builder.structure = structure
    elif resolved.target.structure_file is not None:
        from aiida_mlip_autopipe.candidates.structure_file import read_structure_file

        builder.structure = orm.StructureData(ase=read_structure_file(resolved.target.structure_file))
    if initial_training_set is not None:
        builder.initial_training_set = initial_training_set
    if initial_potential is not None:
        builder.initial_potential = initial_potential
    builder.clean_workdir = orm.Bool(inputs.get('clean_workdir', False))
    return builder
