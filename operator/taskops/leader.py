"""Leader election: one active replica, held through a ``coordination.k8s.io/v1`` Lease.

The algorithm is client-go's ``tools/leaderelection`` (what kube-controller-manager
and every controller-runtime operator use), in three parts:

- **acquire**: every ``retry_period`` read the Lease; take it (create, or update
  with its ``resourceVersion``) when it is absent, released (empty
  ``holderIdentity``), ours, or expired.
- **hold**: as leader, renew every ``retry_period``; when no renewal has
  succeeded for ``renew_deadline``, leadership is lost and the caller must stop
  working (the process exits and the pod restarts as a standby).
- **release**: on a clean shutdown, write an empty holder so that a standby
  takes over at its next poll instead of waiting for the Lease to expire.

Expiry is judged the way client-go judges it, without trusting anybody's clock
but our own: a replica remembers when *it* last saw the Lease record change
(``Observation.observed_at``, by our clock), and the Lease counts as expired
``leaseDurationSeconds`` after that. The ``renewTime`` written by the holder is
informational; clocks of different nodes may disagree.

Two deliberate differences from client-go, both on the side of "never two
leaders":

- The renew deadline counts from the last *successful* renewal rather than from
  the start of the current round, so a leader stops at most ``renew_deadline``
  after its last renewal, which is ``lease_duration - renew_deadline`` before
  any standby can consider the Lease expired (a standby first sees that renewal
  no earlier than it was written).
- A leader that reads the Lease and finds another holder stops at once instead
  of retrying until its deadline: somebody else already leads.

Timings. A crashed leader (no release) is replaced at worst
``lease_duration + 2 * retry_period`` after its last renewal (one period until
the standby sees that renewal, the lease duration, one period until the
standby's next poll); a leader that shut down cleanly is replaced within one
``retry_period``. client-go's defaults (15 / 10 / 2 s) give about 19 s; the
operator's defaults and the chart's are 10 / 6 / 1 s, to fit the 15 s takeover
the operator promises.

The official ``kubernetes`` client is synchronous: every API call runs in the
given executor and is bounded by a timeout, so a hung connection can neither
block the event loop nor keep a leader past its deadline.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from taskops.settings import Settings

log = logging.getLogger(__name__)

LEASE_GROUP = "coordination.k8s.io"
LEASE_VERSION = "v1"
LEASE_PLURAL = "leases"

#: Longest single API call of the elector when no deadline is closer (seconds).
MAX_CALL_SECONDS = 10.0
#: Shortest timeout handed to the client: below this, the call cannot succeed anyway.
MIN_CALL_SECONDS = 0.5


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware UTC."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the record


def format_micro_time(moment: datetime) -> str:
    """A Kubernetes ``MicroTime``: RFC 3339 in UTC with exactly six fractional digits.

    The API server parses MicroTime with a fixed ``.000000`` layout, so
    ``datetime.isoformat()`` (which drops the fraction when it is zero, one time
    in a million) would be rejected.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> datetime | None:
    """Parse a ``MicroTime`` (or plain RFC 3339 time); None for None or an empty string."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class LeaseRecord:
    """The leader-election fields of a Lease's spec."""

    #: Who holds the Lease; "" when nobody does (never held, or released).
    holder: str
    duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        """The record of a Lease object as the API server returns it (a dict)."""
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_micro_time(spec.get("acquireTime")),
            renew_time=parse_micro_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        """The Lease spec fields of this record, in the API's spelling."""
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec


@dataclass(frozen=True)
class Observation:
    """A Lease record and the moment (our clock) we first saw it as it is."""

    record: LeaseRecord
    observed_at: datetime

    @property
    def expires_at(self) -> datetime:
        """When the record's holder loses its claim unless the record changes again."""
        return self.observed_at + timedelta(seconds=self.record.duration_seconds)


# --------------------------------------------------------------------------- decisions


