"""Uncertainty: the extrapolation grade gamma, scored on the candidate pool and calibrated against DFT."""
