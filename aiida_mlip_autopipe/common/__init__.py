"""Constants and helpers that more than one stage uses, defined once (no AiiDA processes here)."""
