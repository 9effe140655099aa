"""Validation physics: a Birch–Murnaghan fit recovers the curve it was made from."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.common.units import EV_PER_A3_TO_GPA
from aiida_mlip_autopipe.validation.core import ev_fit


def test_ev_fit_recovers_volume_and_bulk_modulus():
    v0, e0, b0, b1 = 20.0, -5.0, 0.6, 4.0  # Å³/atom, eV/atom, eV/Å³, dimensionless
    volumes = np.linspace(18.5, 21.5, 7)
    eta = (v0 / volumes) ** (2 / 3)
    energies = e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * b1 + (eta - 1) ** 2 * (6 - 4 * eta))
    fit = ev_fit(volumes, energies)
    assert fit['v0'] == pytest.approx(v0, rel=1e-4)
    assert fit['e0'] == pytest.approx(e0, abs=1e-6)
    assert fit['bulk_modulus'] == pytest.approx(b0 * EV_PER_A3_TO_GPA, rel=1e-3)
