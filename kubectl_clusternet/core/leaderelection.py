"""Lease-based leader election for the daemons, with client-go's semantics on asyncio.

Several hub (or agent) replicas may run; only the holder of a ``coordination.k8s.io/v1`` Lease runs the
controllers, so no two replicas approve the same request at once. Expiry is judged the way client-go judges
it: by how long *this* process has watched the record stay unchanged, never by comparing the holder's clock
with ours. A replica that cannot renew within the renew deadline stops leading (its work is cancelled) and
goes back to campaigning; one that shuts down gracefully gives the Lease up so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .apis.builtin import LEASE
from .errors import ApiError, ClusternetError

__all__ = [
    "LeaderElectionConfig",
    "LeaderElector",
    "new_identity",
    "format_micro_time",
    "lease_holder",
    "lease_record",
    "acquired_spec",
    "renewed_spec",
    "released_spec",
    "may_acquire",
]

_log = logging.getLogger(__name__)


def new_identity(hostname: str | None = None) -> str:
    """``<hostname>_<random>``: unique per process, readable in ``kubectl get lease``."""
    return f"{hostname or socket.gethostname()}_{secrets.token_hex(8)}"


def format_micro_time(moment: datetime) -> str:
    """metav1.MicroTime, the format Lease times use."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Where the Lease lives and the timing knobs, with upstream's defaults (15s / 10s / 2s)."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("the lease duration must be greater than the renew deadline")
        if not self.renew_deadline > self.retry_period:
            raise ValueError("the renew deadline must be greater than the retry period")
        if self.retry_period <= 0:
            raise ValueError("the retry period must be positive")


def lease_holder(lease: Mapping[str, Any] | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def lease_record(lease: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """What identifies one lease record: any change in it proves the holder is alive."""
    spec = (lease or {}).get("spec") or {}
    return (
        str(spec.get("holderIdentity") or ""),
        str(spec.get("renewTime") or ""),
        str(spec.get("leaseTransitions") or 0),
    )


def may_acquire(
    lease: Mapping[str, Any] | None,
    identity: str,
    *,
    unchanged_for: float,
    lease_duration: float,
) -> bool:
    """True when ``identity`` may take the Lease: it is free, ours, or its record has been stale long enough.

    ``unchanged_for`` is how many seconds this process has seen the same record; the holder's own lease
    duration (if recorded) wins over ours, as in client-go.
    """
    holder = lease_holder(lease)
    if not holder or holder == identity:
        return True
    recorded = ((lease or {}).get("spec") or {}).get("leaseDurationSeconds")
    duration = float(recorded) if isinstance(recorded, (int, float)) and recorded > 0 else lease_duration
    return unchanged_for > duration


def acquired_spec(
    lease: Mapping[str, Any] | None, identity: str, *, now: datetime, lease_duration: float
) -> dict[str, Any]:
    """The Lease spec after ``identity`` takes it (a transition is counted when the holder changes)."""
    spec = dict((lease or {}).get("spec") or {})
    transitions = int(spec.get("leaseTransitions") or 0)
    stamp = format_micro_time(now)
    if spec.get("holderIdentity") == identity and spec.get("acquireTime"):
        acquire_time = spec["acquireTime"]
    else:
        acquire_time = stamp
        if spec.get("holderIdentity"):
            transitions += 1
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, int(round(lease_duration))),
        "acquireTime": acquire_time,
        "renewTime": stamp,
        "leaseTransitions": transitions,
    }


