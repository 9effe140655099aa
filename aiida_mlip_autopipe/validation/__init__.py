"""Validation: the final potential against DFT (energy–volume curve, phonons, a stability MD)."""
