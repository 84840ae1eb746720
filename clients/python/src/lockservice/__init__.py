"""lockservice: leases, fencing tokens and leader election from PostgreSQL."""

from ._client import EXCLUSIVE, PERMIT, SHARED, Client, Holder, Lease
from ._errors import (CommitUnconfirmed, FencedError, KindMismatchError, LeaseLost,
                      LockCancelled, NotConnected, LockServiceError, LockTimeout, OutcomeUnknown,
                      PrepareRefusedError, SharedTokenError,
                      TokenNeverIssuedError)

__all__ = [
    "Client", "Lease", "Holder", "EXCLUSIVE", "SHARED", "PERMIT",
    "LockServiceError", "FencedError", "TokenNeverIssuedError", "PrepareRefusedError",
    "KindMismatchError", "SharedTokenError", "LockCancelled", "LockTimeout",
    "LeaseLost", "OutcomeUnknown", "CommitUnconfirmed", "NotConnected",
]
__version__ = "1.2.0"