def observe(previous: Observation | None, record: LeaseRecord, now: datetime) -> Observation:
    """Remember ``record``; its clock restarts only when it differs from the last one seen.

    This is how expiry is measured without comparing clocks: a holder that keeps
    renewing keeps changing ``renewTime``, and each change restarts our count.
    """
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def held_by_another(observation: Observation, identity: str, now: datetime) -> bool:
    """True while somebody other than ``identity`` holds the Lease and it has not expired."""
    holder = observation.record.holder
    if not holder or holder == identity:
        return False
    return observation.expires_at > now


def claim(current: LeaseRecord | None, identity: str, duration_seconds: int,
          now: datetime) -> LeaseRecord:
    """The record to write to take the Lease, or to renew it when ``identity`` holds it.

    Renewing keeps ``acquireTime`` and the transition count; taking over from a
    previous holder (or after a release) counts one more transition; the first
    holder of a Lease that was never held starts at the count it finds (0).
    """
    if current is not None and current.holder == identity:
        return replace(current, duration_seconds=duration_seconds, renew_time=now)
    transitions = 0
    if current is not None:
        held_before = bool(current.holder) or current.acquire_time is not None
        transitions = current.transitions + (1 if held_before else 0)
    return LeaseRecord(holder=identity, duration_seconds=duration_seconds,
                       acquire_time=now, renew_time=now, transitions=transitions)


def release_record(current: LeaseRecord, now: datetime) -> LeaseRecord:
    """The record a leader writes when it steps down (client-go's ReleaseOnCancel).

    An empty holder lets any standby take the Lease at its next poll; the
    one-second duration makes even an old client that ignores the empty holder
    wait at most one second.
    """
    return LeaseRecord(holder="", duration_seconds=1, acquire_time=now, renew_time=now,
                       transitions=current.transitions)


def holder_identity(name: str) -> str:
    """The Lease's holderIdentity for this process: ``<name>_<random>``.

    Per process, as kube-controller-manager's (hostname + "_" + a UUID): a
    leader's container that is killed and restarted keeps its pod name but is
    a new holder, so it cannot take back the Lease at once as "ours" while it
    may still be valid; it waits for expiry like any standby, and the standby,
    which has watched the Lease for longer, takes over first. The part before
    the last ``_`` is the replica's name (pod names have no ``_``).
    """
    return f"{name}_{uuid.uuid4().hex[:12]}"


def replica_of(holder: str) -> str:
    """The replica name in a holderIdentity written by :func:`holder_identity`."""
    return holder.rsplit("_", 1)[0] if "_" in holder else holder


def lease_duration_seconds(settings: Settings) -> int:
    """``leaseDurationSeconds`` is an integer; round a fractional setting up, never down."""
    return max(1, math.ceil(settings.lease_duration))


# --------------------------------------------------------------------------- the API


class LeaseClient:
    """Reads and writes one Lease as plain dicts.

    Through ``CustomObjectsApi`` (it serves any group's REST path), not
    ``CoordinationV1Api``: the latter converts the body to a ``V1Lease`` model
    whose datetime fields are serialised with ``isoformat()``, which the API
    server's MicroTime parser rejects when the fraction is zero.
    """

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, name: str) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(api)
        self.namespace = namespace
        self.name = name

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""
        try:
            response = self._custom.get_namespaced_custom_object(
                LEASE_GROUP, LEASE_VERSION, self.namespace, LEASE_PLURAL, self.name,
                _preload_content=False, _request_timeout=timeout)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return _json(response)

    def create(self, spec: Mapping[str, Any], timeout: float) -> dict[str, Any] | None:
        """Create the Lease with ``spec``; None when somebody created it first."""
        body = {
            "apiVersion": f"{LEASE_GROUP}/{LEASE_VERSION}",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": dict(spec),
        }
        try:
            response = self._custom.create_namespaced_custom_object(
                LEASE_GROUP, LEASE_VERSION, self.namespace, LEASE_PLURAL, body,
                _preload_content=False, _request_timeout=timeout)
        except ApiException as err:
            if err.status == 409:
                return None
            raise
        return _json(response)

    def replace(self, lease: Mapping[str, Any], spec: Mapping[str, Any],
                timeout: float) -> dict[str, Any] | None:
        """Write ``spec`` over ``lease`` as read; None when it changed since (409 Conflict).

        The body carries the ``resourceVersion`` that was read, so two replicas
        that both decided to take the Lease cannot both succeed. Spec fields
        this module does not manage (``preferredHolder``, ``strategy``) are kept.
        """
        body = {
            "apiVersion": f"{LEASE_GROUP}/{LEASE_VERSION}",
            "kind": "Lease",
            "metadata": lease["metadata"],
            "spec": {**(lease.get("spec") or {}), **spec},
        }
        try:
            response = self._custom.replace_namespaced_custom_object(
                LEASE_GROUP, LEASE_VERSION, self.namespace, LEASE_PLURAL, self.name, body,
                _preload_content=False, _request_timeout=timeout)
        except ApiException as err:
            if err.status in (404, 409):
                return None
            raise
        return _json(response)


