"""A work chain that wakes up when *any* child finishes, not when all of them have: a rolling pool.

AiiDA's ``WorkChain`` resumes only once every awaited child has terminated. Launching
``max_concurrent`` children and waiting for the whole batch leaves cores idle whenever the
children differ in cost (a 2-atom pw.x label next to a 16-atom one: 4 s against 80 s). A
:class:`RollingPoolMixin` work chain is resumed as soon as one awaited child terminates; its
pool step then records what finished, launches the next child into the free slot and awaits
the children still running again.

The step must therefore derive everything from the children's nodes (terminated or not) and
re-await the running ones with :meth:`RollingPoolMixin.await_running`: at each resume AiiDA
clears the list of awaitables before calling the step. Callbacks of awaitables from before the
resume still fire when their child ends; they are recognised (they are no longer among the
work chain's awaitables) and ignored. The awaitables are persisted as usual, so a daemon that
is killed and restarted picks the pool up where it was: a finished child is never rerun.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiida import orm
from plumpy import ProcessState

__all__ = ('RollingPoolMixin',)

#: Context namespace of the awaited children (``ctx.running.<pk>``).
RUNNING = 'running'


class RollingPoolMixin:
    """Mix into a ``WorkChain`` (before it in the bases) to be resumed whenever one awaited child terminates."""

    def _on_awaitable_finished(self, awaitable: Any) -> None:
        """Resolve the awaitable, then resume right away, even if other children are still running."""
        if not any(current is awaitable for current in self._awaitables):
            # A callback of an awaitable a later step re-registered (or already resolved): nothing to do.
            return
        super()._on_awaitable_finished(awaitable)
        if self.state == ProcessState.WAITING and self._awaitables:
            self.resume()

    def await_running(self, pks: Iterable[int | str]) -> list[int]:
        """Await the children with these PKs that have not terminated yet; return their PKs."""
        running = []
        for pk in pks:
            node = orm.load_node(int(pk))
            if not node.is_terminated:
                self.to_context(**{f'{RUNNING}.{node.pk}': node})
                running.append(node.pk)
        return running
