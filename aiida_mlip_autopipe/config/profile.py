"""Checks that need the loaded AiiDA profile: the pseudopotential family and the codes of every stage.

Kept apart from the pure models so that validating a config never touches a database
unless asked; the CLI merges these problems with the model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiida_mlip_autopipe.config.errors import Problem

if TYPE_CHECKING:
    from aiida_mlip_autopipe.config.model import MLIPConfig

__all__ = ('check_against_profile',)


def check_against_profile(config: MLIPConfig, check_codes: bool = True) -> list[Problem]:
    """Checks that need the loaded AiiDA profile: pseudopotential family and codes.

    Returns the problems instead of raising, so the CLI can merge them with others.
    """
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    problems: list[Problem] = []
    try:
        family = orm.Group.collection.get(label=config.dft.pseudo_family)
    except NotExistent:
        problems.append(
            (
                'dft.pseudo_family',
                config.dft.pseudo_family,
                'no such pseudopotential family in this profile; run `aiida-mlip-autopipe setup` '
                '(or `setup --sssp` when online) or list them with `aiida-pseudo list`',
            )
        )
    else:
        from aiida_pseudo.groups.family import CutoffsPseudoPotentialFamily, PseudoPotentialFamily

        elements = getattr(family, 'elements', None)
        if not isinstance(family, PseudoPotentialFamily):
            problems.append(
                (
                    'dft.pseudo_family',
                    config.dft.pseudo_family,
                    f'the group {family.label!r} is a {type(family).__name__}, not a pseudopotential family; '
                    'list the families with `aiida-pseudo list`',
                )
            )
        elif config.dft.ecutwfc is None and not isinstance(family, CutoffsPseudoPotentialFamily):
            problems.append(
                (
                    'dft.pseudo_family',
                    config.dft.pseudo_family,
                    'family has no recommended cutoffs; set dft.ecutwfc and dft.ecutrho',
                )
            )
        if elements is not None and isinstance(family, PseudoPotentialFamily):
            missing = sorted(set(config.target.elements) - set(elements))
            if missing:
                problems.append(
                    (
                        'dft.pseudo_family',
                        config.dft.pseudo_family,
                        f'family has no pseudopotential for {missing}; it covers {sorted(elements)}. '
                        'Choose another family (e.g. MLIPAutoPipe/Debian/PBE) or install one that has them',
                    )
                )
    if check_codes:
        for section, plugin in _CODE_PLUGINS.items():
            owner = config
            for part in section.split('.'):
                owner = getattr(owner, part)
            label = owner.code
            try:
                code = orm.load_code(label)
            except (NotExistent, MultipleObjectsError, ValueError) as exc:
                problems.append(
                    (f'{section}.code', label, f'{exc}; run `aiida-mlip-autopipe setup` or `verdi code list`')
                )
                continue
            problems += [(f'{section}.code', label, message) for message in _code_problems(code, plugin)]
    if config.benchmark.oracle is not None:  # issue 9: the benchmark oracle needs no pw.x code and no pseudopotentials
        problems = [problem for problem in problems if problem[0] not in ('dft.pseudo_family', 'dft.code')]
    return problems


#: The CalcJob plugin each section's code must run (None: a Python for the stage jobs, any plugin).
_CODE_PLUGINS: dict[str, str | None] = {
    'dft': 'quantumespresso.pw',
    'training': 'mlip_autopipe.pacemaker',
    'exploration': 'mlip_autopipe.lammps',
    'screening': None,
    'selection': None,
    'uncertainty': None,
    'exploration.extraction': None,
}


def _code_problems(code: Any, plugin: str | None) -> list[str]:
    """A code set up for another plugin, or whose executable has vanished from this machine."""
    problems = []
    default = getattr(code, 'default_calc_job_plugin', None)
    if plugin is not None and default is not None and default != plugin:
        problems.append(f'code {code.full_label} is set up for {default!r}, not {plugin!r}; choose a {plugin} code')
    executable = getattr(code, 'filepath_executable', None)
    computer = getattr(code, 'computer', None)
    local = computer is not None and computer.transport_type == 'core.local'
    if executable is not None and local and Path(str(executable)).is_absolute():
        import os

        if not (Path(str(executable)).is_file() and os.access(str(executable), os.X_OK)):
            problems.append(
                f'executable {executable} of code {code.full_label} is missing or not executable; '
                'rerun `aiida-mlip-autopipe setup`'
            )
    return problems
