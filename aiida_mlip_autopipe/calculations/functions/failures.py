"""Record failed sub-processes as data, linked to the inputs that failed."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('record_failures',)


@calcfunction
def record_failures(failures: orm.Dict, **inputs: orm.Data) -> orm.Dict:
    """Return the failure records, linked in provenance to the structures (or other inputs) that failed.

    ``failures['failed']`` is a list of records (key, process PK and UUID, exit status,
    message); ``inputs`` are the nodes those records refer to, so ``verdi node graph``
    shows what failed next to what succeeded.
    """
    record = failures.get_dict()
    failed = record.get('failed', [])
    uuids = {node.uuid for node in inputs.values()}
    for item in failed:
        if 'structure_uuid' in item and item['structure_uuid'] not in uuids:
            raise ValueError(f'failure record for {item.get("key")} names a structure that was not passed in')
    record['num_failed'] = len(failed)
    return orm.Dict(record)
