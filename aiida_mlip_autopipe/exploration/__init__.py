"""Exploration: LAMMPS MD on the fitted potential with extrapolation grades, and the environments it finds."""
