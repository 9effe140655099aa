"""``PacemakerParser`` on outputs captured from real pacemaker runs (``fixtures/pacemaker/<case>``, see README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiida import orm
from aiida.common.links import LinkType

from aiida_mlip_autopipe.training.calculation import PacemakerCalculation
from aiida_mlip_autopipe.training.parser import PacemakerParser

FIXTURES = Path(__file__).parents[1] / 'fixtures' / 'pacemaker'
TEMPORARY = set(PacemakerCalculation.RETRIEVE_TEMPORARY_LIST)
#: Metrics that measure this machine's speed, not the fit.
TIMING_KEYS = (
    'wall_seconds',
    'pacemaker_wall_seconds',
    'pace_yaml2yace_wall_seconds',
    'pace_activeset_wall_seconds',
    'startup_seconds',
    'fit_seconds',
)


@pytest.fixture
def parse_case(aiida_localhost, tmp_path):
    """Parse fixture ``case`` as retrieved output of a PacemakerCalculation node; returns (results, calcfunction)."""

    def parse(case: str | Path, with_temporary: bool = True, drop: tuple[str, ...] = ()):
        folder = FIXTURES / case if isinstance(case, str) else case
        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlip_autopipe.pacemaker')
        node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
        node.store()
        retrieved = orm.FolderData()
        for path in sorted(folder.iterdir()):
            if path.name not in TEMPORARY and path.name != 'README.md' and path.name not in drop:
                retrieved.base.repository.put_object_from_file(str(path), path.name)
        retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
        retrieved.store()
        temporary = None
        if with_temporary:
            temporary = tmp_path / folder.name
            temporary.mkdir()
            for name in TEMPORARY:
                if (folder / name).is_file() and name not in drop:
                    shutil.copy(folder / name, temporary / name)
        return PacemakerParser.parse_from_node(
            node, store_provenance=False, retrieved_temporary_folder=None if temporary is None else str(temporary)
        )

    return parse


def _stable(metrics: orm.Dict) -> dict:
    data = metrics.get_dict()
    for key in TIMING_KEYS:
        value = data.pop(key, None)
        assert value is None or value > 0, key
    return data


def test_success(parse_case, data_regression):
    results, calc = parse_case('success')
    assert calc.exit_status == 0, calc.exit_message
    potential = results['potential']
    assert potential.elements == ['Si']
    assert potential.cutoff == 5.0
    assert potential.has_active_set
    assert sorted(potential.base.repository.list_object_names()) == [
        'potential.asi',
        'potential.yace',
        'potential.yaml',
    ]
    assert potential.base.attributes.get('reference_energy')['Si'] == pytest.approx(-107.6137626221)
    metrics = results['metrics'].get_dict()
    # A fit that reached maxiter is kept and reported, not failed.
    assert metrics['converged'] is False
    assert metrics['optimizer_message'] == 'Maximum number of iterations has been exceeded.'
    assert metrics['iterations'] == 20
    assert metrics['number_of_functions'] == 16
    assert metrics['number_of_parameters'] == 80
    assert metrics['train_structures'] + metrics['test_structures'] == 24
    assert 0 < metrics['train_energy_mae'] <= metrics['train_energy_rmse'] <= metrics['train_energy_max_error']
    assert 0 < metrics['test_force_mae'] <= metrics['test_force_rmse']
    assert metrics['warm_start'] is None
    assert metrics['active_set_size'] == {'Si': 16}
    for key in TIMING_KEYS:
        assert metrics[key] > 0
    # Start-up (imports, TensorFlow, graph tracing) is counted up to the first loss evaluation.
    assert metrics['startup_seconds'] < metrics['pacemaker_wall_seconds']
    curve = results['learning_curve']
    iterations = curve.get_array('train_iteration')
    assert iterations[0] == 0 and iterations[-1] == 20
    assert curve.get_array('train_loss').shape == iterations.shape
    # The curve's last point is the final error of the log (meV/atom).
    assert curve.get_array('train_energy_rmse')[-1] == pytest.approx(metrics['train_energy_rmse'], abs=0.01)
    assert list(curve.get_array('test_iteration')) == [0, 5, 10, 15, 20, 21]
    data_regression.check(_stable(results['metrics']))


def test_warm_start_reports_the_loaded_potential(parse_case):
    results, calc = parse_case('warm_start')
    assert calc.exit_status == 0, calc.exit_message
    metrics = results['metrics'].get_dict()
    assert metrics['warm_start'] == 'upfit'
    assert metrics['initial_potential_functions'] == 16
    # It starts where the first fit stopped: the first loss is the success case's final loss.
    first = results['learning_curve'].get_array('train_loss')[0]
    success, _ = parse_case('success')
    assert first == pytest.approx(success['metrics']['final_loss'], rel=1e-6)
    assert metrics['final_loss'] < first


@pytest.mark.parametrize(
    ('case', 'exit_status', 'reason'),
    [
        ('active_set_failure', 411, 'Insufficient atomic environments to determine active set'),
        ('nonfinite_loss', 401, 'final loss is inf'),
        ('out_of_memory', 400, "std::bad_alloc' (exit status 134)"),
        ('interrupted', 403, 'stopped by SIGKILL'),
        ('corrupted_dataset', 402, 'AssertionError: forces column contains NaN'),
    ],
)
def test_failures(parse_case, case, exit_status, reason):
    results, calc = parse_case(case)
    assert calc.exit_status == exit_status
    assert reason in calc.exit_message
    assert PacemakerCalculation.exit_codes(exit_status).status == exit_status
    # Whatever could be read is kept for the post-mortem.
    assert 'metrics' in results
    if case != 'active_set_failure':
        assert 'potential' not in results


def test_active_set_failure_keeps_the_potential_without_asi(parse_case):
    results, _ = parse_case('active_set_failure')
    potential = results['potential']
    assert not potential.has_active_set
    assert 'potential.yace' in potential.base.repository.list_object_names()


def test_interrupted_reports_the_last_log_line(parse_case):
    _, calc = parse_case('interrupted')
    assert 'exit status 137' in calc.exit_message
    assert 'Killed' in calc.exit_message


def test_missing_temporary_folder(parse_case):
    _, calc = parse_case('success', with_temporary=False)
    assert calc.exit_status == PacemakerCalculation.exit_codes.ERROR_NO_RETRIEVED_TEMPORARY_FOLDER.status


@pytest.mark.parametrize(
    ('drop', 'exit_status'),
    [
        # Derived from the success case by removing files: what a lost transfer would look like.
        (('output_potential.yace', 'pace_yaml2yace.out'), 305),
        (('output_potential.asi', 'pace_activeset.out'), 306),
        (('output_potential.yaml',), 302),
        (('log.txt', 'pacemaker.out', 'pacemaker.err'), 301),
    ],
)
def test_missing_files_are_parse_errors(parse_case, drop, exit_status):
    _, calc = parse_case('success', drop=drop)
    assert calc.exit_status == exit_status
    assert PacemakerCalculation.exit_codes(exit_status).invalidates_cache
