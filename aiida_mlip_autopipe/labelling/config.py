"""The ``dft`` section: how pw.x labels a structure; the ``benchmark`` section: the oracle that may stand in for it.

The oracle has a section of its own, away from ``dft``, so that it is never one key among the
pw.x settings: a run uses it only where the config says ``benchmark: {oracle: emt}``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aiida_mlip_autopipe.config.base import Section, check_safe_label

__all__ = ('MAGNETIC_ELEMENTS', 'ORACLES', 'BenchmarkConfig', 'DFTConfig', 'check_oracle')

#: Elements whose DFT is spin polarised by default, with the starting magnetisation
#: (fraction of the valence charge, QE's ``starting_magnetization``) used when unset.
MAGNETIC_ELEMENTS: dict[str, float] = {
    'Fe': 0.4,
    'Co': 0.35,
    'Ni': 0.25,
    'Mn': 0.5,
    'Cr': 0.5,
    'Gd': 0.5,
}

#: The benchmark oracles and the elements each one is meant for (EMT also has parameters for
#: H, C, N and O, which ASE calls crude; they are left out on purpose).
ORACLES: dict[str, tuple[str, ...]] = {
    'emt': ('Ag', 'Al', 'Au', 'Cu', 'Ni', 'Pd', 'Pt'),
}


def check_oracle(name: str, elements: set[str] | list[str] | tuple[str, ...]) -> str | None:
    """An error message when ``name`` is no oracle or does not cover ``elements``, else ``None``.

    Pure (no AiiDA), so the config can check ``benchmark.oracle`` against ``target.elements``.
    """
    if name not in ORACLES:
        return f'unknown oracle {name!r}; available: {", ".join(sorted(ORACLES))}'
    missing = sorted(set(elements) - set(ORACLES[name]))
    if missing:
        return f'oracle {name!r} has no parameters for {missing}; it covers {", ".join(ORACLES[name])}'
    return None


class DFTConfig(Section):
    """Quantum ESPRESSO labelling through ``PwBaseWorkChain``."""

    code: str = Field(default='pw@localhost', description='Label of the AiiDA code for pw.x.')
    protocol: Literal['fast', 'balanced', 'stringent'] = Field(
        default='fast', description='aiida-quantumespresso protocol the inputs start from.'
    )
    pseudo_family: str = Field(
        default='MLIPAutoPipe/Debian/LDA',
        description="Pseudopotential family label; 'SSSP/1.3/PBE/efficiency' after "
        '`aiida-mlip-autopipe setup --sssp` when online.',
    )
    ecutwfc: float | None = Field(
        default=None, gt=0, le=500, description='Wavefunction cutoff in Ry (default: family).'
    )
    ecutrho: float | None = Field(default=None, gt=0, le=4000, description='Density cutoff in Ry (default: family).')
    kpoints_distance: float = Field(
        default=0.3, gt=0.01, le=2.0, description='k-point spacing in Å⁻¹ (aiida-quantumespresso convention).'
    )
    smearing: Literal['cold', 'gaussian', 'mv', 'mp', 'fd'] = 'cold'
    degauss: float = Field(default=0.02, gt=0, le=0.2, description='Smearing width in Ry.')
    spin_polarised: bool | None = Field(
        default=None,
        description='Spin-polarised DFT. Default: on when a magnetic element (Fe, Co, Ni, Mn, Cr) is present.',
    )
    starting_magnetization: dict[str, float] | None = Field(
        default=None, description='Per element, in [-1, 1]. Default: chosen per magnetic element.'
    )
    electron_maxstep: int = Field(default=100, ge=1, le=1000, description='Maximum SCF iterations.')
    conv_thr_per_atom: float = Field(default=1e-8, gt=0, le=1e-3, description='SCF threshold per atom in Ry.')
    parameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='Extra pw.x namelist values, e.g. {SYSTEM: {nbnd: 20}}.'
    )
    num_mpiprocs: int = Field(default=1, ge=1, le=100_000, description='MPI processes per pw.x run.')
    max_concurrent: int = Field(
        default=2, ge=1, le=10_000, description='Most pw.x jobs in flight at once (keep ≤ cores on one machine).'
    )
    max_wallclock_seconds: int = Field(default=3600, ge=10, le=14 * 86400)

    @field_validator('code')
    @classmethod
    def _code(cls, value: str) -> str:
        return check_safe_label(value, 'code label')

    @field_validator('pseudo_family')
    @classmethod
    def _family(cls, value: str) -> str:
        return check_safe_label(value, 'pseudo family label')

    @field_validator('parameters')
    @classmethod
    def _namelists(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        allowed = {'CONTROL', 'SYSTEM', 'ELECTRONS', 'IONS', 'CELL'}
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key.upper(), allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ''
                raise ValueError(f'unknown namelist {key!r}{hint} (allowed: {", ".join(sorted(allowed))})')
        return value

    @field_validator('parameters')
    @classmethod
    def _labelling_parameters(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Known pw.x variables only, typed and ranged; no files, no copies of typed fields, nothing
        # AiiDA sets (labelling.pw_parameters). Every problem at once, each naming its key and the fix.
        from aiida_mlip_autopipe.labelling.pw_parameters import check_pw_parameters

        problems = check_pw_parameters(value)
        if problems:
            raise ValueError('; '.join(problems))
        return value

    @field_validator('starting_magnetization')
    @classmethod
    def _magnetization(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for element, mag in (value or {}).items():
            if not -1 <= mag <= 1:
                raise ValueError(f'starting_magnetization[{element}] = {mag} must be in [-1, 1]')
        return value

    @model_validator(mode='after')
    def _cutoffs(self) -> DFTConfig:
        if self.ecutrho is not None and self.ecutwfc is None:
            raise ValueError('ecutrho is set but ecutwfc is not; give both cutoffs (or neither, to use the family)')
        if self.ecutwfc is not None and self.ecutrho is not None and self.ecutrho < 4 * self.ecutwfc:
            raise ValueError(f'ecutrho ({self.ecutrho} Ry) must be at least 4 × ecutwfc ({self.ecutwfc} Ry)')
        return self

    def magnetization_for(self, elements: Iterable[str]) -> dict[str, float]:
        """Starting magnetisation per element, or ``{}`` when the run is not spin polarised."""
        elements = list(elements)
        spin = self.spin_polarised
        if spin is None:
            spin = any(e in MAGNETIC_ELEMENTS for e in elements)
        if not spin:
            return {}
        chosen = {e: MAGNETIC_ELEMENTS.get(e, 0.1) for e in elements}
        chosen.update(self.starting_magnetization or {})
        return chosen


class BenchmarkConfig(Section):
    """Method benchmarks of the loop itself (labels in minutes, not DFT); empty for every real run."""

    oracle: Literal['emt'] | None = Field(
        default=None,
        description='BENCHMARKS ONLY, NOT DFT: label with an analytic ASE calculator instead of pw.x '
        "('emt': Al, Cu, Ni, Ag, Au, Pd, Pt), for measuring the loop itself in minutes. Never set it for a "
        'real potential; the dft section is then unused, and every label, training set and potential says '
        'oracle:emt.',
    )
