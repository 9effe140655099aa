"""How much of a pacemaker fit is start-up, and does fitting several seeds in one process avoid it?

Issue 15, item 4. Takes the inputs of a finished ``PacemakerCalculation`` (its ``input.yaml``,
training set and initial potential, from the remote folder; by default the newest one in the
loaded profile) and fits them with ``--seeds`` different seeds twice:

- ``cli``: one ``pacemaker input.yaml --no-predict`` process per seed, as the
  ``PacemakerCalculation`` job runs it today;
- ``api``: one Python process that calls pacemaker's own entry point
  (``pyace.cli.pacemaker.main``, the same code path as the command) once per seed, each in its
  own folder, so Python, TensorFlow and pyace are imported once.

For each fit it reports the wall time, pacemaker's own ``Fitting took`` time and the start-up
(process start, or the previous fit's end in the ``api`` process, to pacemaker's first loss
evaluation, ``Initial state`` in ``log.txt``). Runs one fit at a time; nothing else of the
benchmark runs meanwhile. Writes ``benchmarks/output/pacemaker_startup.json``.

    python benchmarks/pacemaker_startup.py                  # newest fit of the profile, 3 seeds
    python benchmarks/pacemaker_startup.py --pk 1234 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / 'benchmarks' / 'output'
PACEMAKER = Path(sys.executable).with_name('pacemaker')
_LOG_TIME = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d+)')
_FIT_TOOK = re.compile(r'Fitting took\s+([\d.eE+-]+) seconds')

#: The ``api`` process: pacemaker's entry point once per folder, stamping each fit's start and end.
API_SCRIPT = """
import json, os, sys, time
started = time.time()
from pyace.cli.pacemaker import main
imported = time.time()
stamps = []
for folder in sys.argv[1:]:
    os.chdir(folder)
    begin = time.time()
    main(['input.yaml', '--no-predict'])
    stamps.append({'folder': folder, 'start': begin, 'end': time.time()})
print('STAMPS ' + json.dumps({'started': started, 'imported': imported, 'fits': stamps}))
"""


def fit_folder(pk: int | None) -> tuple[int, Path]:
    """The remote folder of PacemakerCalculation ``pk`` (default: the newest finished one)."""
    from aiida import load_profile, orm

    load_profile()
    if pk is None:
        query = orm.QueryBuilder().append(
            orm.CalcJobNode,
            filters={'process_type': 'aiida.calculations:mlip_autopipe.pacemaker', 'attributes.exit_status': 0},
            tag='calc',
        )
        query.order_by({'calc': {'ctime': 'desc'}}).limit(1)
        found = query.all(flat=True)
        if not found:
            raise SystemExit('no finished PacemakerCalculation in this profile: run benchmarks/overhead.py first')
        node = found[0]
    else:
        node = orm.load_node(pk)
    return node.pk, Path(node.outputs.remote_folder.get_remote_path())


def prepare(source: Path, target: Path, seed: int) -> Path:
    """Copy the fit's inputs into ``target`` with ``seed`` in ``input.yaml``."""
    target.mkdir(parents=True)
    for name in ('input.yaml', 'training_set.pckl.gzip', 'test_set.pckl.gzip', 'initial_potential.yaml'):
        if (source / name).is_file():
            shutil.copy(source / name, target / name)
    text = (target / 'input.yaml').read_text()
    text, count = re.subn(r'(?m)^seed:.*$', f'seed: {seed}', text)
    if not count:
        text = f'seed: {seed}\n' + text
    (target / 'input.yaml').write_text(text)
    return target


def _log_times(folder: Path) -> tuple[datetime | None, float | None]:
    """When pacemaker first evaluated the loss (``Initial state``), and the final loss, from ``log.txt``."""
    first, loss = None, None
    log = folder / 'log.txt'
    for line in log.read_text(errors='replace').splitlines() if log.is_file() else []:
        match = _LOG_TIME.match(line)
        if first is None and 'Initial state' in line and match:
            first = datetime.strptime(f'{match.group(1)}.{match.group(2)}', '%Y-%m-%d %H:%M:%S.%f')
        found = re.search(r'Loss:\s*([\d.eE+-]+)', line)
        if found:
            loss = float(found.group(1))
    return first, loss


