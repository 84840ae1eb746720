"""A lockservice client over psycopg 3: leases kept alive in the background."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, List, Optional, TypeVar

import psycopg

from ._errors import (CommitUnconfirmed, LeaseLost, LockServiceError, LockTimeout,
                      NotConnected, OutcomeUnknown, from_psycopg)

T = TypeVar("T")

EXCLUSIVE = "exclusive"
SHARED = "shared"
PERMIT = "permit"

# First retry of a call whose outcome is unknown, doubling up to the maximum.
RETRY_FIRST = 0.1
RETRY_MAX = 1.0
# A call cancelled (at its deadline, or by the caller) that has not answered
# within this many seconds has its connection cut: an unreachable server
# cannot hold the caller longer.
CANCEL_GRACE = 1.0

SQL_ACQUIRE = {
    EXCLUSIVE: "SELECT lockservice.lock_acquire(%(name)s, %(holder)s, %(ttl)s, %(wait)s)",
    SHARED: "SELECT lockservice.lock_acquire_shared(%(name)s, %(holder)s, %(ttl)s, %(wait)s)",
    PERMIT: "SELECT lockservice.sem_acquire(%(name)s, %(holder)s, %(permits)s, %(ttl)s, %(wait)s)",
}
SQL_RENEW = "SELECT lockservice.lock_renew(%s, %s, %s)"
SQL_RELEASE = "SELECT lockservice.lock_release(%s, %s)"
SQL_CHECK = "SELECT lockservice.lock_check(%s, %s)"
SQL_FENCE = "SELECT lockservice.fence(%s, %s)"
SQL_HOLDERS = ("SELECT holder, token, kind::text, granted_at, expires_at "
               "FROM lockservice.lock_holder(%s) ORDER BY granted_at, token")
# sessions (lockservice 1.5): one keepalive for many locks
SQL_SESSION_OPEN = "SELECT lockservice.session_open(%s, %s)"
SQL_SESSION_RENEW = "SELECT lockservice.session_renew(%s, %s)"
SQL_SESSION_CLOSE = "SELECT lockservice.session_close(%s)"
SQL_SESSION_ACQUIRE = {
    EXCLUSIVE: "SELECT lockservice.lock_acquire(%(name)s, %(session)s::bigint, %(wait)s)",
    SHARED: "SELECT lockservice.lock_acquire_shared(%(name)s, %(session)s::bigint, %(wait)s)",
    PERMIT: "SELECT lockservice.sem_acquire(%(name)s, %(session)s::bigint, %(permits)s, %(wait)s)",
}
# multi-lock: every name or none, tokens in the order of the names
SQL_ACQUIRE_ALL = "SELECT lockservice.lock_acquire_all(%(names)s::text[], %(holder)s, %(ttl)s, %(wait)s)"
SQL_SESSION_ACQUIRE_ALL = "SELECT lockservice.lock_acquire_all(%(names)s::text[], %(session)s::bigint, %(wait)s)"
# a waiting acquire: the server notices within a second that the client died
SQL_WAIT_CHECK = "SELECT pg_catalog.set_config('client_connection_check_interval', '1000', true)"


RENEWAL_REFUSED = "renewal refused: the lease expired, was released or taken over"


def check_name(name: Any, what: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if name == "":
        raise ValueError(f"{what} must not be empty")
    return name


def check_seconds(value: Any, what: str, *, allow_zero: bool, allow_none: bool = False) -> Optional[float]:
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{what} must be a number of seconds, not None")
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds or a timedelta, not {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} must be finite")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return float(value)


def check_names(names: Any) -> List[str]:
    """The names of a multi-lock: a non-empty list of distinct names."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise TypeError("names must be a list of str")
    names = [check_name(n) for n in names]
    if not names:
        raise ValueError("names must not be empty")
    if len(set(names)) != len(names):
        raise ValueError("names must not repeat")
    return names


def check_permits(permits: Any) -> int:
    if isinstance(permits, bool) or not isinstance(permits, int):
        raise TypeError("permits must be an int")
    if permits < 1:
        raise ValueError(f"permits must be >= 1, got {permits}")
    return permits


def check_acquire(kind: str, name: Any, ttl: Any, wait: Any, holder: Any, permits: Any,
                  timeout: Any) -> "tuple[str, float, Optional[float], str, Optional[int], Optional[float]]":
    """An acquire's arguments checked (before anything is sent): name, ttl, wait, holder, permits, timeout."""
    name = check_name(name)
    ttl_s = check_seconds(ttl, "ttl", allow_zero=False)
    assert ttl_s is not None
    wait_s = check_seconds(wait, "wait", allow_zero=True, allow_none=True)
    holder = check_name(holder, "holder") if holder is not None else default_holder()
    if kind == PERMIT:
        permits = check_permits(permits)
    timeout_s = check_seconds(timeout, "timeout", allow_zero=False, allow_none=True)
    return name, ttl_s, wait_s, holder, permits, timeout_s


