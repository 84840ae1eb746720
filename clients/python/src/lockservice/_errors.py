"""Errors raised by the lockservice client, each carrying the SQLSTATE."""

from __future__ import annotations

from typing import Optional

import psycopg


class LockServiceError(Exception):
    """An error from the server or the client; ``sqlstate`` when the server sent one."""

    sqlstate: Optional[str] = None

    def __init__(self, message: str = "", sqlstate: Optional[str] = None) -> None:
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate


class FencedError(LockServiceError):
    """LS001: a higher token was already accepted for the resource."""

    sqlstate = "LS001"


class TokenNeverIssuedError(LockServiceError):
    """LS002: the token is higher than any token the server issued."""

    sqlstate = "LS002"


class PrepareRefusedError(LockServiceError):
    """LS003: PREPARE TRANSACTION after a lockservice call."""

    sqlstate = "LS003"


class KindMismatchError(LockServiceError):
    """LS004: the name is held or used as another kind of lease."""

    sqlstate = "LS004"


class SharedTokenError(LockServiceError):
    """LS005: fence() with the token of a shared lease or a permit."""

    sqlstate = "LS005"


class SessionNotOpenError(LockServiceError):
    """LS006: an acquire in a session that is not open (closed, expired, another role's)."""

    sqlstate = "LS006"


class KeptBySessionError(LockServiceError):
    """LS007: lock_renew of a lock kept by a session (renew the session)."""

    sqlstate = "LS007"


class LockCancelled(LockServiceError):
    """57014: a wait ended by cancel() or statement_timeout; nothing was granted."""

    sqlstate = "57014"


class LockTimeout(LockServiceError):
    """The lock was not granted within the wait asked for."""


class LeaseLost(LockServiceError):
    """The lease ended (refused renewal, or no renewal confirmed in time)."""


class OutcomeUnknown(LockServiceError):
    """A call whose reply never came, and retries did not settle it.

    It is never reported as success: an acquire may or may not hold the
    lease on the server (it ends at its ttl), a renew may or may not have
    extended it.
    """


class CommitUnconfirmed(OutcomeUnknown):
    """The server answered, with a WARNING that its commit may not be durable.

    PostgreSQL answers so when a synchronous-replication wait is cancelled
    (by this client's deadline, statement_timeout or anyone's cancel): the
    commit happened on the primary only, and a failover can undo it.  An
    acquire, renew or release answered so is never a success; the client
    retries it as the same holder while the call's time lasts, then raises
    this (an OutcomeUnknown).
    """


class NotConnected(LockServiceError, ConnectionError):
    """No connection to the server could be made: nothing was sent, nothing took effect."""


_BY_SQLSTATE = {
    cls.sqlstate: cls
    for cls in (FencedError, TokenNeverIssuedError, PrepareRefusedError,
                KindMismatchError, SharedTokenError, SessionNotOpenError,
                KeptBySessionError, LockCancelled)
}


def from_psycopg(exc: psycopg.Error) -> LockServiceError:
    """The LockServiceError for an error the server reported."""
    sqlstate = exc.sqlstate
    cls = _BY_SQLSTATE.get(sqlstate or "", LockServiceError)
    diag = exc.diag.message_primary if exc.diag is not None else None
    return cls(diag or str(exc), sqlstate)
