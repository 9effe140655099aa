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
    # issue 13: targets of the bulk checks; each verdict says pass or fail with the number behind it.
    lattice_tolerance: float = Field(
        default=0.001, gt=0, le=0.5, description='Largest relative error of the lattice constant (ACE vs DFT E–V).'
    )
    bulk_modulus_tolerance: float = Field(
        default=0.03, gt=0, le=5, description='Largest relative error of the bulk modulus (ACE vs DFT E–V).'
    )
    ev_rmse_tolerance: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description='Largest RMSE in meV/atom of the E–V curve (each shifted to its own minimum) against DFT.',
    )
    phonon_mae_tolerance: float = Field(
        default=0.2, gt=0, le=50, description='Largest mean absolute phonon frequency error in THz against DFT.'
    )
    # issue 16: slabs and molecules.
    surface_energy_tolerance: float = Field(
        default=0.1,
        gt=0,
        le=5,
        description='Largest |surface energy (ACE) - surface energy (DFT)| in J/m² of the unrelaxed slab of each '
        'target surface (labelled with its oriented bulk cell) for the surface check to pass.',
    )
    bond_tolerance: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description='Largest |bond length (ACE) - bond length (DFT)| in Å of the relaxed molecule for the geometry '
        'check to pass (pw.x relaxes the molecule once).',
    )
    angle_tolerance: float = Field(
        default=3.0, gt=0, le=90, description='Largest |bond angle (ACE) - bond angle (DFT)| in degrees to pass.'
    )
    relax_fmax: float = Field(
        default=0.005,
        gt=0,
        le=0.5,
        description='Force threshold in eV/Å of both relaxations of the molecule (the potential with BFGS; pw.x '
        'with forc_conv_thr, the same threshold in Ry/bohr).',
    )
