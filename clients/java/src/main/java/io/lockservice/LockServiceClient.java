package io.lockservice;

import java.net.InetAddress;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;

/**
 * Leases from a database with the lockservice extension, over any JDBC
 * {@link DataSource}. Every call takes a connection, runs one statement in
 * autocommit (a waiting acquire: one short transaction) and gives it back.
 * Through PgBouncer in transaction mode add {@code prepareThreshold=0} to the
 * JDBC URL.
 */
public final class LockServiceClient implements AutoCloseable {
    static final long RETRY_FIRST_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    static final long RETRY_MAX_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How long an acquire may take beyond its wait by default: connecting, and the commit. */
    static final Duration CALL_MARGIN = Duration.ofSeconds(5);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final DataSource dataSource;
    private final Duration margin;
    private final ScheduledExecutorService scheduler;
    private final ExecutorService callers;

    public LockServiceClient(DataSource dataSource) {
        this(dataSource, null);
    }

    /** margin: how long before ttl a lease without a confirmed renewal counts as lost (null: ttl/5). */
    public LockServiceClient(DataSource dataSource, Duration margin) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        if (margin != null && margin.isNegative()) throw new IllegalArgumentException("margin must be >= 0");
        this.margin = margin;
        ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(2, r -> {
            Thread t = new Thread(r, "lockservice-keepalive");
            t.setDaemon(true);
            return t;
        });
        s.setRemoveOnCancelPolicy(true);
        this.scheduler = s;
        this.callers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "lockservice-call");
            t.setDaemon(true);
            return t;
        });
    }

    Duration margin() { return margin; }
    ScheduledExecutorService scheduler() { return scheduler; }

    @Override
    public void close() {
        scheduler.shutdownNow();
        callers.shutdownNow();
    }

    static String checkName(String value, String what) {
        if (value == null) throw new NullPointerException(what + " must not be null");
        if (value.isEmpty()) throw new IllegalArgumentException(what + " must not be empty");
        return value;
    }

    private static Duration checkTtl(Duration ttl) {
        Objects.requireNonNull(ttl, "ttl");
        if (ttl.isNegative() || ttl.isZero()) throw new IllegalArgumentException("ttl must be > 0, got " + ttl);
        return ttl;
    }

    private static String defaultHolder() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            host = "localhost";
        }
        byte[] b = new byte[6];
        RANDOM.nextBytes(b);
        return host + ":" + ProcessHandle.current().pid() + ":" + HexFormat.of().formatHex(b);
    }

    private static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }

    /** An exclusive lease, waiting at most {@code wait} (ZERO: try once; null: until granted or interrupted). */
    public Optional<Lease> tryAcquire(String name, Duration ttl, Duration wait) throws LockServiceException, InterruptedException {
        return acquire("exclusive", name, ttl, wait, null, 0, true, null);
    }

    /** An exclusive lease, waiting until granted; interrupting the thread cancels the wait on the server. */
    public Lease acquire(String name, Duration ttl) throws LockServiceException, InterruptedException {
        return acquire("exclusive", name, ttl, null, null, 0, true, null).orElseThrow();
    }

    /** An exclusive lease as holder (a retry as the same holder returns the same lease). */
    public Optional<Lease> tryAcquire(String name, Duration ttl, Duration wait, String holder) throws LockServiceException, InterruptedException {
        return acquire("exclusive", name, ttl, wait, checkName(holder, "holder"), 0, true, null);
    }

    /**
     * As {@link #tryAcquire(String, Duration, Duration, String)} (holder null:
     * a new one), with {@code timeout} bounding the whole call, reconnections
     * and a synchronous standby's confirmation included (null: wait + 5 s, no
     * bound with wait null); past it: OutcomeUnknownException.
     */
    public Optional<Lease> tryAcquire(String name, Duration ttl, Duration wait, String holder, Duration timeout)
            throws LockServiceException, InterruptedException {
        if (timeout != null && (timeout.isNegative() || timeout.isZero())) {
            throw new IllegalArgumentException("timeout must be > 0, got " + timeout);
        }
        return acquire("exclusive", name, ttl, wait, holder == null ? null : checkName(holder, "holder"), 0, true, timeout);
    }

    public Optional<Lease> tryAcquireShared(String name, Duration ttl, Duration wait) throws LockServiceException, InterruptedException {
        return acquire("shared", name, ttl, wait, null, 0, true, null);
    }

    /** One of at most {@code permits} leases of name (a counting semaphore). */
    public Optional<Lease> tryAcquirePermit(String name, int permits, Duration ttl, Duration wait) throws LockServiceException, InterruptedException {
        if (permits < 1) throw new IllegalArgumentException("permits must be >= 1, got " + permits);
        return acquire("permit", name, ttl, wait, null, permits, true, null);
    }

    private Optional<Lease> acquire(String kind, String name, Duration ttl, Duration wait, String holder, int permits,
                                    boolean keepalive, Duration timeout)
            throws LockServiceException, InterruptedException {
        checkName(name, "name");
        checkTtl(ttl);
        String h = holder != null ? holder : defaultHolder();
        String sql = switch (kind) {
            case "shared" -> "SELECT lockservice.lock_acquire_shared(?, ?, ? * interval '1 s', ? * interval '1 s')";
            case "permit" -> "SELECT lockservice.sem_acquire(?, ?, ?, ? * interval '1 s', ? * interval '1 s')";
            default -> "SELECT lockservice.lock_acquire(?, ?, ? * interval '1 s', ? * interval '1 s')";
        };
        Optional<Granted<Long>> got = acquireLoop("acquire of \"" + name + "\"", wait, timeout,
            (waitSeconds, deadline) -> callOnce(sql, st -> {
                int i = 1;
                st.setString(i++, name);
                st.setString(i++, h);
                if ("permit".equals(kind)) st.setInt(i++, permits);
                st.setDouble(i++, seconds(ttl));
                if (waitSeconds == null) st.setNull(i, java.sql.Types.DOUBLE); else st.setDouble(i, waitSeconds);
            }, waitSeconds == null || waitSeconds > 0, deadline, LockServiceClient::longOrNull));
        if (got.isEmpty()) return Optional.empty();
        Lease lease = new Lease(this, name, h, got.get().result(), kind, ttl, got.get().sent());
        if (keepalive) lease.startKeepalive();
        return Optional.of(lease);
    }

    /**
     * Exclusive leases of every name, all or nothing (lockservice 1.5), in the
     * order of names, each renewed on its own; empty when they were not all
     * granted within {@code wait} (then none is held). While it waits it holds
     * none of them, so sets that overlap never deadlock.
     */
    public Optional<List<Lease>> tryAcquireAll(List<String> names, Duration ttl, Duration wait)
            throws LockServiceException, InterruptedException {
        checkNames(names);
        checkTtl(ttl);
        String h = defaultHolder();
        Optional<Granted<long[]>> got = acquireLoop("acquire of " + names, wait, null,
            (waitSeconds, deadline) -> callOnce(
                "SELECT lockservice.lock_acquire_all(?::text[], ?, ? * interval '1 s', ? * interval '1 s')", st -> {
                    st.setArray(1, st.getConnection().createArrayOf("text", names.toArray()));
                    st.setString(2, h);
                    st.setDouble(3, seconds(ttl));
                    if (waitSeconds == null) st.setNull(4, java.sql.Types.DOUBLE); else st.setDouble(4, waitSeconds);
                }, waitSeconds == null || waitSeconds > 0, deadline, LockServiceClient::longsOrNull));
        if (got.isEmpty()) return Optional.empty();
        List<Lease> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            Lease lease = new Lease(this, names.get(i), h, got.get().result()[i], "exclusive", ttl, got.get().sent());
            lease.startKeepalive();
            out.add(lease);
        }
        return Optional.of(out);
    }

    /** Opens a lock session (lockservice 1.5), renewed every ttl/3; see {@link Session}. */
    public Session openSession(Duration ttl) throws LockServiceException {
        return openSession(ttl, null);
    }

    /** Opens a lock session whose locks have holder (null: a new one). */
    public Session openSession(Duration ttl, String holder) throws LockServiceException {
        checkTtl(ttl);
        String h = holder != null ? checkName(holder, "holder") : defaultHolder();
        long sent = System.nanoTime();
        try (Connection conn = dataSource.getConnection();
             PreparedStatement st = conn.prepareStatement("SELECT lockservice.session_open(?, ? * interval '1 s')")) {
            conn.setAutoCommit(true);
            conn.clearWarnings();
            st.setString(1, h);
            st.setDouble(2, seconds(ttl));
            long id;
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                id = rs.getLong(1);
            }
            ServerWarnings.check(st, conn);
            Session session = new Session(this, id, h, ttl, sent);
            session.startKeepalive();
            return session;
        } catch (SQLException e) {
            if (isServerError(e)) throw LockServiceException.of(e);
            // not retried: a session it may have opened ends by itself at its ttl
            throw new OutcomeUnknownException("session open: no reply (" + e.getMessage() + "); the outcome is unknown", e);
        }
    }

    private static boolean isServerError(SQLException e) {
        return LockServiceException.isServerError(e);
    }

    static void checkNames(List<String> names) {
        Objects.requireNonNull(names, "names");
        if (names.isEmpty()) throw new IllegalArgumentException("names must not be empty");
        if (new java.util.HashSet<>(names).size() != names.size()) throw new IllegalArgumentException("names must not repeat");
        for (String n : names) checkName(n, "name");
    }

    static Long longOrNull(ResultSet rs) throws SQLException {
        long t = rs.getLong(1);
        return rs.wasNull() ? null : t;
    }

    static long[] longsOrNull(ResultSet rs) throws SQLException {
        java.sql.Array a = rs.getArray(1);
        if (a == null) return null;
        Object[] values = (Object[]) a.getArray();
        long[] out = new long[values.length];
        for (int i = 0; i < values.length; i++) out[i] = ((Number) values[i]).longValue();
        return out;
    }

    /** What an acquire returned, and when the call that got it was sent. */
    record Granted<T>(T result, long sent) { }

    /** One attempt of an acquire, given the wait left (seconds, null: forever) and the call's deadline. */
    @FunctionalInterface
    interface Attempt<T> {
        T call(Double waitSeconds, Long deadline) throws SQLException, InterruptedException;
    }

    @FunctionalInterface
    interface Binder {
        void bind(PreparedStatement st) throws SQLException;
    }

    @FunctionalInterface
    interface Reader<T> {
        T read(ResultSet rs) throws SQLException;
    }

    /**
     * Runs an acquire, retrying while its outcome is unknown: a retry asks again
     * as the same holder (or in the same session), which returns the same
     * token(s) if the first call got them, never a false success. Empty when
     * nothing was granted.
     */
    <T> Optional<Granted<T>> acquireLoop(String what, Duration wait, Duration timeout, Attempt<T> attempt)
            throws LockServiceException, InterruptedException {
        if (wait != null && wait.isNegative()) throw new IllegalArgumentException("wait must be >= 0, got " + wait);
        long start = System.nanoTime();
        Long waitUntil = wait == null ? null : start + wait.toNanos();
        // the whole call's deadline, a synchronous standby's confirmation included
        Duration limit = timeout != null ? timeout : wait == null ? null : wait.plus(CALL_MARGIN);
        Long deadline = limit == null ? null : start + limit.toNanos();
        long delay = RETRY_FIRST_NANOS;
        boolean sentAny = false;
        SQLException unconfirmed = null; // an attempt's reply came with a WARNING: say so at the end
        while (true) {
            Double left = waitUntil == null ? null : Math.max(0, (waitUntil - System.nanoTime()) / 1e9);
            long sent = System.nanoTime();
            try {
                T result = attempt.call(left, deadline);
                return result == null ? Optional.empty() : Optional.of(new Granted<>(result, sent));
            } catch (SQLException e) {
                if (LockServiceException.isServerError(e)) throw LockServiceException.of(e);
                sentAny = sentAny || !"08001".equals(e.getSQLState());
                if (e instanceof ServerWarnings.Unconfirmed) unconfirmed = e;
                // no reply, or an unconfirmed commit: ask again as the same
                // holder (the same lease if it was granted) while time lasts
                if (deadline != null && System.nanoTime() + delay - deadline > 0) {
                    if (unconfirmed != null) throw new CommitUnconfirmedException(what + ": " + unconfirmed.getMessage(), unconfirmed);
                    if (!sentAny) throw new LockServiceException("cannot connect: " + e.getMessage(), e.getSQLState(), e);
                    throw new OutcomeUnknownException(what + ": no reply (" + e.getMessage() + "); the outcome is unknown", e);
                }
                TimeUnit.NANOSECONDS.sleep(delay);
                delay = Math.min(delay * 2, RETRY_MAX_NANOS);
            }
        }
    }

    /** One acquire statement; past deadline (System.nanoTime(), null: none) its connection is aborted. */
    <T> T callOnce(String sql, Binder binder, boolean waiting, Long deadline, Reader<T> reader)
            throws SQLException, InterruptedException {
        AtomicReference<Statement> running = new AtomicReference<>();
        AtomicReference<Connection> connection = new AtomicReference<>();
        Future<T> call = callers.submit(() -> {
            try (Connection conn = dataSource.getConnection()) {
                connection.set(conn);
                conn.clearWarnings();
                conn.setAutoCommit(!waiting);
                try (PreparedStatement st = conn.prepareStatement(sql)) {
                    running.set(st);
                    binder.bind(st);
                    if (waiting) {
                        try (Statement s = conn.createStatement()) {
                            // the server notices within a second that a waiting client died
                            s.execute("SELECT set_config('client_connection_check_interval', '1000', true)");
                        }
                    }
                    T result;
                    try (ResultSet rs = st.executeQuery()) {
                        rs.next();
                        result = reader.read(rs);
                    }
                    if (waiting) conn.commit();
                    ServerWarnings.check(st, conn);
                    return result;
                } catch (SQLException e) {
                    if (waiting && !conn.isClosed()) {
                        try { conn.rollback(); } catch (SQLException ignored) { }
                    }
                    throw e;
                }
            }
        });
        try {
            if (deadline == null) return call.get();
            return call.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            // the server may hold the commit for a standby that never answers:
            // close the connection under the call (a statement sent may have taken effect)
            call.cancel(false);
            Connection conn = connection.get();
            if (conn != null) {
                try { conn.abort(callers); } catch (SQLException ignored) { }
            }
            throw new SQLException("no reply by the call's deadline", "08006", e);
        } catch (InterruptedException e) {
            Statement st = running.get();
            if (st != null) {
                try { st.cancel(); } catch (SQLException ignored) { }
            }
            call.cancel(false);
            throw e;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SQLException se) throw se;
            throw new SQLException(e.getCause());
        }
    }

    /** One session renewal, cancelled after timeoutSeconds. */
    Boolean sessionRenewOnce(long id, Duration ttl, int timeoutSeconds) throws SQLException {
        try (Connection conn = dataSource.getConnection();
             PreparedStatement st = conn.prepareStatement("SELECT lockservice.session_renew(?, ? * interval '1 s')")) {
            conn.setAutoCommit(true);
            conn.clearWarnings();
            st.setQueryTimeout(timeoutSeconds);
            st.setLong(1, id);
            if (ttl == null) st.setNull(2, java.sql.Types.DOUBLE); else st.setDouble(2, seconds(ttl));
            boolean ok;
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                ok = rs.getBoolean(1);
            }
            ServerWarnings.check(st, conn);
            return ok;
        }
    }

    /** session_close, retried while its outcome is unknown. */
    boolean sessionClose(long id, long ttlNanos) throws LockServiceException {
        return endCall("session close", ttlNanos, "SELECT lockservice.session_close(?)",
                st -> st.setLong(1, id));
    }

    /** One renewal, cancelled after timeoutSeconds; a reply with a server WARNING is ServerWarnings.Unconfirmed. */
    Boolean renewOnce(String name, long token, Duration ttl, int timeoutSeconds) throws SQLException {
        try (Connection conn = dataSource.getConnection();
             PreparedStatement st = conn.prepareStatement("SELECT lockservice.lock_renew(?, ?, ? * interval '1 s')")) {
            conn.setAutoCommit(true);
            conn.clearWarnings();
            st.setQueryTimeout(timeoutSeconds);
            st.setString(1, name);
            st.setLong(2, token);
            if (ttl == null) st.setNull(3, java.sql.Types.DOUBLE); else st.setDouble(3, seconds(ttl));
            boolean ok;
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                ok = rs.getBoolean(1);
            }
            ServerWarnings.check(st, conn);
            return ok;
        }
    }

    boolean release(String name, long token, long ttlNanos) throws LockServiceException {
        return endCall("release of \"" + name + "\"", ttlNanos, "SELECT lockservice.lock_release(?, ?)", st -> {
            st.setString(1, name);
            st.setLong(2, token);
        });
    }

    /**
     * A call that ends something and answers whether it was still there
     * (lock_release, session_close), retried while its outcome is unknown for
     * up to ttl (at least 1 s): a retry cannot end anything else.
     */
    private boolean endCall(String what, long ttlNanos, String sql, Binder binder) throws LockServiceException {
        long until = System.nanoTime() + Math.max(ttlNanos, TimeUnit.SECONDS.toNanos(1));
        long delay = RETRY_FIRST_NANOS;
        while (true) {
            try (Connection conn = dataSource.getConnection();
                 PreparedStatement st = conn.prepareStatement(sql)) {
                conn.setAutoCommit(true);
                binder.bind(st);
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    return rs.getBoolean(1);
                }
            } catch (SQLException e) {
                if (LockServiceException.isServerError(e)) throw LockServiceException.of(e);
                if (System.nanoTime() + delay - until > 0) {
                    throw new OutcomeUnknownException(what + ": no reply; the outcome is unknown", e);
                }
                try {
                    TimeUnit.NANOSECONDS.sleep(delay);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new OutcomeUnknownException(what + " interrupted", e);
                }
                delay = Math.min(delay * 2, RETRY_MAX_NANOS);
            }
        }
    }

    /** Work run under a lease. */
    @FunctionalInterface
    public interface LeaseWork<T> {
        T run(Lease lease) throws Exception;
    }

    /**
     * Runs work under an exclusive lease (waiting at most {@code wait}, null:
     * forever); when the lease is lost the calling thread is interrupted and
     * run throws LeaseLostException. Work should honour interruption; guard
     * its writes with {@link Lease#fence}.
     */
    public <T> T run(String name, Duration ttl, Duration wait, LeaseWork<T> work) throws Exception {
        Optional<Lease> got = acquire("exclusive", name, ttl, wait, null, 0, true, null);
        if (got.isEmpty()) throw new NotGrantedException("lock \"" + name + "\" not granted within " + wait);
        Thread me = Thread.currentThread();
        Object guard = new Object();
        boolean[] running = {true};
        Runnable interrupt = () -> {
            synchronized (guard) {
                if (running[0]) me.interrupt();
            }
        };
        try (Lease lease = got.get()) {
            lease.onLost(interrupt);
            try {
                return work.run(lease);
            } catch (InterruptedException e) {
                if (lease.isLost()) throw new LeaseLostException("lease of \"" + name + "\" lost: " + lease.lostReason());
                throw e;
            } finally {
                synchronized (guard) {
                    running[0] = false;
                }
                lease.removeListener(interrupt);
                if (lease.isLost()) {
                    Thread.interrupted(); // clear it: the loss is reported by the exception
                    throw new LeaseLostException("lease of \"" + name + "\" lost: " + lease.lostReason());
                }
            }
        }
    }

    /** Becomes the leader of name (waits until elected or interrupted). */
    public Lease campaign(String name, String holder, Duration ttl) throws LockServiceException, InterruptedException {
        return acquire("exclusive", name, ttl, null, checkName(holder, "holder"), 0, true, null).orElseThrow();
    }

    /** The holder string of name's leader, if any. */
    public Optional<String> leader(String name) throws LockServiceException {
        for (HolderInfo h : holders(name)) {
            if ("exclusive".equals(h.kind())) return Optional.of(h.holder());
        }
        return Optional.empty();
    }

    /** A live lease as lock_holder() reports it. */
    public record HolderInfo(String holder, long token, String kind, OffsetDateTime grantedAt, OffsetDateTime expiresAt) { }

    /** The live leases of name. */
    public List<HolderInfo> holders(String name) throws LockServiceException {
        checkName(name, "name");
        try (Connection conn = dataSource.getConnection();
             PreparedStatement st = conn.prepareStatement(
                 "SELECT holder, token, kind, granted_at, expires_at FROM lockservice.lock_holder(?) ORDER BY granted_at, token")) {
            st.setString(1, name);
            List<HolderInfo> out = new ArrayList<>();
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(new HolderInfo(rs.getString(1), rs.getLong(2), rs.getString(3),
                        rs.getObject(4, OffsetDateTime.class), rs.getObject(5, OffsetDateTime.class)));
                }
            }
            return out;
        } catch (SQLException e) {
            throw LockServiceException.of(e);
        }
    }
}
