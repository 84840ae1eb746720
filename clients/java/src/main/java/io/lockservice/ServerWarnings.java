package io.lockservice;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;

/**
 * The server WARNINGs that came with a call's reply (SQLSTATE class 01; a
 * NOTICE is 00000). A reply with one is not a confirmed outcome.
 */
final class ServerWarnings {
    private ServerWarnings() { }

    /** Thrown by a call whose reply came with a server WARNING. */
    static final class Unconfirmed extends SQLException {
        private static final long serialVersionUID = 1L;

        Unconfirmed(String warning) {
            super("the server could not confirm the commit (" + warning + "); the outcome is unknown");
        }
    }

    /** Throws Unconfirmed when st's or conn's warnings hold a server WARNING. */
    static void check(Statement st, Connection conn) throws SQLException {
        String w = first(st.getWarnings());
        if (w == null && conn != null) w = first(conn.getWarnings());
        if (w != null) throw new Unconfirmed(w);
    }

    private static String first(SQLWarning w) {
        for (; w != null; w = w.getNextWarning()) {
            String state = w.getSQLState();
            if (state != null && state.startsWith("01")) return w.getMessage();
        }
        return null;
    }
}