def acquire_deadline(start: float, wait_s: Optional[float], timeout_s: Optional[float],
                     conninfo: str, connect_timeout: float) -> Optional[float]:
    """When an acquire started at start must have ended (monotonic; None: never).

    timeout, by default the wait plus connect_timeout for each host; no
    bound when waiting without limit and no timeout was given.
    """
    if timeout_s is None and wait_s is not None:
        timeout_s = wait_s + connect_budget(conninfo, connect_timeout)
    return None if timeout_s is None else start + timeout_s


def default_holder() -> str:
    """host:pid:random — unique per lease, stable across retries of one acquire."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class CallTimedOut(OutcomeUnknown):
    """A call ended by its deadline.  nothing_done: the server said the
    statement was cancelled (57014), so it took no effect."""

    def __init__(self, message: str, nothing_done: bool) -> None:
        super().__init__(message)
        self.nothing_done = nothing_done


class ServerWarnings:
    """The WARNINGs the server sends on a connection while a call runs.

    A reply that comes with one (PostgreSQL's "canceling wait for
    synchronous replication": committed on the primary only) is not a
    confirmed outcome.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.messages: List[str] = []

    def __call__(self, diag: Any) -> None:
        if diag.severity_nonlocalized == "WARNING":
            self.messages.append(diag.message_primary or "warning")

    def __enter__(self) -> "ServerWarnings":
        self.conn.add_notice_handler(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.conn.remove_notice_handler(self)

    def check(self, what: str) -> None:
        """CommitUnconfirmed when a WARNING came with the reply."""
        if self.messages:
            raise CommitUnconfirmed(f"{what}: the server could not confirm the commit "
                                    f"({self.messages[-1]}); the outcome is unknown")


def cancel_quietly(cancel: Any) -> None:
    """Send a cancel request (libpq's PGcancel); it may block on an unreachable server."""
    try:
        cancel.cancel()
    except Exception:  # the statement may have ended meanwhile
        pass


def cut_connection(conn: Any) -> None:
    """Shut the connection's socket down, so that a call blocked on it returns."""
    try:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def host_attempts(conninfo: str, **kwargs: Any) -> "List[dict[str, Any]]":
    """The connection parameters to try, one host at a time, in order.

    libpq takes a list of hosts (host=a,b port=1,2, also from PGHOST and
    PGPORT) and psycopg 3.1 applies connect_timeout to the whole list, so a
    first host that never answers (an old primary behind a partition) uses
    it all.  Split, each host gets the timeout of its own, as in the C
    library; libpq still checks target_session_attrs on each.
    """
    params = psycopg.conninfo.conninfo_to_dict(conninfo, **kwargs)
    hosts = str(params.get("host") or os.environ.get("PGHOST", "")).split(",")
    if len(hosts) < 2:
        return [params]
    ports = str(params.get("port") or os.environ.get("PGPORT", "")).split(",")
    addrs = str(params.get("hostaddr") or os.environ.get("PGHOSTADDR", "")).split(",")
    attempts = []
    for i, host in enumerate(hosts):
        one = dict(params, host=host)
        if ports != [""]:
            one["port"] = ports[i] if len(ports) > 1 else ports[0]
        if addrs != [""]:
            one["hostaddr"] = addrs[i] if len(addrs) > 1 else addrs[0]
        attempts.append(one)
    return attempts


@functools.lru_cache(maxsize=64)
def connect_budget(conninfo: str, connect_timeout: float) -> float:
    """The longest a connection may take: connect_timeout for each host tried.

    Parsed once per conninfo and timeout (every acquire asks), so PGHOST and
    PGPORT count as they were at the first acquire of that conninfo.
    """
    try:
        return connect_timeout * len(host_attempts(conninfo))
    except psycopg.Error:  # a bad conninfo fails when connecting, with its own message
        return connect_timeout


def is_connection_error(exc: BaseException, conn: Optional[psycopg.Connection]) -> bool:
    """Whether the reply may never have come: the outcome of the call is unknown."""
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        if conn is None or conn.closed or conn.broken:
            return True
        # 57P01..57P03: the server shut down or terminated the session
        return exc.sqlstate is not None and exc.sqlstate.startswith("57P")
    return False


@dataclass(frozen=True)
class Holder:
    """A live lease of a name, as lock_holder() reports it."""

    holder: str
    token: int
    kind: str
    granted_at: datetime
    expires_at: datetime


class LeaseBase:
    """What the thread and asyncio leases share: the lease and its local deadline."""

    def __init__(self, client: Any, name: str, holder: str, token: int,
                 kind: str, ttl: float, sent_at: float) -> None:
        self.client = client
        self.name = name
        self.holder = holder
        self.token = token
        self.kind = kind
        self.ttl = ttl
        self.margin = client.margin if client.margin is not None else ttl / 5
        self.lost_reason: Optional[str] = None
        self._released = False
        self._confirmed_sent = sent_at

    def _confirm(self, sent_at: float, ttl: Optional[float] = None) -> None:
        if ttl is not None:
            self.ttl = ttl
        self._confirmed_sent = max(self._confirmed_sent, sent_at)

    def _mark_lost(self, reason: str) -> None:
        raise NotImplementedError

    def _renewed(self, ok: bool, sent_at: float) -> Optional[float]:
        """After a renewal's reply: when the next one is due, or None once refused (lost)."""
        if ok:
            self._confirm(sent_at)
            return sent_at + self.ttl / 3
        self._mark_lost(RENEWAL_REFUSED)
        return None


class Lease(LeaseBase):
    """A lease held by this process, kept alive in the background.

    ``lost`` is set when the lease is lost: a renewal was refused, or no
    renewal was confirmed by the local deadline (the monotonic time the last
    confirmed call was sent, plus ttl, minus a margin).  Work done under the
    lease must stop then; writes it protects should be fenced.
    """

    def __init__(self, client: "Client", name: str, holder: str, token: int,
                 kind: str, ttl: float, sent_at: float) -> None:
        super().__init__(client, name, holder, token, kind, ttl, sent_at)
        self.lost = threading.Event()
        self._cond = threading.Condition()
        self._callbacks: List[Callable[["Lease"], None]] = []
        self._threads: List[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<Lease {self.name!r} token={self.token} holder={self.holder!r}{' lost' if self.lost.is_set() else ''}>"

    # -- timing
    @property
    def deadline(self) -> float:
        """Monotonic time at which the lease counts as lost without a confirmed renewal."""
        with self._cond:
            return self._confirmed_sent + self.ttl - self.margin

    def remaining(self) -> float:
        """Seconds until the local deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    def _confirm(self, sent_at: float, ttl: Optional[float] = None) -> None:
        with self._cond:
            if ttl is not None:
                self.ttl = ttl
            self._confirmed_sent = max(self._confirmed_sent, sent_at)
            self._cond.notify_all()

    def _mark_lost(self, reason: str) -> None:
        with self._cond:
            if self.lost.is_set() or self._released:
                return
            self.lost_reason = reason
            self.lost.set()
            callbacks = list(self._callbacks)
            self._cond.notify_all()
        for cb in callbacks:
            try:
                cb(self)
            except Exception:  # a callback's failure must not stop the others
                pass

    def on_lost(self, callback: Callable[["Lease"], None]) -> None:
        """Call callback(lease) from the keepalive when the lease is lost (at once if it is)."""
        with self._cond:
            if not self.lost.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _remove_callback(self, callback: Callable[["Lease"], None]) -> None:
        with self._cond:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def raise_if_lost(self) -> None:
        if self.lost.is_set() or self.remaining() <= 0:
            self._mark_lost(self.lost_reason or "no renewal confirmed in time")
            raise LeaseLost(f"lease of {self.name!r} lost: {self.lost_reason}")

    # -- calls
    def renew(self, ttl: Optional[float] = None) -> bool:
        """Extend the lease (now + ttl, or its own ttl); False when it is no longer held."""
        new_ttl = check_seconds(ttl, "ttl", allow_zero=False, allow_none=True)
        sent = time.monotonic()
        ok = self.client._call_retrying(
            SQL_RENEW, (self.name, self.token, _interval(new_ttl)),
            until=self.deadline, what="renew")
        if ok:
            self._confirm(sent, new_ttl)
        else:
            self._mark_lost(RENEWAL_REFUSED)
        return bool(ok)

    def release(self) -> bool:
        """End the lease; False when it was no longer held. Stops the keepalive."""
        with self._cond:
            already = self._released
            self._released = True
            self._cond.notify_all()
        if already:
            return False
        try:
            return bool(self.client._call_retrying(
                SQL_RELEASE, (self.name, self.token),
                until=time.monotonic() + max(self.ttl, 1.0), what="release"))
        finally:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join(timeout=0.5)

    def check(self, conn: psycopg.Connection) -> bool:
        """lock_check in conn's current transaction: True holds the lease until it ends."""
        row = conn.execute(SQL_CHECK, (self.name, self.token)).fetchone()
        return bool(row and row[0])

    @contextlib.contextmanager
    def fenced(self, conn: psycopg.Connection, resource: Optional[str] = None) -> Iterator[psycopg.Connection]:
        """A transaction on conn that starts with fence(resource, token).

        Writes made in it commit only if no higher token reached the
        resource first (FencedError, LS001, otherwise).  resource defaults
        to the lease's name.
        """
        resource = check_name(resource if resource is not None else self.name, "resource")
        with conn.transaction():
            try:
                conn.execute(SQL_FENCE, (resource, self.token))
            except psycopg.Error as exc:
                if exc.sqlstate and exc.sqlstate.startswith("LS"):
                    raise from_psycopg(exc) from exc
                raise
            yield conn

    @contextlib.contextmanager
    def checked(self, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
        """A transaction on conn that starts with lock_check: LeaseLost when not held."""
        with conn.transaction():
            if not self.check(conn):
                self._mark_lost("lock_check: the lease is no longer held")
                raise LeaseLost(f"lease of {self.name!r} is no longer held")
            yield conn

    def resign(self) -> bool:
        """Leader election: give up leadership (release)."""
        return self.release()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # -- keepalive
    def _renew_statement(self) -> "tuple[str, Any]":
        """The statement the keepalive renews with."""
        return SQL_RENEW, (self.name, self.token, None)

    def _start_keepalive(self) -> None:
        for target, what in ((self._renew_loop, "renew"), (self._watchdog, "watchdog")):
            t = threading.Thread(target=target, name=f"lockservice-{what}:{self.name}", daemon=True)
            self._threads.append(t)
            t.start()

    def _done(self) -> bool:
        return self._released or self.lost.is_set()

    def _watchdog(self) -> None:
        with self._cond:
            while not self._done():
                left = self._confirmed_sent + self.ttl - self.margin - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        if not self._released:
            self._mark_lost("no renewal confirmed by the local deadline")

    def _renew_loop(self) -> None:
        conn: Optional[psycopg.Connection] = None
        delay = RETRY_FIRST
        try:
            with self._cond:
                due = self._confirmed_sent + self.ttl / 3
            while True:
                with self._cond:
                    while not self._done() and time.monotonic() < due:
                        self._cond.wait(due - time.monotonic())
                    if self._done():
                        return
                sent = time.monotonic()
                try:
                    if conn is None or conn.closed:
                        conn = self.client._connect(keepalive_for=self.ttl)
                    sql, params = self._renew_statement()
                    ok = self.client._run(conn, sql, params, deadline=self.deadline, what="renew")
                except (psycopg.Error, LockServiceError):
                    # unconfirmed: retry soon, never counted as a renewal
                    if conn is not None:
                        conn.close()
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
                conn.close()


class SessionLease(Lease):
    """A lease kept by a Session: no keepalive and no ttl of its own.

    Its deadline is its session's; it is lost when the session is (or when a
    lock_check finds it gone).  release() gives back this lease alone.
    """

    def __init__(self, session: "Session", name: str, token: int, kind: str) -> None:
        super().__init__(session.client, name, session.holder, token, kind, session.ttl,
                         session._confirmed_sent)
        self.session = session

    def __repr__(self) -> str:
        return (f"<Lease {self.name!r} token={self.token} session={self.session.id}"
                f"{' lost' if self.lost.is_set() else ''}>")

    @property
    def deadline(self) -> float:
        return self.session.deadline

    def _start_keepalive(self) -> None:
        pass  # the session's keepalive keeps it

    def renew(self, ttl: Optional[float] = None) -> bool:
        """Renew the session, and with it every lease in it."""
        return self.session.renew(ttl)

    def release(self) -> bool:
        self.session._forget(self)
        return super().release()


class Session(Lease):
    """A lock session of this process: one keepalive keeps every lock in it.

    ``lost`` is set when the session is lost (a renewal refused, or none
    confirmed by the local deadline: the monotonic time the last confirmed
    open or renewal was sent, plus ttl, minus a margin); every lease in it
    is then marked lost at the same moment.  ``id`` is the server's session
    id.  Closing the session releases every lease in it.
    """

    def __init__(self, client: "Client", session_id: int, holder: str, ttl: float,
                 sent_at: float) -> None:
        super().__init__(client, f"session {session_id}", holder, session_id, "session", ttl, sent_at)
        self.id = session_id
        self._leases: List[SessionLease] = []

    def __repr__(self) -> str:
        return f"<Session {self.id} holder={self.holder!r} leases={len(self._leases)}{' lost' if self.lost.is_set() else ''}>"

    @property
    def leases(self) -> List[SessionLease]:
        """The leases acquired in the session and not released."""
        with self._cond:
            return list(self._leases)

    def _renew_statement(self) -> "tuple[str, Any]":
        return SQL_SESSION_RENEW, (self.id, None)

    def _mark_lost(self, reason: str) -> None:
        # the leases first: whoever sees the session lost sees them lost too
        with self._cond:
            ending = not (self.lost.is_set() or self._released)
        if ending:
            for lease in self.leases:
                lease._mark_lost(f"session {self.id} lost: {reason}")
        super()._mark_lost(reason)

    def _forget(self, lease: SessionLease) -> None:
        with self._cond:
            if lease in self._leases:
                self._leases.remove(lease)

    def _kept(self, lease: SessionLease) -> SessionLease:
        with self._cond:
            self._leases.append(lease)
        if self.lost.is_set():
            lease._mark_lost(f"session {self.id} lost: {self.lost_reason}")
        return lease

    def renew(self, ttl: Optional[float] = None) -> bool:
        """Extend the session, and every lease in it (now + ttl, or its own ttl);
        False when it has ended (then every lease in it is lost)."""
        new_ttl = check_seconds(ttl, "ttl", allow_zero=False, allow_none=True)
        sent = time.monotonic()
        ok = self.client._call_retrying(SQL_SESSION_RENEW, (self.id, _interval(new_ttl)),
                                        until=self.deadline, what="session renew")
        if ok:
            self._confirm(sent, new_ttl)
        else:
            self._mark_lost(RENEWAL_REFUSED)
        return bool(ok)

    def _acquire_in(self, kind: str, name: str, wait: Any, permits: Optional[int],
                    cancel: Optional[threading.Event], timeout: Any) -> Optional[SessionLease]:
        name, _, wait_s, _, permits, timeout_s = check_acquire(
            kind, name, self.ttl, wait, self.holder, permits, timeout)
        token, _ = self.client._acquire_call(
            SQL_SESSION_ACQUIRE[kind], {"name": name, "session": self.id, "permits": permits},
            what=f"acquire of {name!r} in session {self.id}", wait_s=wait_s,
            timeout_s=timeout_s, cancel=cancel)
        if token is None:
            return None
        return self._kept(SessionLease(self, name, int(token), kind))

    def acquire(self, name: str, wait: Any = 0, *, cancel: Optional[threading.Event] = None,
                timeout: Any = None) -> Optional[SessionLease]:
        """An exclusive lease of name kept by the session, or None when not
        granted within wait seconds (SessionNotOpenError once the session ended)."""
        return self._acquire_in(EXCLUSIVE, name, wait, None, cancel, timeout)

    def acquire_shared(self, name: str, wait: Any = 0, *, cancel: Optional[threading.Event] = None,
                       timeout: Any = None) -> Optional[SessionLease]:
        """A shared lease of name kept by the session."""
        return self._acquire_in(SHARED, name, wait, None, cancel, timeout)

    def acquire_permit(self, name: str, permits: int, wait: Any = 0, *,
                       cancel: Optional[threading.Event] = None,
                       timeout: Any = None) -> Optional[SessionLease]:
        """One of at most `permits` leases of name, kept by the session."""
        return self._acquire_in(PERMIT, name, wait, permits, cancel, timeout)

    def acquire_all(self, names: Any, wait: Any = 0, *, cancel: Optional[threading.Event] = None,
                    timeout: Any = None) -> Optional[List[SessionLease]]:
        """Exclusive leases of every name, all or nothing, kept by the session:
        in the order of names, or None (then none is held)."""
        names = check_names(names)
        _, _, wait_s, _, _, timeout_s = check_acquire(
            EXCLUSIVE, names[0], self.ttl, wait, self.holder, None, timeout)
        tokens, _ = self.client._acquire_call(
            SQL_SESSION_ACQUIRE_ALL, {"names": names, "session": self.id},
            what=f"acquire of {names!r} in session {self.id}", wait_s=wait_s,
            timeout_s=timeout_s, cancel=cancel)
        if tokens is None:
            return None
        return [self._kept(SessionLease(self, n, int(t), EXCLUSIVE)) for n, t in zip(names, tokens)]

    def close(self) -> bool:
        """End the session and release every lease in it; False when it had
        already ended.  Stops the keepalive."""
        with self._cond:
            already = self._released
            self._released = True
            leases, self._leases = self._leases, []
            self._cond.notify_all()
        for lease in leases:
            with lease._cond:
                lease._released = True
        if already:
            return False
        try:
            return bool(self.client._call_retrying(
                SQL_SESSION_CLOSE, (self.id,),
                until=time.monotonic() + max(self.ttl, 1.0), what="session close"))
        finally:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join(timeout=0.5)

    def release(self) -> bool:
        return self.close()

    def check(self, conn: psycopg.Connection) -> bool:
        raise TypeError("a session has no lock of its own: check its leases")

    def fenced(self, conn: psycopg.Connection, resource: Optional[str] = None) -> Any:
        raise TypeError("a session has no token of its own: fence with its leases")

    def checked(self, conn: psycopg.Connection) -> Any:
        raise TypeError("a session has no lock of its own: check its leases")


def _interval(seconds: Optional[float]) -> Optional[timedelta]:
    return None if seconds is None else timedelta(seconds=seconds)


class Client:
    """Leases from one PostgreSQL database with lockservice installed.

    conninfo is a libpq connection string (or URL); connect_kwargs go to
    psycopg.connect.  Every call is one short autocommit transaction with
    no session state and no prepared statements, so it works through
    PgBouncer in transaction pooling mode.
    """

    def __init__(self, conninfo: str = "", *, margin: Optional[float] = None,
                 connect_timeout: float = 5, **connect_kwargs: Any) -> None:
        self.conninfo = conninfo
        self.margin = check_seconds(margin, "margin", allow_zero=True, allow_none=True)
        self.connect_timeout = connect_timeout
        self.connect_kwargs = connect_kwargs
        self._idle: List[psycopg.Connection] = []
        self._lock = threading.Lock()

    # -- connections
    def _connect(self, keepalive_for: Optional[float] = None,
                 deadline: Optional[float] = None) -> psycopg.Connection:
        kwargs = dict(self.connect_kwargs)
        timeout = self.connect_timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise psycopg.OperationalError("the call's deadline passed before connecting")
        kwargs.setdefault("connect_timeout", max(1, int(timeout + 0.999)))
        if keepalive_for is not None:
            # a partitioned server must not hold the renewer past the lease
            kwargs.setdefault("tcp_user_timeout", max(1000, int(keepalive_for * 1000 / 3)))
        error: Optional[psycopg.OperationalError] = None
        for params in host_attempts(self.conninfo, **kwargs):
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                conn = psycopg.connect(autocommit=True, **params)
            except psycopg.OperationalError as exc:
                error = exc  # this host is down, silent or read-only: the next one
                continue
            conn.prepare_threshold = None  # no named prepared statements (PgBouncer)
            return conn
        raise error or psycopg.OperationalError("the call's deadline passed before connecting")

    @contextlib.contextmanager
    def connection(self, deadline: Optional[float] = None) -> Iterator[psycopg.Connection]:
        """A connection of the client's own (autocommit); broken ones are dropped."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            try:
                conn = self._connect(deadline=deadline)
            except psycopg.OperationalError as exc:
                raise NotConnected(f"cannot connect: {exc}") from exc
        ok = False
        try:
            yield conn
            ok = True
        finally:
            if ok and not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                with self._lock:
                    self._idle.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def _watch(conn: psycopg.Connection, done: threading.Event, cancel: Optional[threading.Event],
               deadline: Optional[float], ended_by: List[str]) -> None:
        """Cancel conn's statement when cancel is set or the deadline passes; cut the
        connection if no reply comes within CANCEL_GRACE after that."""
        cut_at: Optional[float] = None
        while not done.wait(0.05):
            now = time.monotonic()
            if cut_at is None:
                if cancel is not None and cancel.is_set():
                    ended_by.append("cancel")
                elif deadline is not None and now >= deadline:
                    ended_by.append("deadline")
                else:
                    continue
                cut_at = now + CANCEL_GRACE
                try:
                    request = conn.pgconn.get_cancel()
                except psycopg.Error:
                    return
                threading.Thread(target=cancel_quietly, args=(request,), daemon=True).start()
            elif now >= cut_at:
                cut_connection(conn)
                return

    def _run(self, conn: psycopg.Connection, sql: str, params: Any, *, what: str,
             wait_check: bool = False, cancel: Optional[threading.Event] = None,
             deadline: Optional[float] = None) -> Any:
        """Run one statement on conn; its first column.

        Server errors become LockServiceError; a reply with a WARNING is
        CommitUnconfirmed; a call ended by its deadline is CallTimedOut.
        """
        done = threading.Event()
        ended_by: List[str] = []
        watcher = None
        if cancel is not None or deadline is not None:
            watcher = threading.Thread(target=self._watch, args=(conn, done, cancel, deadline, ended_by),
                                       daemon=True)
            watcher.start()
        try:
            with ServerWarnings(conn) as warnings:
                if wait_check:
                    with conn.transaction():
                        conn.execute(SQL_WAIT_CHECK)
                        row = conn.execute(sql, params).fetchone()
                else:
                    row = conn.execute(sql, params).fetchone()
        except psycopg.Error as exc:
            if ended_by == ["deadline"]:
                nothing_done = exc.sqlstate == "57014" and not is_connection_error(exc, conn)
                raise CallTimedOut(f"{what}: no reply by the call's deadline ({exc})", nothing_done) from exc
            if is_connection_error(exc, conn):
                raise
            raise from_psycopg(exc) from exc
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
        warnings.check(what)
        return row[0] if row else None

    def _call_once(self, sql: str, params: Any, *, what: str, wait_check: bool = False,
                   cancel: Optional[threading.Event] = None, deadline: Optional[float] = None) -> Any:
        """Run one statement on a connection of the client's (see _run)."""
        with self.connection(deadline) as conn:
            return self._run(conn, sql, params, what=what, wait_check=wait_check,
                             cancel=cancel, deadline=deadline)

    def _call_retrying(self, sql: str, params: Any, *, until: float, what: str) -> Any:
        """Run a statement, retrying while its outcome is unknown, until `until` (monotonic)."""
        delay = RETRY_FIRST
        sent_any = False
        while True:
            try:
                return self._call_once(sql, params, what=what, deadline=until)
            except CallTimedOut:
                raise
            except (psycopg.Error, NotConnected, CommitUnconfirmed) as exc:
                sent_any = sent_any or not isinstance(exc, NotConnected)
                if time.monotonic() + delay >= until:
                    if not sent_any or isinstance(exc, CommitUnconfirmed):
                        raise
                    raise OutcomeUnknown(f"{what}: no reply ({exc.__class__.__name__}: {exc}); "
                                         "the outcome is unknown") from exc
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    # -- acquiring
    def _acquire_call(self, sql: str, params: "dict[str, Any]", *, what: str,
                      wait_s: Optional[float], timeout_s: Optional[float],
                      cancel: Optional[threading.Event]) -> "tuple[Any, float]":
        """Run an acquire, retrying while its outcome is unknown; (result, sent).

        A retry asks again as the same holder (or in the same session),
        which returns the same token(s) when the first call got them: never
        a false success.  result is None when nothing was granted.
        """
        if cancel is not None and not isinstance(cancel, threading.Event):
            raise TypeError("cancel must be a threading.Event")
        start = time.monotonic()
        wait_until = None if wait_s is None else start + wait_s
        deadline = acquire_deadline(start, wait_s, timeout_s, self.conninfo, self.connect_timeout)
        delay = RETRY_FIRST
        sent_any = False
        while True:
            left = None if wait_until is None else max(0.0, wait_until - time.monotonic())
            sent = time.monotonic()
            try:
                result = self._call_once(sql, dict(params, wait=_interval(left)), what=what,
                                         wait_check=(left is None or left > 0),
                                         cancel=cancel, deadline=deadline)
                return result, sent
            except CallTimedOut as exc:
                if exc.nothing_done:
                    return None, sent  # the deadline ended the server's wait: nothing was granted
                raise
            except (psycopg.Error, NotConnected, CommitUnconfirmed) as exc:
                # no reply, or an unconfirmed commit: the lease may be ours; ask
                # again as the same holder, which returns the same token if it
                # is (never a false success)
                sent_any = sent_any or not isinstance(exc, NotConnected)
                if cancel is not None and cancel.is_set():
                    if not sent_any:
                        raise
                    raise OutcomeUnknown(f"{what} cancelled without a reply; "
                                         "a lease it may have got ends at its ttl") from exc
                if deadline is not None and time.monotonic() + delay >= deadline:
                    if not sent_any or isinstance(exc, CommitUnconfirmed):
                        raise
                    raise OutcomeUnknown(f"{what}: no reply ({exc}); the outcome is unknown") from exc
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _acquire(self, kind: str, name: str, ttl: Any, wait: Any, holder: Optional[str],
                 permits: Optional[int], keepalive: bool,
                 cancel: Optional[threading.Event], timeout: Any) -> Optional[Lease]:
        name, ttl_s, wait_s, holder, permits, timeout_s = check_acquire(
            kind, name, ttl, wait, holder, permits, timeout)
        token, sent = self._acquire_call(
            SQL_ACQUIRE[kind], {"name": name, "holder": holder, "ttl": _interval(ttl_s),
                                "permits": permits},
            what=f"acquire of {name!r}", wait_s=wait_s, timeout_s=timeout_s, cancel=cancel)
        if token is None:
            return None
        lease = Lease(self, name, holder, int(token), kind, ttl_s, sent)
        if keepalive:
            lease._start_keepalive()
        return lease

    def acquire_all(self, names: Any, ttl: Any = 30, wait: Any = 0, *, holder: Optional[str] = None,
                    keepalive: bool = True, cancel: Optional[threading.Event] = None,
                    timeout: Any = None) -> Optional[List[Lease]]:
        """Exclusive leases of every name, all or nothing: their leases in the
        order of names, or None when they were not all granted within wait
        (then none is held).  While it waits it holds none of them, so sets
        that overlap never deadlock.  Each lease has its own token and (with
        keepalive) its own renewal; see Session.acquire_all for one renewal.
        """
        names = check_names(names)
        _, ttl_s, wait_s, holder, _, timeout_s = check_acquire(
            EXCLUSIVE, names[0], ttl, wait, holder, None, timeout)
        tokens, sent = self._acquire_call(
            SQL_ACQUIRE_ALL, {"names": names, "holder": holder, "ttl": _interval(ttl_s)},
            what=f"acquire of {names!r}", wait_s=wait_s, timeout_s=timeout_s, cancel=cancel)
        if tokens is None:
            return None
        leases = [Lease(self, n, holder, int(t), EXCLUSIVE, ttl_s, sent) for n, t in zip(names, tokens)]
        if keepalive:
            for lease in leases:
                lease._start_keepalive()
        return leases

    def session(self, ttl: Any = 30, *, holder: Optional[str] = None,
                timeout: Any = None) -> "Session":
        """Open a lock session (lockservice 1.5), kept alive in the background.

        Locks acquired in it (session.acquire, acquire_all, ...) are renewed
        by the session's one keepalive, however many they are; when the
        session is lost (a renewal refused, or none confirmed by the local
        deadline) every lock in it is lost together.  Close it to release
        them all.
        """
        ttl_s = check_seconds(ttl, "ttl", allow_zero=False)
        assert ttl_s is not None
        holder = check_name(holder, "holder") if holder is not None else default_holder()
        timeout_s = check_seconds(timeout, "timeout", allow_zero=False, allow_none=True)
        if timeout_s is None:
            timeout_s = connect_budget(self.conninfo, self.connect_timeout) + ttl_s
        sent = time.monotonic()
        session_id = self._call_retrying(SQL_SESSION_OPEN, (holder, _interval(ttl_s)),
                                         until=sent + timeout_s, what="session open")
        session = Session(self, int(session_id), holder, ttl_s, sent)
        session._start_keepalive()
        return session

    def acquire(self, name: str, ttl: Any = 30, wait: Any = 0, *, holder: Optional[str] = None,
                keepalive: bool = True, cancel: Optional[threading.Event] = None,
                timeout: Any = None) -> Optional[Lease]:
        """An exclusive lease of name, or None when not granted within wait seconds.

        wait=0 tries once, wait=None waits until granted (or cancel is set:
        LockCancelled).  timeout bounds the whole call, reconnections and
        waits for a synchronous standby included (default: wait plus
        connect_timeout; none with wait=None): past it the call ends with
        OutcomeUnknown, or None when the server said nothing was granted.
        With keepalive the lease is renewed every ttl/3 until released.
        """
        return self._acquire(EXCLUSIVE, name, ttl, wait, holder, None, keepalive, cancel, timeout)

    def acquire_shared(self, name: str, ttl: Any = 30, wait: Any = 0, *, holder: Optional[str] = None,
                       keepalive: bool = True, cancel: Optional[threading.Event] = None,
                       timeout: Any = None) -> Optional[Lease]:
        """A shared lease: any number at once, none while an exclusive one is live."""
        return self._acquire(SHARED, name, ttl, wait, holder, None, keepalive, cancel, timeout)

    def acquire_permit(self, name: str, permits: int, ttl: Any = 30, wait: Any = 0, *,
                       holder: Optional[str] = None, keepalive: bool = True,
                       cancel: Optional[threading.Event] = None,
                       timeout: Any = None) -> Optional[Lease]:
        """One of at most `permits` leases of name (a counting semaphore)."""
        return self._acquire(PERMIT, name, ttl, wait, holder, permits, keepalive, cancel, timeout)

    @contextlib.contextmanager
    def lock(self, name: str, ttl: Any = 30, wait: Any = None, **kwargs: Any) -> Iterator[Lease]:
        """with client.lock(name, ttl=15) as lease: ... — LockTimeout when not granted."""
        lease = self.acquire(name, ttl, wait, **kwargs)
        if lease is None:
            raise LockTimeout(f"lock {name!r} not granted within {wait} s")
        with lease:
            yield lease

    def run(self, name: str, fn: Callable[[Lease], T], ttl: Any = 30, wait: Any = None,
            **kwargs: Any) -> T:
        """Run fn(lease) under an exclusive lease; LeaseLost is raised in fn when it is lost.

        The exception is raised asynchronously in the calling thread at its
        next Python instruction: code blocked in a C call (a socket read, a
        sleep) sees it when that call returns.  Guard the writes with
        lease.fenced() so that a late write is refused anyway.
        """
        target = threading.get_ident()
        state = {"running": True}
        guard = threading.Lock()

        def interrupt(lease: Lease) -> None:
            with guard:
                if state["running"]:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target),
                                                               ctypes.py_object(LeaseLost))

        with self.lock(name, ttl, wait, **kwargs) as lease:
            lease.on_lost(interrupt)
            try:
                try:
                    return fn(lease)
                finally:
                    with guard:
                        state["running"] = False
                    lease._remove_callback(interrupt)
            except LeaseLost as exc:
                if exc.args:
                    raise
                raise LeaseLost(f"lease of {name!r} lost: {lease.lost_reason}") from None

    # -- looking
    def holders(self, name: str) -> List[Holder]:
        """The live leases of name (lock_holder)."""
        name = check_name(name)
        with self.connection() as conn:
            try:
                rows = conn.execute(SQL_HOLDERS, (name,)).fetchall()
            except psycopg.Error as exc:
                if is_connection_error(exc, conn):
                    raise
                raise from_psycopg(exc) from exc
        return [Holder(*r) for r in rows]

    # -- leader election
    def campaign(self, name: str, ttl: Any = 15, *, holder: Optional[str] = None,
                 wait: Any = None, cancel: Optional[threading.Event] = None) -> Optional[Lease]:
        """Become the leader of name: wait (forever by default) for its lease."""
        return self.acquire(name, ttl, wait, holder=holder, cancel=cancel)

    def leader(self, name: str) -> Optional[str]:
        """The holder string of name's current leader, or None."""
        for h in self.holders(name):
            if h.kind == EXCLUSIVE:
                return h.holder
        return None