def _describe(err: Exception) -> str:
    # str(ApiException) carries every response header and the body: one line is enough.
    if isinstance(err, ApiException):
        return f"HTTP {err.status} {err.reason}"
    return str(err) or type(err).__name__


def _json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


# --------------------------------------------------------------------------- the elector


class Attempt(enum.Enum):
    """The outcome of one try to acquire or renew."""

    HELD = "held"  # we hold the Lease now (acquired or renewed)
    TAKEN = "taken"  # another replica holds it and it has not expired
    FAILED = "failed"  # an error or a lost race; try again


class LeaderElector:
    """Acquire, hold and release the operator's Lease (see the module docstring).

    Use::

        await elector.acquire()      # standby until this replica leads
        ... start reconciling ...
        await elector.hold()         # returns when leadership is lost
        ... stop at once and exit non-zero ...

    and on a clean shutdown, after the in-flight writes are done,
    ``elector.release()``. ``clock`` gives the time written into the Lease
    and used to judge expiry; ``leases`` replaces the API access (tests).
    """

    def __init__(
        self,
        settings: Settings,
        api: kubernetes.client.ApiClient,
        executor: Executor,
        clock: Callable[[], datetime] = utc_now,
        *,
        leases: LeaseClient | None = None,
    ) -> None:
        self.identity = holder_identity(settings.identity)
        self.retry_period = settings.retry_period
        self.renew_deadline = settings.renew_deadline
        self.duration_seconds = lease_duration_seconds(settings)
        self._executor = executor
        self._clock = clock
        self._leases = leases or LeaseClient(api, settings.lease_namespace, settings.lease_name)
        self._observed: Observation | None = None
        self._last_renewal: datetime | None = None
        self._leading = False
        self._last_complaint: str | None = None
        self._last_holder_logged: str | None = None

    @property
    def lease(self) -> str:
        """``namespace/name`` of the Lease, for messages."""
        return f"{self._leases.namespace}/{self._leases.name}"

    @property
    def is_leader(self) -> bool:
        """True from a successful acquire until hold() returns or release()."""
        return self._leading

    @property
    def holder(self) -> str | None:
        """The holder of the Lease as last seen ("" when free; None before the first read)."""
        return None if self._observed is None else self._observed.record.holder

    async def acquire(self) -> None:
        """Return once this replica holds the Lease; retries every ``retry_period``, forever."""
        log.info("leader election: %s waiting for Lease %s", self.identity, self.lease)
        while True:
            outcome = await self._attempt(MAX_CALL_SECONDS)
            if outcome is Attempt.HELD:
                self._leading = True
                record = self._observed.record if self._observed else None
                log.info("leader election: %s acquired Lease %s (transitions: %s)",
                         self.identity, self.lease, record.transitions if record else "?")
                return
            await asyncio.sleep(self.retry_period)

    async def hold(self) -> None:
        """Renew every ``retry_period``; return once leadership is lost.

        Lost means: no renewal succeeded within ``renew_deadline`` of the last
        successful one, or the Lease was found held by another replica. The
        caller must then stop reconciling at once.
        """
        if not self._leading or self._last_renewal is None:
            raise RuntimeError("hold() before acquire()")
        while True:
            await asyncio.sleep(self.retry_period)
            deadline = self._last_renewal + timedelta(seconds=self.renew_deadline)
            while True:
                remaining = (deadline - self._clock()).total_seconds()
                if remaining <= 0:
                    self._lose(f"no renewal for {self.renew_deadline:g}s")
                    return
                outcome = await self._attempt(remaining)
                if outcome is Attempt.HELD:
                    break
                if outcome is Attempt.TAKEN:
                    self._lose(f"the Lease is held by {self.holder}")
                    return
                remaining = (deadline - self._clock()).total_seconds()
                await asyncio.sleep(max(0.0, min(self.retry_period, remaining)))

    def release(self) -> None:
        """Step down (blocking, best effort): write an empty holder if we still hold it.

        Call it on a clean shutdown once in-flight writes are finished, never
        while still reconciling: the standby starts at its next poll. Errors are
        logged, not raised; the Lease then simply expires.
        """
        if not self._leading:
            return
        self._leading = False
        timeout = min(MAX_CALL_SECONDS, max(MIN_CALL_SECONDS, self.renew_deadline))
        try:
            lease = self._leases.get(timeout)
            if lease is None:
                return
            record = LeaseRecord.from_lease(lease)
            if record.holder != self.identity:
                return
            if self._leases.replace(lease, release_record(record, self._clock()).to_spec(),
                                    timeout) is not None:
                log.info("leader election: %s released Lease %s", self.identity, self.lease)
        except Exception as err:  # shutting down: expiry is the fallback
            log.warning("leader election: could not release Lease %s: %s", self.lease,
                        _describe(err))

    # ------------------------------------------------------------------ internals

    def _lose(self, why: str) -> None:
        self._leading = False
        log.error("leader election: %s lost Lease %s: %s", self.identity, self.lease, why)

    async def _attempt(self, budget: float) -> Attempt:
        """One try in the executor, abandoned (not awaited further) after ``budget`` seconds."""
        timeout = max(MIN_CALL_SECONDS, min(budget, MAX_CALL_SECONDS))
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._try_acquire_or_renew, timeout)
        try:
            outcome, observed, error = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._complain(f"Lease {self.lease}: no answer within {timeout:.1f}s")
            return Attempt.FAILED
        # State changes here, on the loop, so that a call abandoned above cannot
        # apply its result after a newer one.
        if error is not None:
            self._complain(f"Lease {self.lease}: {error}")
        if observed is not None:
            self._observed = observed
            self._log_holder(observed.record.holder)
        if outcome is Attempt.HELD and observed is not None:
            self._last_renewal = observed.observed_at
        return outcome

    def _try_acquire_or_renew(
        self, timeout: float
    ) -> tuple[Attempt, Observation | None, str | None]:
        """client-go's tryAcquireOrRenew, in the executor: reads our state, changes none.

        Returns the outcome, what we now know of the Lease, and the error, if any.
        """
        now = self._clock()
        try:
            lease = self._leases.get(timeout)
            if lease is None:
                record = claim(None, self.identity, self.duration_seconds, now)
                if self._leases.create(record.to_spec(), timeout) is None:
                    return Attempt.FAILED, None, None  # somebody else created it first
                return Attempt.HELD, Observation(record, now), None
            observed = observe(self._observed, LeaseRecord.from_lease(lease), now)
            if held_by_another(observed, self.identity, now):
                return Attempt.TAKEN, observed, None
            record = claim(observed.record, self.identity, self.duration_seconds, now)
            if self._leases.replace(lease, record.to_spec(), timeout) is None:
                return Attempt.FAILED, observed, None  # changed since we read it: read again
            return Attempt.HELD, Observation(record, now), None
        except Exception as err:  # any failure is one failed attempt
            return Attempt.FAILED, None, _describe(err)

    def _complain(self, message: str) -> None:
        # A standby without RBAC, or an unreachable API server, fails every
        # retry_period: say it once, then again only when the reason changes.
        level = logging.WARNING if message != self._last_complaint else logging.DEBUG
        self._last_complaint = message
        log.log(level, "leader election: %s", message)

    def _log_holder(self, holder: str) -> None:
        if holder != self._last_holder_logged and holder != self.identity:
            log.info("leader election: Lease %s is held by %s", self.lease, holder or "nobody")
        self._last_holder_logged = holder
