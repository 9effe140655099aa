"""Pacemaker fits: data-set statistics, the generated input.yaml, short-range repulsion, data export.

Pure functions only (no database access), so every choice that goes into a fit can be
unit-tested and reproduced from the stored inputs of a ``PacemakerCalculation``.
"""