def _fit(folder: Path, start: float, end: float, stdout: str) -> dict[str, Any]:
    initial, loss = _log_times(folder)
    took = _FIT_TOOK.findall(stdout)
    return {
        'wall_seconds': end - start,
        'startup_seconds': initial.timestamp() - start if initial else None,
        'fit_seconds': float(took[-1]) if took else None,
        'final_loss': loss,
    }


def run_cli(folders: list[Path], env: dict[str, str]) -> dict[str, Any]:
    fits = []
    started = time.time()
    for folder in folders:
        begin = time.time()
        done = subprocess.run(
            [str(PACEMAKER), 'input.yaml', '--no-predict'],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f'pacemaker failed in {folder}: {done.stderr[-2000:]}')
        fits.append(_fit(folder, begin, time.time(), done.stdout + done.stderr))
    return {'total_seconds': time.time() - started, 'fits': fits}


def run_api(folders: list[Path], env: dict[str, str]) -> dict[str, Any]:
    started = time.time()
    done = subprocess.run(
        [sys.executable, '-c', API_SCRIPT, *map(str, folders)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f'the api process failed: {done.stderr[-2000:]}')
    stamps = json.loads(next(line for line in done.stdout.splitlines() if line.startswith('STAMPS '))[7:])
    output = done.stdout + done.stderr
    chunks = _FIT_TOOK.findall(output)
    fits = []
    for i, (folder, stamp) in enumerate(zip(folders, stamps['fits'], strict=True)):
        # The first fit starts with the interpreter; later ones right after the previous fit.
        begin = started if i == 0 else stamp['start']
        fit = _fit(folder, begin, stamp['end'], '')
        fit['fit_seconds'] = float(chunks[i]) if i < len(chunks) else None
        fits.append(fit)
    return {'total_seconds': time.time() - started, 'import_seconds': stamps['imported'] - started, 'fits': fits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pk', type=int, default=None, help='a finished PacemakerCalculation (default: the newest)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    args = parser.parse_args()
    pk, source = fit_folder(args.pk)
    # The environment of the pacemaker code's job (provision.default_code_specs): CPU only, quiet TensorFlow.
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'CUDA_VISIBLE_DEVICES': ''}
    work = Path(tempfile.mkdtemp(prefix='mlip-pacemaker-startup-'))
    print(f'inputs of PacemakerCalculation<{pk}> ({source}); seeds {args.seeds}; work in {work}', flush=True)
    results = {}
    for mode, runner in (('cli', run_cli), ('api', run_api)):
        folders = [prepare(source, work / mode / f'seed{seed}', seed) for seed in args.seeds]
        results[mode] = runner(folders, env)
        fits = results[mode]['fits']
        print(
            f'[{mode}] {len(fits)} fits in {results[mode]["total_seconds"]:.1f} s: '
            + '; '.join(
                f'wall {f["wall_seconds"]:.1f} s, start-up {f["startup_seconds"] or float("nan"):.1f} s, '
                f'fit {f["fit_seconds"] or float("nan"):.1f} s, loss {f["final_loss"]}'
                for f in fits
            ),
            flush=True,
        )
    cli, api = results['cli'], results['api']
    saved = cli['total_seconds'] - api['total_seconds']
    print(
        f'\n{len(args.seeds)} seeds: separate pacemaker processes {cli["total_seconds"]:.1f} s, one process '
        f'{api["total_seconds"]:.1f} s (imports {api["import_seconds"]:.1f} s) -> {saved:.1f} s saved '
        f'({100 * saved / cli["total_seconds"]:.0f} %)'
    )
    meta = {
        'date': time.strftime('%Y-%m-%d %H:%M'),
        'cpus': os.cpu_count(),
        'platform': platform.platform(),
        'load_after': os.getloadavg(),
        'pk': pk,
        'seeds': args.seeds,
    }
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / 'pacemaker_startup.json'
    path.write_text(json.dumps({'meta': meta, **results}, indent=1))
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
