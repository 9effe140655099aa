"""Validation physics without AiiDA: Birch–Murnaghan fits and phonon frequencies at a few q-points."""

from __future__ import annotations

from typing import Any

import numpy as np

from aiida_mlip_autopipe.common.units import EV_PER_A3_TO_GPA

__all__ = ('Q_POINTS', 'ev_fit', 'phonon_frequencies', 'phonopy_for', 'primitive_from', 'to_atoms')

#: Reduced coordinates of the q-points where frequencies are compared (cubic lattices:
#: Γ, X, L of the primitive fcc/diamond zone; for other lattices they are just points).
Q_POINTS = {'G': [0.0, 0.0, 0.0], 'X': [0.5, 0.0, 0.5], 'L': [0.5, 0.5, 0.5], 'W': [0.5, 0.25, 0.75]}


def phonopy_for(primitive: Any, multiple: int) -> Any:
    """A ``Phonopy`` object of the ``primitive`` ASE cell with an isotropic ``multiple`` supercell."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(
        symbols=primitive.get_chemical_symbols(),
        cell=primitive.cell.array,
        scaled_positions=primitive.get_scaled_positions(),
    )
    return Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * int(multiple))


def to_atoms(phonopy_atoms: Any) -> Any:
    """ASE ``Atoms`` of a phonopy cell (periodic)."""
    from ase import Atoms

    return Atoms(
        symbols=phonopy_atoms.symbols,
        cell=phonopy_atoms.cell,
        scaled_positions=phonopy_atoms.scaled_positions,
        pbc=True,
    )


def ev_fit(volumes: Any, energies: Any) -> dict[str, Any]:
    """Birch–Murnaghan fit: equilibrium volume (Å³/atom), energy (eV/atom), bulk modulus (GPa).

    A curve without a minimum inside the sampled volumes (a potential that is wrong there) gives
    ``{'fit_failed': why}`` instead: a verdict, not a crash of the validation.
    """
    from ase.eos import EquationOfState

    volumes = np.asarray(volumes, float)
    eos = EquationOfState(volumes, np.asarray(energies, float), eos='birchmurnaghan')
    try:
        v0, e0, b0 = eos.fit(warn=False)
    except (RuntimeError, ValueError) as exc:  # scipy found no parameters: a curve with no minimum
        return {'fit_failed': f'no Birch-Murnaghan fit: {exc}'}
    if not (volumes.min() <= v0 <= volumes.max()) or not b0 > 0:
        return {'fit_failed': f'no energy minimum within the sampled volumes ({volumes.min():.2f}-{volumes.max():.2f})'}
    return {'v0': float(v0), 'e0': float(e0), 'bulk_modulus': float(b0 * EV_PER_A3_TO_GPA)}


def phonon_frequencies(primitive: Any, multiple: int, forces: list[Any], distance: float) -> dict[str, list[float]]:
    """Frequencies (THz) at :data:`Q_POINTS` from forces on phonopy's displaced supercells."""
    phonon = phonopy_for(primitive, multiple)
    phonon.generate_displacements(distance=distance)
    phonon.forces = [np.asarray(f) for f in forces]
    phonon.produce_force_constants()
    phonon.run_qpoints(list(Q_POINTS.values()))
    frequencies = phonon.get_qpoints_dict()['frequencies']
    return {name: [float(x) for x in row] for name, row in zip(Q_POINTS, frequencies)}


def primitive_from(metadata: dict[str, Any]) -> Any:
    """The primitive cell stored in the ``cells`` Dict of ``validation_structures``."""
    from ase import Atoms

    p = metadata['primitive']
    return Atoms(symbols=p['symbols'], cell=p['cell'], scaled_positions=p['scaled_positions'], pbc=True)


