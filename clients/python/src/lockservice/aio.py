"""asyncio variant: AsyncClient over psycopg.AsyncConnection.

The keepalive is a task; ``run`` runs a coroutine under a lease and cancels
it when the lease is lost, which is real cancellation (unlike threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, TypeVar

import psycopg

from ._client import (EXCLUSIVE, PERMIT, RETRY_FIRST, RETRY_MAX, SHARED, SQL_ACQUIRE,
                      SQL_FENCE, SQL_RELEASE, SQL_RENEW, SQL_WAIT_CHECK, CallTimedOut, LeaseBase,
                      ServerWarnings, _interval, acquire_deadline, cancel_quietly, check_acquire,
                      check_name, check_seconds, host_attempts, is_connection_error)
from ._errors import (CommitUnconfirmed, LeaseLost, LockServiceError, LockTimeout,
                      OutcomeUnknown, from_psycopg)

T = TypeVar("T")


class AsyncLease(LeaseBase):
    """A lease kept alive by a task; ``lost`` is an asyncio.Event."""

    def __init__(self, client: "AsyncClient", name: str, holder: str, token: int,
                 kind: str, ttl: float, sent_at: float) -> None:
        super().__init__(client, name, holder, token, kind, ttl, sent_at)
        self.lost = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None

    @property
    def deadline(self) -> float:
        return self._confirmed_sent + self.ttl - self.margin

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.is_set() and not self._released:
            self.lost_reason = reason
            self.lost.set()

    async def _keepalive(self) -> None:
        conn: Optional[psycopg.AsyncConnection[Any]] = None
        delay = RETRY_FIRST
        due = self._confirmed_sent + self.ttl / 3
        try:
            while not self._released and not self.lost.is_set():
                now = time.monotonic()
                if now >= self.deadline:
                    self._mark_lost("no renewal confirmed by the local deadline")
                    return
                await asyncio.sleep(max(0.0, min(due, self.deadline) - now))
                if time.monotonic() < due:
                    continue
                sent = time.monotonic()
                try:
                    if conn is None or conn.closed:
                        conn = await asyncio.wait_for(self.client._connect(),
                                                      max(0.01, self.deadline - sent))
                    ok = await self.client._run(conn, SQL_RENEW, (self.name, self.token, None),
                                                what="renew", deadline=self.deadline)
                except (psycopg.Error, LockServiceError, asyncio.TimeoutError, OSError):
                    if conn is not None:
                        await conn.close()
                    conn = None
                    due = time.monotonic() + delay
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                delay = RETRY_FIRST
                next_due = self._renewed(bool(ok), sent)
                if next_due is None:
                    return
                due = next_due
        finally:
            if conn is not None:
                await conn.close()

    async def release(self) -> bool:
        if self._released:
            return False
        self._released = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return bool(await self.client._call_retrying(
            SQL_RELEASE, (self.name, self.token), until=time.monotonic() + max(self.ttl, 1.0),
            what="release"))

    @contextlib.asynccontextmanager
    async def fenced(self, conn: psycopg.AsyncConnection[Any],
                     resource: Optional[str] = None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A transaction on conn that starts with fence(resource, token)."""
        resource = check_name(resource if resource is not None else self.name, "resource")
        async with conn.transaction():
            try:
                await conn.execute(SQL_FENCE, (resource, self.token))
            except psycopg.Error as exc:
                if exc.sqlstate and exc.sqlstate.startswith("LS"):
                    raise from_psycopg(exc) from exc
                raise
            yield conn

    async def __aenter__(self) -> "AsyncLease":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()


