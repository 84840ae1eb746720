package io.lockservice;

import java.sql.SQLException;

/** An error from lockservice; {@link #getSQLState()} when the server reported it (LS001 ...). */
public class LockServiceException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String sqlState;

    public LockServiceException(String message, String sqlState, Throwable cause) {
        super(message, cause);
        this.sqlState = sqlState;
    }

    public String getSQLState() {
        return sqlState;
    }

    /** The exception for a server error: FencedException for LS001, KindMismatchException for LS004, ... */
    static LockServiceException of(SQLException e) {
        String state = e.getSQLState();
        String msg = e.getMessage();
        if ("LS001".equals(state) || "LS002".equals(state) || "LS005".equals(state)) {
            return new FencedException(msg, state, e);
        }
        if ("LS004".equals(state)) {
            return new KindMismatchException(msg, e);
        }
        return new LockServiceException(msg, state, e);
    }

    /** Whether the server answered (a known outcome), rather than the connection failing. */
    static boolean isServerError(SQLException e) {
        if (e instanceof ServerWarnings.Unconfirmed) return false;
        String s = e.getSQLState();
        return s != null && !s.startsWith("08") && !s.startsWith("57P");
    }
}
