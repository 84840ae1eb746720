package io.lockservice;

/** The lease was lost: a renewal was refused, or none was confirmed by the local deadline. */
public class LeaseLostException extends LockServiceException {
    private static final long serialVersionUID = 1L;

    LeaseLostException(String message) {
        super(message, null, null);
    }
}