class AsyncClient:
    """The asyncio counterpart of Client (same arguments)."""

    def __init__(self, conninfo: str = "", *, margin: Optional[float] = None,
                 connect_timeout: float = 5, **connect_kwargs: Any) -> None:
        self.conninfo = conninfo
        self.margin = check_seconds(margin, "margin", allow_zero=True, allow_none=True)
        self.connect_timeout = connect_timeout
        self.connect_kwargs = connect_kwargs

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        kwargs = dict(self.connect_kwargs)
        kwargs.setdefault("connect_timeout", max(1, int(self.connect_timeout)))
        error: Optional[psycopg.OperationalError] = None
        for params in host_attempts(self.conninfo, **kwargs):  # each host: its own timeout
            try:
                conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
            except psycopg.OperationalError as exc:
                error = exc
                continue
            conn.prepare_threshold = None
            return conn
        assert error is not None
        raise error

    @staticmethod
    async def _statement(conn: psycopg.AsyncConnection[Any], sql: str, params: Any,
                         wait_check: bool) -> Any:
        if wait_check:
            async with conn.transaction():
                await conn.execute(SQL_WAIT_CHECK)
                return await (await conn.execute(sql, params)).fetchone()
        return await (await conn.execute(sql, params)).fetchone()

    async def _run(self, conn: psycopg.AsyncConnection[Any], sql: str, params: Any, *, what: str,
                   wait_check: bool = False, deadline: Optional[float] = None) -> Any:
        """Run one statement on conn; its first column (as Client._run).

        When the task is cancelled or the deadline passes, a cancel request
        goes to the server from a thread (it may block on an unreachable
        server) and the call ends at once; the caller closes conn.
        """
        try:
            with ServerWarnings(conn) as warnings:
                statement = self._statement(conn, sql, params, wait_check)
                if deadline is None:
                    row = await statement
                else:
                    row = await asyncio.wait_for(statement, max(0.0, deadline - time.monotonic()))
        except (asyncio.CancelledError, asyncio.TimeoutError) as exc:
            try:
                request = conn.pgconn.get_cancel()
            except psycopg.Error:
                request = None
            if request is not None:
                asyncio.get_running_loop().run_in_executor(None, cancel_quietly, request)
            if isinstance(exc, asyncio.TimeoutError):
                raise CallTimedOut(f"{what}: no reply by the call's deadline", False) from exc
            raise
        except psycopg.Error as exc:
            if is_connection_error(exc, conn):
                raise
            raise from_psycopg(exc) from exc
        warnings.check(what)
        return row[0] if row else None

    async def _call_once(self, sql: str, params: Any, *, what: str, wait_check: bool = False,
                         deadline: Optional[float] = None) -> Any:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise CallTimedOut(f"{what}: the call's deadline passed before connecting", False)
        try:
            conn = await asyncio.wait_for(self._connect(), timeout)
        except asyncio.TimeoutError as exc:
            raise CallTimedOut(f"{what}: no connection by the call's deadline", False) from exc
        try:
            return await self._run(conn, sql, params, what=what, wait_check=wait_check,
                                   deadline=deadline)
        finally:
            await conn.close()

    async def _call_retrying(self, sql: str, params: Any, *, until: float, what: str) -> Any:
        delay = RETRY_FIRST
        while True:
            try:
                return await self._call_once(sql, params, what=what, deadline=until)
            except CallTimedOut:
                raise
            except (psycopg.Error, CommitUnconfirmed) as exc:
                if time.monotonic() + delay >= until:
                    if isinstance(exc, CommitUnconfirmed):
                        raise
                    raise OutcomeUnknown(f"{what}: no reply ({exc}); the outcome is unknown") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _acquire(self, kind: str, name: str, ttl: Any, wait: Any, holder: Optional[str],
                       permits: Optional[int], timeout: Any) -> Optional[AsyncLease]:
        name, ttl_s, wait_s, holder, permits, timeout_s = check_acquire(
            kind, name, ttl, wait, holder, permits, timeout)
        start = time.monotonic()
        wait_until = None if wait_s is None else start + wait_s
        deadline = acquire_deadline(start, wait_s, timeout_s, self.conninfo, self.connect_timeout)
        what = f"acquire of {name!r}"
        delay = RETRY_FIRST
        while True:
            left = None if wait_until is None else max(0.0, wait_until - time.monotonic())
            sent = time.monotonic()
            try:
                token = await self._call_once(SQL_ACQUIRE[kind], {
                    "name": name, "holder": holder, "ttl": _interval(ttl_s),
                    "wait": _interval(left), "permits": permits},
                    what=what, wait_check=(left is None or left > 0), deadline=deadline)
                break
            except CallTimedOut:
                raise
            except (psycopg.Error, CommitUnconfirmed) as exc:
                # as Client._acquire: ask again as the same holder
                if deadline is not None and time.monotonic() + delay >= deadline:
                    if isinstance(exc, CommitUnconfirmed):
                        raise
                    raise OutcomeUnknown(f"{what}: no reply ({exc}); the outcome is unknown") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        if token is None:
            return None
        lease = AsyncLease(self, name, holder, int(token), kind, ttl_s, sent)
        lease._task = asyncio.get_running_loop().create_task(lease._keepalive())
        return lease

    async def acquire(self, name: str, ttl: Any = 30, wait: Any = 0, *,
                      holder: Optional[str] = None, timeout: Any = None) -> Optional[AsyncLease]:
        """An exclusive lease or None; cancel the awaiting task to stop a wait.

        timeout bounds the whole call as in Client.acquire.
        """
        return await self._acquire(EXCLUSIVE, name, ttl, wait, holder, None, timeout)

    async def acquire_shared(self, name: str, ttl: Any = 30, wait: Any = 0, *,
                             holder: Optional[str] = None, timeout: Any = None) -> Optional[AsyncLease]:
        return await self._acquire(SHARED, name, ttl, wait, holder, None, timeout)

    async def acquire_permit(self, name: str, permits: int, ttl: Any = 30, wait: Any = 0, *,
                             holder: Optional[str] = None, timeout: Any = None) -> Optional[AsyncLease]:
        return await self._acquire(PERMIT, name, ttl, wait, holder, permits, timeout)

    async def run(self, name: str, fn: Callable[[AsyncLease], Awaitable[T]], ttl: Any = 30,
                  wait: Any = None, **kwargs: Any) -> T:
        """Await fn(lease) under an exclusive lease; cancelled with LeaseLost when it is lost."""
        lease = await self.acquire(name, ttl, wait, **kwargs)
        if lease is None:
            raise LockTimeout(f"lock {name!r} not granted within {wait} s")
        async with lease:
            work = asyncio.ensure_future(fn(lease))
            lost = asyncio.ensure_future(lease.lost.wait())
            try:
                await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
            if work.done():
                return work.result()
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            raise LeaseLost(f"lease of {name!r} lost: {lease.lost_reason}")
