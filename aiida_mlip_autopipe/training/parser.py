"""``PacemakerParser``: the fitted potential, its metrics and learning curve, or the reason the fit failed.

What is read, and from where:

- ``aiida_steps.txt`` (written by the job script): start/end time and exit status of
  ``pacemaker``, ``pace_yaml2yace`` and ``pace_activeset``;
- ``log.txt`` / ``pacemaker.out`` / ``pacemaker.err``: final train/test errors (the
  "Cycle last iteration" blocks), optimizer result, dataset sizes, warm-start lines,
  tracebacks;
- ``metrics.txt`` / ``test_metrics.txt``: loss and RMSE per iteration (learning curve);
- ``output_potential.yaml/.yace/.asi`` (temporary): the ``potential`` output.

Failures are told apart by what the code left behind, in this order: out of memory,
rejected data set, other traceback, interrupted (no traceback, no "Fitting done"),
non-finite loss, then missing or unreadable files of the three steps.

A fit that stops at ``maxiter`` is *not* a failure: pacemaker users set ``maxiter`` as
an iteration budget, and BFGS fits of ACE almost always reach it while still improving
slowly. The potential is complete and usable, so the calculation finishes with exit
status 0 and ``metrics`` says ``converged: False`` with the optimizer's message; whether
that is good enough (e.g. the test RMSE) is for the caller to decide.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_mlip_autopipe.training.logs import (
    ENERGY_UNIT,
    FORCE_UNIT,
    active_set_metrics,
    classify_failure,
    finite_or_none,
    fit_metrics,
    last_exception,
    nonfinite_reason,
    parse_learning_table,
    parse_steps,
    to_float,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ('PacemakerParser',)


class PacemakerParser(Parser):
    """Parse a ``PacemakerCalculation``; see the module docstring for what is read and why."""

    def _read(self, name: str) -> str | None:
        try:
            return self.retrieved.base.repository.get_object_content(name, mode='r')
        except (FileNotFoundError, OSError):
            return None

    def parse(self, **kwargs: Any) -> ExitCode | None:
        """Attach ``metrics``, ``learning_curve`` and ``potential``; return an exit code when something failed."""
        calc = self.node.process_class
        temporary = kwargs.get('retrieved_temporary_folder')
        steps = parse_steps(self._read(calc.FILENAME_STEPS) or '')
        log = self._read(calc.FILENAME_LOG) or ''
        stdout = self._read(calc.FILENAME_STDOUT) or ''
        stderr = self._read(calc.FILENAME_STDERR) or ''
        scheduler_stderr = self._read('_scheduler-stderr.txt') or ''
        pacemaker_status = steps.get('pacemaker', {}).get('exit_status')
        finished = 'Fitting done' in log

        if not log and not stderr and not stdout:
            shell = [line.strip() for line in scheduler_stderr.splitlines() if line.strip()]
            reason = f'job script: {shell[-1][:300]}' if shell else 'no message from the job script either'
            return self.exit_codes.ERROR_OUTPUT_LOG_MISSING.format(filename=calc.FILENAME_LOG, reason=reason)

        train_table = parse_learning_table(self._read(calc.FILENAME_METRICS) or '')
        test_table = parse_learning_table(self._read(calc.FILENAME_TEST_METRICS) or '')
        metrics = fit_metrics(log, stdout, steps)
        if metrics['iterations'] is None and len(train_table.get('iter_num', [])):
            metrics['iterations'] = int(train_table['iter_num'].max())
        self._attach_learning_curve(train_table, test_table)

        from aiida_mlip_autopipe.common.walltime import walltime_reached

        walltime = walltime_reached(self.node, self.retrieved.base.repository.list_object_names())
        if walltime is not None and not finished:
            self.out('metrics', orm.Dict(metrics))
            interim = self._attach_interim(temporary)
            return self.exit_codes.ERROR_OUT_OF_WALLTIME.format(
                iterations=metrics.get('iterations'),
                reason=walltime,
                interim=interim or 'pacemaker wrote no interim potential before the limit',
            )
        failure = classify_failure(
            stderr=stderr, log=log, scheduler_stderr=scheduler_stderr, exit_status=pacemaker_status, finished=finished
        )
        if failure is not None:
            label, reason = failure
            self.out('metrics', orm.Dict(metrics))
            if not finished:
                self._attach_interim(temporary)
            if label == 'ERROR_PACEMAKER_INTERRUPTED':
                return self.exit_codes[label].format(exit_status=pacemaker_status, reason=reason)
            return self.exit_codes[label].format(reason=reason)

        if temporary is None:
            self.out('metrics', orm.Dict(metrics))
            return self.exit_codes.ERROR_NO_RETRIEVED_TEMPORARY_FOLDER
        folder = Path(temporary)
        yaml_path, yace_path, asi_path = (
            folder / calc.FILENAME_POTENTIAL,
            folder / calc.FILENAME_YACE,
            folder / calc.FILENAME_ASI,
        )
        if not yaml_path.is_file():
            self.out('metrics', orm.Dict(metrics))
            return self.exit_codes.ERROR_POTENTIAL_MISSING.format(filename=calc.FILENAME_POTENTIAL)

        from aiida_mlip_autopipe.training.potential_file import load_potential_yaml, summarize_potential

        try:
            content = load_potential_yaml(yaml_path.read_text())
            summary = summarize_potential(content, source=calc.FILENAME_POTENTIAL)
        except (ValueError, OSError) as exc:
            self.out('metrics', orm.Dict(metrics))
            return self.exit_codes.ERROR_POTENTIAL_UNPARSABLE.format(filename=calc.FILENAME_POTENTIAL, error=exc)
        metrics['reference_energy'] = summary.reference_energy
        loss = to_float(str((content.get('metadata') or {}).get('_loss', 'nan')))
        metrics['final_loss'] = finite_or_none(loss)

        nonfinite = nonfinite_reason(metrics, loss, yaml_path.read_text())
        if nonfinite is not None:
            self.out('metrics', orm.Dict(metrics))
            return self.exit_codes.ERROR_NAN_LOSS.format(reason=nonfinite)
        if 'train' not in metrics['errors_available']:
            self.out('metrics', orm.Dict(metrics))
            return self.exit_codes.ERROR_METRICS_UNPARSABLE.format(filename=calc.FILENAME_LOG)

        exit_code = None
        if not yace_path.is_file():
            reason = last_exception(self._read(calc.FILENAME_YACE_LOG) or '')
            exit_code = (
                self.exit_codes.ERROR_YACE_CONVERSION_FAILED.format(reason=reason)
                if reason
                else self.exit_codes.ERROR_YACE_MISSING.format(filename=calc.FILENAME_YACE)
            )
        elif not asi_path.is_file():
            reason = last_exception(self._read(calc.FILENAME_ACTIVESET_LOG) or '')
            exit_code = (
                self.exit_codes.ERROR_ACTIVE_SET_FAILED.format(reason=reason)
                if reason
                else self.exit_codes.ERROR_ACTIVE_SET_MISSING.format(filename=calc.FILENAME_ASI)
            )
        active_set_metrics(metrics, self._read(calc.FILENAME_ACTIVESET_LOG) or '')

        from aiida_mlip_autopipe.data.potential import AcePotentialData

        potential = AcePotentialData.from_files(
            yaml_path, yace_path if yace_path.is_file() else None, asi_path if asi_path.is_file() else None
        )
        potential.base.attributes.set('reference_energy', summary.reference_energy)
        potential.base.attributes.set('functions_per_element', summary.functions_per_element)
        self._set_label_sources(potential, metrics)
        self.out('potential', potential)
        self.out('metrics', orm.Dict(metrics))
        if not metrics.get('converged', True):
            self.logger.warning(
                f'the fit stopped before converging ({metrics.get("optimizer_message")}); the potential is kept'
            )
        return exit_code

    def _set_label_sources(self, potential: Any, metrics: dict[str, Any] | None) -> None:
        """The label sources of the fit's training set, on the potential (and in ``metrics``)."""
        training_set = self.node.inputs.training_set if 'training_set' in self.node.inputs else None
        if training_set is None:
            return
        potential.base.attributes.set('label_sources', training_set.label_sources)
        potential.base.attributes.set('label_origins', training_set.label_origins)
        if metrics is not None:
            metrics['label_sources'] = training_set.label_sources

    def _attach_interim(self, temporary: str | None) -> str | None:
        """Attach the newest readable ``interim_potential_*.yaml`` as ``interim_potential``; say which, or None.

        Pacemaker rewrites ``interim_potential_<cycle>.yaml`` every iteration and stamps it with
        ``metadata.intermediate_time``; the newest stamp is where the fit was when it stopped.
        """
        if temporary is None:
            return None
        from aiida_mlip_autopipe.data.potential import AcePotentialData
        from aiida_mlip_autopipe.training.potential_file import load_potential_yaml, summarize_potential

        found = []
        for path in Path(temporary).glob(self.node.process_class.PATTERN_INTERIM):
            try:
                content = load_potential_yaml(path.read_text())
                summary = summarize_potential(content, source=path.name)
            except (ValueError, OSError) as exc:
                self.logger.warning(f'{path.name} is not usable as interim potential: {exc}')
                continue
            stamp = str((content.get('metadata') or {}).get('intermediate_time', ''))
            found.append((stamp, path.name, path, summary))
        if not found:
            return None
        stamp, name, path, summary = max(found)
        potential = AcePotentialData.from_files(path)
        potential.base.attributes.set('reference_energy', summary.reference_energy)
        potential.base.attributes.set('functions_per_element', summary.functions_per_element)
        potential.base.attributes.set('interim', {'file': name, 'saved': stamp})
        self._set_label_sources(potential, None)
        self.out('interim_potential', potential)
        return f'the interim potential {name} (saved {stamp}) is attached as interim_potential'

    def _attach_learning_curve(self, train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> None:
        if not train or 'iter_num' not in train or not len(train['iter_num']):
            return
        curve = orm.ArrayData()
        for prefix, table in (('train', train), ('test', test)):
            if not table or 'iter_num' not in table:
                continue
            curve.set_array(f'{prefix}_iteration', table['iter_num'].astype(int))
            curve.set_array(f'{prefix}_loss', table['loss'])
            curve.set_array(f'{prefix}_energy_rmse', 1000.0 * table['rmse_epa'])
            curve.set_array(f'{prefix}_force_rmse', 1000.0 * table['rmse_f_comp'])
            if 'mae_f_comp' in table:
                curve.set_array(f'{prefix}_force_mae', 1000.0 * table['mae_f_comp'])
            if 'ladder_step' in table:
                curve.set_array(f'{prefix}_ladder_step', table['ladder_step'].astype(int))
        curve.base.attributes.set('units', {'energy': ENERGY_UNIT, 'force': FORCE_UNIT, 'loss': 'pacemaker loss'})
        self.out('learning_curve', curve)
