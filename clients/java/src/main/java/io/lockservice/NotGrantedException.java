package io.lockservice;

/** The lease was not granted within the wait asked for. */
public class NotGrantedException extends LockServiceException {
    private static final long serialVersionUID = 1L;

    NotGrantedException(String message) {
        super(message, null, null);
    }
}
