"""The ``screening`` section: the universal model that rejects unphysical candidates before DFT."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from aiida_mlip_autopipe.config.base import Section, check_relative_path, check_safe_label, job_code_field

__all__ = ('ScreeningConfig',)


class ScreeningConfig(Section):
    """Screening with a universal potential: overlapping atoms, huge forces, energy outliers."""

    code: str = job_code_field('screening')
    model: str = Field(
        default='mace_mp:small',
        description="Screening model: 'mace_mp:small|medium|large' (downloaded when online), "
        "'chgnet' (weights ship with the wheel, works offline), 'none', or a path to a MACE model file.",
    )
    max_force: float = Field(default=15.0, gt=0, description='Reject candidates whose max |F| exceeds this (eV/Å).')
    energy_window: float = Field(
        default=1.0,
        gt=0,
        description='Reject candidates whose energy/atom lies farther than this (eV/atom) from the trend of the '
        'candidates that passed the force check (per-element reference energies fitted to them, so different '
        'compositions compare fairly); catches both blow-ups and model holes.',
    )
    energy_above_phase: float | None = Field(
        default=1.0,
        gt=0,
        le=100,
        description='Reject candidates whose energy/atom lies more than this (eV/atom) above the target phase '
        "(the model's per-element energies of the unperturbed base structures); null switches the check off. "
        'Strained and hot cells lie a few tenths of an eV above; raise it for melts or surfaces of high energy.',
    )
    min_distance_factor: float = Field(
        default=0.5,
        ge=0,
        lt=1.5,
        description='Reject, before any model evaluation, candidates with two atoms closer than this fraction of '
        'the sum of their covalent radii (overlapping atoms); 0 switches the check off.',
    )
    batch_size: int = Field(default=16, ge=1, le=4096, description='Structures per model evaluation batch.')
    device: Literal['cpu', 'cuda'] = 'cpu'

    @field_validator('model')
    @classmethod
    def _model(cls, value: str) -> str:
        if value in {'chgnet', 'none'} or value.startswith('mace_mp:'):
            if value.startswith('mace_mp:') and value.split(':', 1)[1] not in {'small', 'medium', 'large'}:
                raise ValueError(f"model {value!r}: MACE-MP size must be 'small', 'medium' or 'large'")
            return value
        return check_relative_path(value, 'model')

    @field_validator('code')
    @classmethod
    def _code_label(cls, value: str) -> str:
        return check_safe_label(value, 'code label')
