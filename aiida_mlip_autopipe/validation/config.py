"""The ``validation`` section: checks of the final potential against DFT."""

from __future__ import annotations

from pydantic import Field

from aiida_mlip_autopipe.config.base import Section

__all__ = ('ValidationConfig',)


class ValidationConfig(Section):
    """Checks of the final potential against DFT."""

    enabled: bool = True
    ev_points: int = Field(default=7, ge=3, le=51, description='Points on the energy–volume curve.')
    ev_strain: float = Field(default=0.04, gt=0, le=0.2, description='Linear strain range ± of the E–V curve.')
    phonons: bool = True
    phonon_supercell: int = Field(
        default=2, ge=1, le=6, description='Phonopy supercell multiple of the primitive cell.'
    )
    phonon_displacement: float = Field(default=0.01, gt=0, le=0.1, description='Finite displacement in Å.')
    phonon_dft_max_atoms: int = Field(
        default=16, ge=1, le=1000, description='Label displaced supercells with DFT only up to this many atoms.'
    )
    md_steps: int = Field(default=1000, ge=10, le=10_000_000, description='Stability MD at the highest temperature.')
