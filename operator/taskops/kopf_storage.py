"""What kopf stores per object for its own bookkeeping: nothing.

kopf computes a "diff base" on every watch event, a deep copy of the body
without its status, to detect changes for `on.create`/`on.update` handlers.
taskops registers only `on.event` handlers and recomputes from what it
observes (level-triggered), so that copy is never read; profiled at 1,000
TaskJobs it was the largest single cost of the operator's event loop (10-18%
of samples). This storage builds an empty essence and remembers none.
"""

from __future__ import annotations

from typing import Any

import kopf

_EMPTY: Any = {}


class NoDiffBase(kopf.DiffBaseStorage):
    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return _EMPTY

    def fetch(self, *, body: Any) -> Any:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None
