"""An energy-volume curve without a minimum gives a verdict, not a crash of the validation."""

from __future__ import annotations

import numpy as np

from aiida_mlip_autopipe.validation.core import ev_fit


def test_a_monotonic_curve_has_no_fit():
    volumes = np.linspace(18.0, 22.0, 7)
    result = ev_fit(volumes, -0.1 * volumes)  # keeps falling: no minimum inside
    assert 'fit_failed' in result and 'bulk_modulus' not in result


def test_a_parabola_fits():
    volumes = np.linspace(18.0, 22.0, 7)
    result = ev_fit(volumes, 0.01 * (volumes - 20.0) ** 2 - 5.0)
    assert abs(result['v0'] - 20.0) < 0.01 and result['bulk_modulus'] > 0
