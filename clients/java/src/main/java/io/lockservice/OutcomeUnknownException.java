package io.lockservice;

/** A call whose reply never came, and retries did not settle it: never reported as success. */
public class OutcomeUnknownException extends LockServiceException {
    private static final long serialVersionUID = 1L;

    OutcomeUnknownException(String message, Throwable cause) {
        super(message, null, cause);
    }
}
