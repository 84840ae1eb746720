package io.lockservice;

/** fence() refused the token: LS001 (a higher token was accepted), LS002 (never issued), LS005 (shared token). */
public class FencedException extends LockServiceException {
    private static final long serialVersionUID = 1L;

    FencedException(String message, String sqlState, Throwable cause) {
        super(message, sqlState, cause);
    }
}
