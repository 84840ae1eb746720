package io.lockservice;

/**
 * The reply came with a server WARNING: PostgreSQL's "canceling wait for
 * synchronous replication" (committed on the primary only, which a failover
 * can undo). Never a success: an acquire is retried as the same holder while
 * its time lasts, then ends with this.
 */
public class CommitUnconfirmedException extends OutcomeUnknownException {
    private static final long serialVersionUID = 1L;

    CommitUnconfirmedException(String message, Throwable cause) {
        super(message, cause);
    }
}
