"""clean_remote_folders empties the folders of called calculation jobs and reports every folder it could not."""

from __future__ import annotations

from aiida import orm

from aiida_mlip_autopipe.common.cleanup import clean_remote_folders, clean_workdir
from tests.utils import finished_calcjob, finished_workflow


def _calc_with_folder(parent, computer, path, label):
    remote = orm.RemoteData(computer=computer, remote_path=str(path))
    return finished_calcjob(0, {'remote_folder': remote}, caller=(parent, label))


def test_clean_remote_folders(aiida_localhost, tmp_path):
    parent = finished_workflow(0, process_label='LabellingWorkChain', seal=False)
    folders = []
    calcs = []
    for i in range(2):
        folder = tmp_path / f'calc{i}'
        folder.mkdir()
        (folder / 'big.out').write_text('x' * 1000)
        calcs.append(_calc_with_folder(parent, aiida_localhost, folder, f'calc{i}'))
        folders.append(folder)
    # A calculation without a remote folder (e.g. an excepted one) is skipped, not an error.
    finished_calcjob(0, {}, caller=(parent, 'orphan'))
    result = clean_remote_folders(parent)
    assert sorted(result.cleaned) == sorted(c.pk for c in calcs)
    assert result.failed == []
    assert all(not folder.exists() or not any(folder.iterdir()) for folder in folders)


def test_unconfigured_computer_is_reported_not_raised(aiida_localhost, tmp_path):
    """A computer the user never configured: the old code raised out of ``on_terminated``; now it is a failure."""
    parent = finished_workflow(0, process_label='LabellingWorkChain', seal=False)
    elsewhere = orm.Computer(
        label='cleanup-unconfigured', hostname='localhost', transport_type='core.local', scheduler_type='core.direct'
    ).store()
    folder = tmp_path / 'kept'
    folder.mkdir()
    (folder / 'wfc.dat').write_text('x')
    calc = _calc_with_folder(parent, elsewhere, folder, 'calc')
    result = clean_remote_folders(parent)
    assert result.cleaned == []
    [failure] = result.failed
    assert failure.pk == calc.pk
    assert failure.path == str(folder)
    assert failure.computer == 'cleanup-unconfigured'
    assert 'not configured' in failure.reason
    assert (folder / 'wfc.dat').exists()


def test_unreachable_computer_is_reported(aiida_localhost, tmp_path):
    """An SSH computer that refuses the connection: the old code dropped the error and reported nothing."""
    parent = finished_workflow(0, process_label='LabellingWorkChain', seal=False)
    remote_host = orm.Computer(
        label='cleanup-unreachable', hostname='127.0.0.1', transport_type='core.ssh', scheduler_type='core.direct'
    ).store()
    remote_host.configure(port=1, look_for_keys=False, timeout=2, key_policy='AutoAddPolicy', username='nobody')
    good = tmp_path / 'good'
    good.mkdir()
    (good / 'out').write_text('x')
    cleaned = _calc_with_folder(parent, aiida_localhost, good, 'local')
    failed = _calc_with_folder(parent, remote_host, '/scratch/calc', 'remote')
    result = clean_remote_folders(parent)
    assert result.cleaned == [cleaned.pk]
    [failure] = result.failed
    assert failure.pk == failed.pk
    assert failure.path == '/scratch/calc'
    assert failure.reason  # the transport's own words, e.g. "Connection refused"

    class Reporter:
        """What ``clean_workdir`` needs of a work chain: ``inputs.clean_workdir``, ``node`` and ``report``."""

        def __init__(self):
            self.inputs = type('Inputs', (), {'clean_workdir': orm.Bool(True)})()
            self.node = parent
            self.lines: list[str] = []

        def report(self, line: str) -> None:
            self.lines.append(line)

    # A second pass: the good folder is empty now and cleaned again; the unreachable one is reported by name.
    reporter = Reporter()
    clean_workdir(reporter)
    assert any(line.startswith('cleaned remote folders of calculations:') for line in reporter.lines)
    [line] = [line for line in reporter.lines if line.startswith('could not clean')]
    assert f'<{failed.pk}>' in line
    assert '/scratch/calc on cleanup-unreachable' in line
