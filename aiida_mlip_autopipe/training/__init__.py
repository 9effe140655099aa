"""Training: pacemaker fits of ACE potentials, from the generated input.yaml to the parsed metrics.

The choices that go into a fit (data-set statistics, input.yaml, the ZBL core, data export)
and the reading of pacemaker's logs are pure functions, unit-tested without a database;
``PacemakerCalculation`` and ``PacemakerParser`` wrap them for AiiDA.
"""
