package io.lockservice;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A lease held by this process, renewed every ttl/3 until closed.
 *
 * <p>It is lost when a renewal is refused, or when no renewal was confirmed by
 * the local deadline: the {@link System#nanoTime()} at which the last confirmed
 * call was sent, plus the ttl, minus a margin (ttl/5). The server keeps a lease
 * confirmed by a call sent at t until at least t + ttl.
 */
public final class Lease implements AutoCloseable {
    private final LockServiceClient client;
    private final String name;
    private final String holder;
    private final long token;
    private final String kind;
    private final long ttlNanos;
    private final long marginNanos;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private long confirmedSent;
    private boolean released;
    private String lostReason;
    private ScheduledFuture<?> renewTask;
    private ScheduledFuture<?> watchdog;
    private long retryNanos = LockServiceClient.RETRY_FIRST_NANOS;
    /** The session that keeps this lease (its deadline is the session's), or null. */
    private final Session session;
    /** How the keepalive renews (a session's own lease renews the session); null: lock_renew. */
    private volatile Renewer renewer;

    /** One renewal, cancelled after timeoutSeconds: true renewed, false refused. */
    @FunctionalInterface
    interface Renewer {
        Boolean renew(int timeoutSeconds) throws SQLException;
    }

    Lease(LockServiceClient client, String name, String holder, long token, String kind, Duration ttl, long sentAt) {
        this(client, name, holder, token, kind, ttl, sentAt, null);
    }

    Lease(LockServiceClient client, String name, String holder, long token, String kind, Duration ttl, long sentAt,
          Session session) {
        this.client = client;
        this.name = name;
        this.holder = holder;
        this.token = token;
        this.kind = kind;
        this.ttlNanos = ttl.toNanos();
        this.marginNanos = client.margin() != null ? client.margin().toNanos() : ttlNanos / 5;
        this.confirmedSent = sentAt;
        this.session = session;
    }

    void setRenewer(Renewer renewer) { this.renewer = renewer; }

    /** The session that keeps this lease, or null when it has a ttl of its own. */
    public Session session() { return session; }

    public String name() { return name; }
    public String holder() { return holder; }
    public long token() { return token; }
    public String kind() { return kind; }

    /** Whether the lease was lost (a lease in a session: at the moment the session was). */
    public boolean isLost() {
        return lostReason() != null;
    }

    /** Why the lease was lost, or null. */
    public String lostReason() {
        synchronized (this) {
            if (lostReason != null || released) return lostReason;
        }
        if (session != null && session.isLost()) return "session " + session.id() + " lost: " + session.lostReason();
        return null;
    }

    /** System.nanoTime() at which the lease counts as lost without a confirmed renewal (in a session: the session's). */
    public long deadlineNanos() {
        if (session != null) return session.deadlineNanos();
        synchronized (this) {
            return confirmedSent + ttlNanos - marginNanos;
        }
    }

    /** Runs listener (on the keepalive's thread) when the lease is lost; at once if it is. */
    public void onLost(Runnable listener) {
        synchronized (this) {
            if (lostReason == null) {
                listeners.add(listener);
                return;
            }
        }
        listener.run();
    }

    void removeListener(Runnable listener) {
        listeners.remove(listener);
    }

    /** Throws LeaseLostException when the lease is lost (or past its local deadline). */
    public void throwIfLost() throws LeaseLostException {
        if (System.nanoTime() - deadlineNanos() >= 0) {
            markLost("no renewal confirmed by the local deadline");
        }
        String reason = lostReason();
        if (reason != null) {
            throw new LeaseLostException("lease of \"" + name + "\" lost: " + reason);
        }
    }

    void markLost(String reason) {
        synchronized (this) {
            if (released || lostReason != null) {
                return;
            }
            lostReason = reason;
            cancelTasks();
        }
        for (Runnable l : listeners) {
            try {
                l.run();
            } catch (RuntimeException e) {
                // a listener's failure must not stop the others
            }
        }
    }

    private synchronized void cancelTasks() {
        if (renewTask != null) renewTask.cancel(false);
        if (watchdog != null) watchdog.cancel(false);
    }

    synchronized void startKeepalive() {
        scheduleRenew(confirmedSent + ttlNanos / 3);
        scheduleWatchdog();
    }

    private synchronized void scheduleRenew(long atNanos) {
        if (released || lostReason != null) return;
        renewTask = client.scheduler().schedule(this::renewStep, Math.max(0, atNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    private synchronized void scheduleWatchdog() {
        if (released || lostReason != null) return;
        if (watchdog != null) watchdog.cancel(false);
        long delay = deadlineNanos() - System.nanoTime();
        watchdog = client.scheduler().schedule(() -> {
            if (System.nanoTime() - deadlineNanos() >= 0) {
                markLost("no renewal confirmed by the local deadline");
            } else {
                scheduleWatchdog();
            }
        }, Math.max(0, delay), TimeUnit.NANOSECONDS);
    }

    /** A renewal's query timeout: whole seconds (at least 1) from nanoTime until the local deadline. */
    private int secondsLeftAt(long nanoTime) {
        return (int) Math.max(1, TimeUnit.NANOSECONDS.toSeconds(deadlineNanos() - nanoTime));
    }

    private void renewStep() {
        long sent = System.nanoTime();
        int timeoutSeconds = secondsLeftAt(sent);
        Boolean ok;
        try {
            ok = renewOnce(timeoutSeconds);
        } catch (SQLException e) {
            // unconfirmed: retried, never counted
            scheduleRenew(System.nanoTime() + retryNanos);
            retryNanos = Math.min(retryNanos * 2, LockServiceClient.RETRY_MAX_NANOS);
            return;
        }
        retryNanos = LockServiceClient.RETRY_FIRST_NANOS;
        if (ok) {
            synchronized (this) {
                if (sent - confirmedSent > 0) confirmedSent = sent;
            }
            scheduleWatchdog();
            scheduleRenew(sent + ttlNanos / 3);
        } else {
            markLost("renewal refused: the lease expired, was released or taken over");
        }
    }

    private Boolean renewOnce(int timeoutSeconds) throws SQLException {
        Renewer r = renewer;
        return r != null ? r.renew(timeoutSeconds) : client.renewOnce(name, token, null, timeoutSeconds);
    }

    /** Extends the lease by hand (its own ttl; in a session: the session); false when it is no longer held. */
    public boolean renew() throws LockServiceException {
        if (session != null) return session.renew();
        long sent = System.nanoTime();
        int timeoutSeconds = secondsLeftAt(sent);
        try {
            boolean ok = renewOnce(timeoutSeconds);
            if (ok) {
                synchronized (this) {
                    if (sent - confirmedSent > 0) confirmedSent = sent;
                }
            } else {
                markLost("renewal refused: the lease expired, was released or taken over");
            }
            return ok;
        } catch (SQLException e) {
            if (LockServiceException.isServerError(e)) throw LockServiceException.of(e);
            if (e instanceof ServerWarnings.Unconfirmed) throw new CommitUnconfirmedException("renew of \"" + name + "\": " + e.getMessage(), e);
            throw new OutcomeUnknownException("renew of \"" + name + "\": no reply; the outcome is unknown", e);
        }
    }

    /** Ends the lease and its keepalive; false when it was no longer held. */
    public boolean release() throws LockServiceException {
        if (!stop()) return false;
        if (session != null) session.forget(this);
        return client.release(name, token, ttlNanos);
    }

    /** Stops the keepalive and marks the lease ended (no loss reported); false when it already was. */
    synchronized boolean stop() {
        if (released) return false;
        released = true;
        cancelTasks();
        return true;
    }

    /** Leader election: give up leadership. */
    public void resign() throws LockServiceException {
        release();
    }

    /** close() releases; errors are thrown as unchecked. */
    @Override
    public void close() {
        try {
            release();
        } catch (LockServiceException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * fence(resource, token) in conn's current transaction (autocommit off): the
     * protected writes commit only if no higher token reached resource first.
     */
    public void fence(Connection conn, String resource) throws LockServiceException, SQLException {
        LockServiceClient.checkName(resource, "resource");
        try (PreparedStatement st = conn.prepareStatement("SELECT lockservice.fence(?, ?)")) {
            st.setString(1, resource);
            st.setLong(2, token);
            st.execute();
        } catch (SQLException e) {
            if (LockServiceException.isServerError(e) && e.getSQLState().startsWith("LS")) throw LockServiceException.of(e);
            throw e;
        }
    }

    /** lock_check in conn's current transaction: true holds the lease until it ends. */
    public boolean check(Connection conn) throws SQLException {
        try (PreparedStatement st = conn.prepareStatement("SELECT lockservice.lock_check(?, ?)")) {
            st.setString(1, name);
            st.setLong(2, token);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                boolean ok = rs.getBoolean(1);
                if (!ok) markLost("lock_check: the lease is no longer held");
                return ok;
            }
        }
    }

    @Override
    public String toString() {
        return "Lease[" + name + ", token " + token + ", holder " + holder + (isLost() ? ", lost" : "") + "]";
    }
}
