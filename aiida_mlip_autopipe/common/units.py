"""Unit conversions shared by the stages that read or write stresses and bulk moduli."""

from __future__ import annotations

__all__ = ('EV_PER_A3_TO_GPA', 'GPA_TO_EV_PER_A3')

#: 1 eV/Å³ in GPa.
EV_PER_A3_TO_GPA = 160.21766208
#: 1 GPa in eV/Å³ (the factor pw.x's stress goes through on its way into a training set).
GPA_TO_EV_PER_A3 = 1.0 / EV_PER_A3_TO_GPA