def md_verdict(
    summary: dict[str, Any] | None, exit_status: int | None, exit_message: str | None = None
) -> dict[str, Any]:
    """The stability MD's verdict: stable only if LAMMPS finished OK *and* its parser said stable.

    A walltime kill or a LAMMPS error leaves a summary that looks quiet (no halt, no blow-up) for
    the steps it reached; reading that as "stable" would pass a potential that was never run to the
    end. ``reason`` says why a verdict is "no".
    """
    summary = dict(summary or {})
    halted = bool(summary.get('halted'))
    blow_up = bool(summary.get('blow_up'))
    parser_stable = summary.get('stable')
    if exit_status is None:
        reason = 'the stability MD did not run'
    elif exit_status != 0:
        reason = f'the stability MD failed [{exit_status}]' + (f': {exit_message}' if exit_message else '')
    elif parser_stable is None:
        reason = 'the MD parser gave no stability verdict'
    elif blow_up:
        reason = 'the MD blew up'
    elif halted:
        reason = 'the MD halted on the extrapolation grade'
    elif summary.get('completed') is False or summary.get('walltime_reached'):
        reason = 'the MD stopped at its wall-time limit before its last step (a partial run, accepted as data)'
    elif not parser_stable:
        reason = 'the parser judged the MD unstable (errors or too many uncertain steps)'
    else:
        reason = None
    return {
        'temperature': summary.get('temperature'),
        'steps_run': summary.get('steps_run'),
        'max_gamma': summary.get('max_gamma'),
        'halted': halted,
        'blow_up': blow_up,
        'exit_status': exit_status,
        'stable': reason is None,
        'reason': reason,
    }


def bulk_verdicts(result: dict[str, Any], tolerances: dict[str, float]) -> dict[str, Any]:
    """Pass or fail of each bulk check against DFT, with its number and tolerance.

    ``passed`` is ``None`` for a check DFT did not measure (no E–V labels, no phonon labels, an
    E–V fit without a minimum): it is not counted as a pass. ``all_passed`` is True only if every
    check was measured and passed.
    """
    ev = result.get('ev', {})
    checks: dict[str, dict[str, Any]] = {}

    def check(name: str, value: float | None, tolerance: float, unit: str) -> None:
        checks[name] = {
            'value': value,
            'tolerance': tolerance,
            'unit': unit,
            'passed': None if value is None else bool(abs(value) <= tolerance),
        }

    ratio = ev.get('lattice_ratio')
    check('lattice', None if ratio is None else float(ratio) - 1.0, tolerances['lattice'], 'relative')
    dft_b = ev.get('dft', {}).get('bulk_modulus')
    error = ev.get('bulk_modulus_error')
    relative_b = None if error is None or not dft_b else float(error) / float(dft_b)
    check('bulk_modulus', relative_b, tolerances['bulk_modulus'], 'relative')
    check('ev_rmse', ev.get('rmse_relative_mev'), tolerances['ev_rmse_mev'], 'meV/atom')
    check('phonon_mae', result.get('phonons', {}).get('mae_thz'), tolerances['phonon_mae_thz'], 'THz')
    measured = [c['passed'] for c in checks.values() if c['passed'] is not None]
    return {
        'checks': checks,
        'all_passed': len(measured) == len(checks) and all(measured),
        'failed': sorted(name for name, c in checks.items() if c['passed'] is False),
        'not_measured': sorted(name for name, c in checks.items() if c['passed'] is None),
    }


def verdict_line(verdicts: dict[str, Any]) -> str:
    """One line: each bulk check with its number, tolerance and PASS/FAIL/not measured."""
    parts = []
    for name, c in verdicts['checks'].items():
        if c['value'] is None:
            parts.append(f'{name} not measured')
            continue
        shown = f'{c["value"]:+.2%}' if c['unit'] == 'relative' else f'{c["value"]:.2f} {c["unit"]}'
        limit = f'{c["tolerance"]:.1%}' if c['unit'] == 'relative' else f'{c["tolerance"]:g} {c["unit"]}'
        parts.append(f'{name} {shown} (target {limit}) {"PASS" if c["passed"] else "FAIL"}')
    return 'bulk targets: ' + ', '.join(parts) + ('; all passed' if verdicts['all_passed'] else '; NOT all passed')