def renewed_spec(lease: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    spec = dict(lease.get("spec") or {})
    spec["renewTime"] = format_micro_time(now)
    return spec


def released_spec(lease: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Give the Lease up: no holder and a one-second duration, so a standby takes over without waiting."""
    spec = dict(lease.get("spec") or {})
    spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=format_micro_time(now))
    spec.pop("acquireTime", None)
    return spec


class _LeaseClient:
    """The four Lease calls the elector makes; typed against the AsyncRestClient's methods."""

    def __init__(self, client: Any, config: LeaderElectionConfig) -> None:
        self._client = client
        self._config = config

    @property
    def path(self) -> str:
        return LEASE.object_path(self._config.name, self._config.namespace)

    async def get(self) -> dict[str, Any] | None:
        found = await self._client.get_or_none(self.path)
        return dict(found) if found else None

    async def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._config.name, "namespace": self._config.namespace},
            "spec": spec,
        }
        return dict(await self._client.create(LEASE.collection_path(self._config.namespace), body))

    async def update(self, lease: Mapping[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        body = {**lease, "spec": spec}
        return dict(await self._client.replace(self.path, body))


class LeaderElector:
    """Campaign for one Lease and run a coroutine only while holding it.

    ``client`` is an ``AsyncRestClient`` (anything with get_or_none/create/replace). ``lease`` is the last
    Lease object seen, so an agent can read the Lease's UID (its cluster ID) after the first acquisition.
    """

    def __init__(
        self,
        client: Any,
        config: LeaderElectionConfig,
        *,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._leases = _LeaseClient(client, config)
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._observed: tuple[str, str, str] | None = None
        self._observed_at = 0.0
        self.lease: dict[str, Any] | None = None
        self.is_leader = False
        self.acquired = asyncio.Event()

    def _observe(self, lease: dict[str, Any] | None) -> None:
        record = lease_record(lease)
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()
        self.lease = lease

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: True when we hold the Lease afterwards."""
        identity = self.config.identity
        now = self._wall_clock()
        try:
            lease = await self._leases.get()
            if lease is None:
                created = await self._leases.create(
                    acquired_spec(None, identity, now=now, lease_duration=self.config.lease_duration)
                )
                self._observe(created)
                return True
            self._observe(lease)
            unchanged_for = self._monotonic() - self._observed_at
            if not may_acquire(
                lease, identity, unchanged_for=unchanged_for, lease_duration=self.config.lease_duration
            ):
                return False
            if lease_holder(lease) == identity and self.is_leader:
                spec = renewed_spec(lease, now=now)
                spec["leaseDurationSeconds"] = max(1, int(round(self.config.lease_duration)))
            else:
                spec = acquired_spec(lease, identity, now=now, lease_duration=self.config.lease_duration)
            updated = await self._leases.update(lease, spec)
            self._observe(updated)
            return True
        except ApiError as exc:
            # 409: another replica won the race (create or update); anything else: try again next period.
            if exc.status != 409:
                _log.warning("leader election: cannot update Lease %s: %s", self._leases.path, exc)
            return False
        except ClusternetError as exc:
            _log.warning("leader election: cannot reach the API server: %s", exc)
            return False

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await asyncio.sleep(self.config.retry_period * (1 + 0.2 * secrets.randbelow(100) / 100))

    async def _renew_until_lost(self) -> None:
        """Renew every retry period; return once renewing has failed for longer than the renew deadline."""
        last_renewed = self._monotonic()
        while True:
            await asyncio.sleep(self.config.retry_period)
            if await self.try_acquire_or_renew():
                last_renewed = self._monotonic()
            elif self._monotonic() - last_renewed > self.config.renew_deadline or (
                lease_holder(self.lease) not in ("", self.config.identity)
            ):
                return

    async def release(self) -> None:
        """Give the Lease up if we hold it (graceful shutdown)."""
        if not self.is_leader:
            return
        self.is_leader = False
        self.acquired.clear()
        try:
            lease = await self._leases.get()
            if lease is not None and lease_holder(lease) == self.config.identity:
                await self._leases.update(lease, released_spec(lease, now=self._wall_clock()))
                _log.info("leader election: released Lease %s", self._leases.path)
        except ClusternetError as exc:
            _log.warning("leader election: could not release Lease %s: %s", self._leases.path, exc)

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Forever: win the Lease, run ``lead()`` while it is held, cancel it when lost, campaign again.

        Cancelling ``run`` cancels ``lead()`` and releases the Lease.
        """
        path = f"{self.config.namespace}/{self.config.name}"
        try:
            while True:
                _log.info("leader election: %s campaigning for Lease %s", self.config.identity, path)
                await self._acquire()
                self.is_leader = True
                self.acquired.set()
                _log.info("leader election: %s became the leader (Lease %s)", self.config.identity, path)
                leading = asyncio.ensure_future(lead())
                renewing = asyncio.ensure_future(self._renew_until_lost())
                try:
                    done, _ = await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (leading, renewing):
                        task.cancel()
                    for task in (leading, renewing):
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                if renewing in done:
                    _log.warning(
                        "leader election: %s lost Lease %s; stopping its work", self.config.identity, path
                    )
                    self.is_leader = False
                    self.acquired.clear()
                else:
                    error = leading.exception() if not leading.cancelled() else None
                    _log.error("leader election: the leader's work ended (%r); giving the Lease up", error)
                    await self.release()
                    await asyncio.sleep(self.config.retry_period)
        finally:
            await asyncio.shield(self.release())
