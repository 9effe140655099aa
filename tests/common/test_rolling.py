"""RollingPoolMixin on AiiDA's engine: a new child starts as soon as one finishes, not when the batch does."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import WorkChain, run_get_node, while_

from aiida_mlip_autopipe.common.rolling import RollingPoolMixin


class SleepPool(RollingPoolMixin, WorkChain):
    """Run ``sleep`` jobs of the given durations, at most ``max_concurrent`` at a time."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('code', valid_type=orm.AbstractCode)
        spec.input('durations', valid_type=orm.List)
        spec.input('max_concurrent', valid_type=orm.Int)
        spec.outline(cls.setup, while_(cls.busy)(cls.fill_slots), cls.finish)
        spec.output('order', valid_type=orm.List)

    def setup(self):
        self.ctx.pending = list(range(len(self.inputs.durations.get_list())))
        self.ctx.launched = {}
        self.ctx.resumes = 0

    def busy(self):
        return bool(self.ctx.pending) or any(not orm.load_node(int(pk)).is_terminated for pk in self.ctx.launched)

    def fill_slots(self):
        from aiida_shell import ShellJob

        self.ctx.resumes += 1
        running = self.await_running(self.ctx.launched)
        for _ in range(self.inputs.max_concurrent.value - len(running)):
            if not self.ctx.pending:
                break
            index = self.ctx.pending.pop(0)
            seconds = self.inputs.durations.get_list()[index]
            node = self.submit(
                ShellJob,
                code=self.inputs.code,
                arguments=orm.List([str(seconds)]),
                metadata={'options': {'resources': {'num_machines': 1}}, 'call_link_label': f'sleep_{index}'},
            )
            self.ctx.launched[str(node.pk)] = index
            self.await_running([node.pk])

    def finish(self):
        order = sorted(self.ctx.launched, key=int)
        self.out('order', orm.List([self.ctx.launched[pk] for pk in order]).store())


@pytest.fixture
def sleep_code(aiida_localhost):
    from aiida_shell import ShellCode

    return ShellCode(
        label='sleep', computer=aiida_localhost, filepath_executable='/bin/sleep', default_calc_job_plugin='core.shell'
    ).store()


def test_a_short_job_is_replaced_while_the_long_one_still_runs(sleep_code):
    results, node = run_get_node(SleepPool, code=sleep_code, durations=orm.List([8, 1, 1]), max_concurrent=orm.Int(2))
    assert node.is_finished_ok, node.exit_message
    children = {
        link.link_label: link.node
        for link in node.base.links.get_outgoing().all()
        if link.link_label.startswith('sleep_')
    }
    assert sorted(children) == ['sleep_0', 'sleep_1', 'sleep_2'] and all(c.is_finished_ok for c in children.values())
    long_job, third = children['sleep_0'], children['sleep_2']
    # Batch-synchronous, the third job would start after the 8 s job ended; rolling, it starts before.
    assert third.ctime < long_job.mtime
    # Never more than two at once: the third was created after the second had finished.
    assert third.ctime >= children['sleep_1'].ctime
    assert results['order'].get_list() == [0, 1, 2]


def test_a_stock_work_chain_waits_for_the_whole_batch(sleep_code, monkeypatch):
    """The same pool without the mixin's wake-up: the third job waits for the 8 s one (what the mixin fixes)."""
    monkeypatch.setattr(RollingPoolMixin, '_on_awaitable_finished', WorkChain._on_awaitable_finished)
    _, node = run_get_node(SleepPool, code=sleep_code, durations=orm.List([8, 1, 1]), max_concurrent=orm.Int(2))
    assert node.is_finished_ok, node.exit_message
    children = {link.link_label: link.node for link in node.base.links.get_outgoing().all()}
    assert children['sleep_2'].ctime > children['sleep_0'].mtime
