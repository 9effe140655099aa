"""Screening: a universal model rejects unphysical candidates before any DFT is spent."""
