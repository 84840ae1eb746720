"""lockservice: leases, fencing tokens and leader election from PostgreSQL."""

from ._client import EXCLUSIVE, PERMIT, SHARED, Client, Holder, Lease, Session
from ._errors import (CommitUnconfirmed, FencedError, KeptBySessionError, KindMismatchError,
                      LeaseLost, LockCancelled, NotConnected, LockServiceError, LockTimeout,
                      OutcomeUnknown, PrepareRefusedError, SessionNotOpenError, SharedTokenError,
                      TokenNeverIssuedError)

__all__ = [
    "Client", "Lease", "Session", "Holder", "EXCLUSIVE", "SHARED", "PERMIT",
    "LockServiceError", "FencedError", "TokenNeverIssuedError", "PrepareRefusedError",
    "KindMismatchError", "SharedTokenError", "SessionNotOpenError", "KeptBySessionError",
    "LockCancelled", "LockTimeout",
    "LeaseLost", "OutcomeUnknown", "CommitUnconfirmed", "NotConnected",
]
__version__ = "1.3.0"
