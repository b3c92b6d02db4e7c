"""The per-index ledger a TaskJob keeps in its status, as a working copy.

`status.indexes[i]` holds index `i`'s watermark (`attempts`: attempts below it
have ended and are counted), its failures, when it may retry and whether its
next attempt has been started; `status.completedIndexes` the indexes that
succeeded, as ranges; `status.attempts` the ended attempts, oldest first. See
`taskops.core.taskjob` for why a watermark makes counting idempotent.

An index that succeeded at its first attempt has no entry: its book is
`FIRST_TRY` (watermark 1, no failures), which `completedIndexes` already
says. A fan-out's status otherwise carries an entry per index, and the API
server decodes, field-manages and encodes them all again on every status
write (bench/findings.md, item 18).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from taskops.core.coerce import as_list, as_non_negative_int, digits_as_int
from taskops.core.observed import format_time, parse_time


@dataclass
class IndexBook:
    """One index's entry of `status.indexes`."""

    attempts: int = 0  # the watermark: attempts below it have ended and are counted
    failures: int = 0  # counted against retry.limit
    retry_after: datetime | None = None
    # Attempt `attempts` has been started: its pod exists or its creation was
    # decided. Remembered so that a pod the cache does not show yet still
    # counts against parallelism (the Job controller's "expectations").
    started: bool = False

    def to_status(self) -> dict[str, Any]:
        """The `status.indexes[i]` entry (camelCase, JSON-ready)."""
        entry: dict[str, Any] = {"attempts": self.attempts, "failures": self.failures}
        if self.retry_after is not None:
            entry["retryAfter"] = format_time(self.retry_after)
        if self.started:
            entry["started"] = True
        return entry


#: The book of an index that succeeded at its first attempt, kept out of the status.
FIRST_TRY: IndexBook = IndexBook(attempts=1)


@dataclass
class Ledger:
    """The memory kept in the status, as a working copy."""

    books: dict[int, IndexBook] = field(default_factory=dict)
    completed: set[int] = field(default_factory=set)
    failed: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)  # ended attempts, oldest first
    result: str | None = None
    results: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> Ledger:
        """The ledger an observed status records; malformed entries are skipped.

        Only ended attempts are kept from `status.attempts` (once per index and
        attempt): the running ones are rebuilt from their pods.
        """
        ledger = cls()
        indexes = status.get("indexes")
        if isinstance(indexes, Mapping):
            for key, entry in indexes.items():
                index = as_non_negative_int(key)
                if index is None or not isinstance(entry, Mapping):
                    continue
                ledger.books[index] = IndexBook(
                    attempts=as_non_negative_int(entry.get("attempts")) or 0,
                    failures=as_non_negative_int(entry.get("failures")) or 0,
                    retry_after=parse_time(entry.get("retryAfter")),
                    started=entry.get("started") is True,
                )
        ledger.completed = parse_index_ranges(status.get("completedIndexes"))
        for index in ledger.completed:
            if index not in ledger.books:
                ledger.books[index] = replace(FIRST_TRY)  # a copy: books are changed
        ledger.failed = as_non_negative_int(status.get("failed")) or 0
        seen: set[tuple[int, int]] = set()
        for record in as_list(status.get("attempts")):
            if not isinstance(record, Mapping) or not record.get("finishTime"):
                continue  # a running attempt's snapshot: rebuilt from its pod
            key = (
                as_non_negative_int(record.get("index")),
                as_non_negative_int(record.get("attempt")),
            )
            if key[0] is None or key[1] is None or key in seen:
                continue
            seen.add((key[0], key[1]))
            ledger.records.append(dict(record))
        result = status.get("result")
        ledger.result = result if isinstance(result, str) else None
        results = status.get("results")
        if isinstance(results, Mapping):
            ledger.results = {str(k): v for k, v in results.items() if isinstance(v, str)}
        return ledger

    def index_entries(self) -> dict[str, dict[str, Any]]:
        """`status.indexes`: every book but those `from_status` rebuilds from
        `completedIndexes` (an index that succeeded at its first attempt)."""
        return {
            str(index): book.to_status()
            for index, book in sorted(self.books.items())
            if not (index in self.completed and book == FIRST_TRY)
        }

    def book(self, index: int) -> IndexBook:
        """The entry of `index`, created empty if it has none."""
        return self.books.setdefault(index, IndexBook())

    def watermark(self, index: int) -> int:
        """The number of ended, counted attempts of `index`."""
        book = self.books.get(index)
        return book.attempts if book else 0

    def total_failures(self) -> int:
        """Failures counted over all indexes (NonIndexed jobs retry against it)."""
        return sum(book.failures for book in self.books.values())


def format_index_ranges(indexes: Iterable[int]) -> str:
    """Indexes as sorted ranges, like a Job's completedIndexes: `0-3,5,7-9`."""
    ordered: list[int | None] = [*sorted(set(indexes)), None]
    parts: list[str] = []
    start: int | None = None
    prev: int | None = None
    for index in ordered:
        if index is not None and prev is not None and index == prev + 1:
            prev = index
            continue
        if start is not None and prev is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = index
    return ",".join(parts)


def parse_index_ranges(text: object) -> set[int]:
    """The inverse of `format_index_ranges`; malformed parts are skipped."""
    if not isinstance(text, str):
        return set()
    indexes: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        first, last = digits_as_int(low), digits_as_int(high) if dash else digits_as_int(low)
        if first is not None and last is not None and first <= last <= first + 100_000:
            indexes.update(range(first, last + 1))
    return indexes
