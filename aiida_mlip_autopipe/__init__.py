"""AiiDA workflows that build ACE interatomic potentials by active learning."""

__version__ = '0.1.0'
