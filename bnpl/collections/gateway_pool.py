"""A batch's gateway calls, sent concurrently from a bounded pool of threads.

A worker collecting one charge at a time waits for the gateway's round trip on every installment
(100 ms is ordinary for a card network), so the round trip, not our database, sets its pace. The
pool sends up to ``COLLECTIONS_GATEWAY_CONCURRENCY`` calls at once. What runs in its threads is the
call only (``charge_send``): no transaction is open there and nothing of ours is written -- every
write of a batch stays in the worker's own thread, before (the claim) and after (the settling).
The sandbox gateway keeps its own record in our database, as a processor keeps its own: Django gives
each thread a connection of its own for that, and the pool closes them when it closes.

With a size of 1 (or a batch of one) the calls run in the caller's thread, one after another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from bnpl.payments.gateways import Gateway, GatewayResult, get_gateway
from bnpl.payments.models import Charge
from bnpl.payments.services import charge_send

logger = logging.getLogger(__name__)


class Sending:
    """A batch's gateway calls under way (``GatewayPool.start``)."""

    def __init__(
        self,
        *,
        done: list[tuple[int, GatewayResult | None]] | None = None,
        futures: list[Future[tuple[int, GatewayResult | None]]] | None = None,
    ) -> None:
        self._done = done or []
        self._futures = futures or []

    def answers(self) -> dict[int, GatewayResult]:
        """The answers by charge id, once every call is back (a call that raised has none)."""
        answers = self._done + [future.result() for future in self._futures]
        return {charge_id: result for charge_id, result in answers if result is not None}


class GatewayPool:
    """``with GatewayPool(size=n) as pool: pool.send(charges)``; threads live as long as the block."""

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError("COLLECTIONS_GATEWAY_CONCURRENCY must be at least 1")
        self.size = size
        self._executor: ThreadPoolExecutor | None = None
        self._connections: list[BaseDatabaseWrapper] = []
        self._registering = threading.Lock()
        self._local = threading.local()  # each thread's gateways, one per mode (clients are not shared)

    def __enter__(self) -> GatewayPool:
        if self.size > 1:
            self._executor = ThreadPoolExecutor(
                max_workers=self.size, thread_name_prefix="gateway", initializer=self._thread_started
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for connection in self._connections:  # the threads are gone: close what they opened
            connection.close()
            connection.dec_thread_sharing()
        self._connections.clear()

    def send(self, charges: Sequence[Charge], *, off_session: bool = True) -> dict[int, GatewayResult]:
        """Each pending charge sent with its own key; returns the answers by charge id. A charge
        whose call raised (the gateway unreachable, a timeout) has no answer: it stays pending,
        and whoever sends it next (the sweeper) sends the same key."""
        return self.start(charges, off_session=off_session).answers()

    def start(self, charges: Sequence[Charge], *, off_session: bool = True) -> Sending:
        """``send`` without waiting: the calls go out now, ``answers()`` waits for them, so the
        caller's thread can settle the batch before meanwhile (with no pool, they are made here)."""

        def one(charge: Charge) -> tuple[int, GatewayResult | None]:
            try:
                return charge.pk, charge_send(charge=charge, off_session=off_session, gateway=self._gateway(charge))
            except Exception:
                logger.exception("gateway error on charge %s; it is sent again later", charge.public_id)
                return charge.pk, None

        if self._executor is None or len(charges) < 2:
            return Sending(done=[one(charge) for charge in charges])
        return Sending(futures=[self._executor.submit(one, charge) for charge in charges])

    def _gateway(self, charge: Charge) -> Gateway:
        gateways: dict[bool, Gateway] = self._local.__dict__.setdefault("gateways", {})
        if charge.livemode not in gateways:
            gateways[charge.livemode] = get_gateway(livemode=charge.livemode)
        return gateways[charge.livemode]

    def _thread_started(self) -> None:
        """Let the caller's thread close this thread's connections once the pool is shut down."""
        for alias in connections:
            connection = connections[alias]
            connection.inc_thread_sharing()
            with self._registering:
                self._connections.append(connection)
