package io.lockservice;

/** LS004: the name is held or used as another kind of lease. */
public class KindMismatchException extends LockServiceException {
    private static final long serialVersionUID = 1L;

    KindMismatchException(String message, Throwable cause) {
        super(message, "LS004", cause);
    }
}
