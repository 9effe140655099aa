"""Candidates: the first pool of structures (bulk, SQS, strain, rattle, defects) and the nodes that carry them."""
