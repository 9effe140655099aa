"""clean_remote_folders empties the folders of called calculation jobs and skips vanished ones."""

from __future__ import annotations

from aiida import orm

from aiida_mlip_autopipe.common.cleanup import clean_remote_folders
from tests.utils import finished_calcjob, finished_workflow


def test_clean_remote_folders(aiida_localhost, tmp_path):
    parent = finished_workflow(0, process_label='LabellingWorkChain', seal=False)
    folders = []
    calcs = []
    for i in range(2):
        folder = tmp_path / f'calc{i}'
        folder.mkdir()
        (folder / 'big.out').write_text('x' * 1000)
        remote = orm.RemoteData(computer=aiida_localhost, remote_path=str(folder))
        calc = finished_calcjob(0, {'remote_folder': remote}, caller=(parent, f'calc{i}'))
        folders.append(folder)
        calcs.append(calc)
    # A calculation without a remote folder (e.g. an excepted one) is skipped, not an error.
    finished_calcjob(0, {}, caller=(parent, 'orphan'))
    cleaned = clean_remote_folders(parent)
    assert sorted(cleaned) == sorted(c.pk for c in calcs)
    assert all(not any(folder.iterdir()) if folder.exists() else True for folder in folders)
