"""The ``selection`` section: how many candidates are labelled per generation, and the SOAP they are told apart by."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from aiida_mlip_autopipe.config.base import Section, check_safe_label, job_code_field

__all__ = ('DescriptorConfig', 'SelectionConfig')


class DescriptorConfig(Section):
    """SOAP descriptor parameters (dscribe)."""

    r_cut: float = Field(default=5.0, gt=1, le=12, description='SOAP cutoff in Å.')
    n_max: int = Field(default=6, ge=1, le=20, description='Number of radial basis functions.')
    l_max: int = Field(default=4, ge=0, le=12, description='Maximum degree of the spherical harmonics.')
    sigma: float = Field(default=0.5, gt=0, le=3, description='Gaussian width in Å.')
    pooling: Literal['mean', 'max', 'mean_max'] = Field(
        default='mean',
        description="How per-atom SOAP vectors become one vector per structure: 'mean' (average over atoms), "
        "'max' (feature-wise maximum, keeps local extremes such as a defect or a hot atom visible), or "
        "'mean_max' (both, concatenated). The mean is dominated by density, so FPS on it favours strained cells.",
    )


class SelectionConfig(Section):
    """Which candidates are labelled: D-optimal on ACE's basis, or farthest point sampling on SOAP."""

    code: str = job_code_field('selection')
    n_select: int = Field(default=8, ge=1, le=100_000, description='Candidates labelled per generation.')
    method: Literal['doptimal', 'fps'] = Field(
        default='doptimal',
        description="'doptimal': pick the candidates that most enlarge the current potential's active set (largest "
        'extrapolation grade, one at a time, each pick joining the active set before the next; before the first '
        "fit, MaxVol on an untrained basis of the fit settings). 'fps': farthest point sampling on SOAP "
        '(`descriptor`) from the labelled set.',
    )
    min_gamma: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="'doptimal' stops picking when every remaining candidate has an extrapolation grade at or below "
        'this: inside what the potential knows, its label would not enlarge the active set.',
    )
    duplicate_distance: float = Field(
        default=0.0,
        ge=0,
        description="'fps' stops picking when the farthest remaining candidate is within this descriptor "
        'distance of the known set (duplicates are never selected); 0 skips exact duplicates only.',
    )
    descriptor: DescriptorConfig = Field(default_factory=DescriptorConfig)

    @field_validator('code')
    @classmethod
    def _code_label(cls, value: str) -> str:
        return check_safe_label(value, 'code label')
