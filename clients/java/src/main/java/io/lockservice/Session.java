package io.lockservice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A lock session (lockservice 1.5): one keepalive, every ttl/3, renews every
 * lock acquired in it, however many. When the session is lost (a renewal
 * refused, or none confirmed by the local deadline: the System.nanoTime() the
 * last confirmed open or renewal was sent, plus the ttl, minus the margin)
 * every lease in it is lost at the same moment. Each lease keeps its own
 * token, release, fence and check; {@link #close()} releases them all.
 */
public final class Session implements AutoCloseable {
    private final LockServiceClient client;
    private final long id;
    private final Duration ttl;
    private final Lease keep; // the session's own keepalive and local deadline
    private final List<Lease> leases = new CopyOnWriteArrayList<>();

    Session(LockServiceClient client, long id, String holder, Duration ttl, long sentAt) {
        this.client = client;
        this.id = id;
        this.ttl = ttl;
        this.keep = new Lease(client, "session " + id, holder, id, "session", ttl, sentAt);
        keep.setRenewer(timeoutSeconds -> client.sessionRenewOnce(id, null, timeoutSeconds));
        keep.onLost(() -> {
            for (Lease l : leases) l.markLost("session " + id + " lost: " + keep.lostReason());
        });
    }

    void startKeepalive() { keep.startKeepalive(); }

    void forget(Lease lease) { leases.remove(lease); }

    public long id() { return id; }
    public String holder() { return keep.holder(); }
    public boolean isLost() { return keep.isLost(); }
    public String lostReason() { return keep.lostReason(); }
    /** System.nanoTime() at which the session, and every lease in it, counts as lost without a confirmed renewal. */
    public long deadlineNanos() { return keep.deadlineNanos(); }
    /** Runs listener (on the keepalive's thread) when the session is lost. */
    public void onLost(Runnable listener) { keep.onLost(listener); }
    public void throwIfLost() throws LeaseLostException { keep.throwIfLost(); }
    /** The leases acquired in the session and not released. */
    public List<Lease> leases() { return new ArrayList<>(leases); }

    /** Renews the session (and every lease in it) by hand; false when it has ended (then every lease in it is lost). */
    public boolean renew() throws LockServiceException { return keep.renew(); }

    private Lease kept(Lease lease) {
        leases.add(lease);
        if (keep.isLost()) lease.markLost("session " + id + " lost: " + keep.lostReason());
        return lease;
    }

    private Optional<Lease> acquire(String kind, String name, int permits, Duration wait)
            throws LockServiceException, InterruptedException {
        LockServiceClient.checkName(name, "name");
        String sql = switch (kind) {
            case "shared" -> "SELECT lockservice.lock_acquire_shared(?, ?::bigint, ? * interval '1 s')";
            case "permit" -> "SELECT lockservice.sem_acquire(?, ?::bigint, ?, ? * interval '1 s')";
            default -> "SELECT lockservice.lock_acquire(?, ?::bigint, ? * interval '1 s')";
        };
        Optional<LockServiceClient.Granted<Long>> got = client.acquireLoop(
            "acquire of \"" + name + "\" in session " + id, wait, null,
            (waitSeconds, deadline) -> client.callOnce(sql, st -> {
                int i = 1;
                st.setString(i++, name);
                st.setLong(i++, id);
                if ("permit".equals(kind)) st.setInt(i++, permits);
                if (waitSeconds == null) st.setNull(i, java.sql.Types.DOUBLE); else st.setDouble(i, waitSeconds);
            }, waitSeconds == null || waitSeconds > 0, deadline, LockServiceClient::longOrNull));
        if (got.isEmpty()) return Optional.empty();
        return Optional.of(kept(new Lease(client, name, holder(), got.get().result(), kind, ttl, got.get().sent(), this)));
    }

    /** An exclusive lease of name kept by the session (wait ZERO: try once, null: until granted); LS006 once it ended. */
    public Optional<Lease> tryAcquire(String name, Duration wait) throws LockServiceException, InterruptedException {
        return acquire("exclusive", name, 0, wait);
    }

    public Optional<Lease> tryAcquireShared(String name, Duration wait) throws LockServiceException, InterruptedException {
        return acquire("shared", name, 0, wait);
    }

    public Optional<Lease> tryAcquirePermit(String name, int permits, Duration wait) throws LockServiceException, InterruptedException {
        if (permits < 1) throw new IllegalArgumentException("permits must be >= 1, got " + permits);
        return acquire("permit", name, permits, wait);
    }

    /** Exclusive leases of every name kept by the session, all or nothing, in the order of names; empty: none held. */
    public Optional<List<Lease>> tryAcquireAll(List<String> names, Duration wait) throws LockServiceException, InterruptedException {
        LockServiceClient.checkNames(names);
        Optional<LockServiceClient.Granted<long[]>> got = client.acquireLoop(
            "acquire of " + names + " in session " + id, wait, null,
            (waitSeconds, deadline) -> client.callOnce(
                "SELECT lockservice.lock_acquire_all(?::text[], ?::bigint, ? * interval '1 s')", st -> {
                    st.setArray(1, st.getConnection().createArrayOf("text", names.toArray()));
                    st.setLong(2, id);
                    if (waitSeconds == null) st.setNull(3, java.sql.Types.DOUBLE); else st.setDouble(3, waitSeconds);
                }, waitSeconds == null || waitSeconds > 0, deadline, LockServiceClient::longsOrNull));
        if (got.isEmpty()) return Optional.empty();
        List<Lease> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            out.add(kept(new Lease(client, names.get(i), holder(), got.get().result()[i], "exclusive", ttl, got.get().sent(), this)));
        }
        return Optional.of(out);
    }

    /** Ends the session and releases every lease in it; false when it had already ended. */
    public boolean closeSession() throws LockServiceException {
        for (Lease l : leases) l.stop();
        leases.clear();
        if (!keep.stop()) return false;
        return client.sessionClose(id, ttl.toNanos());
    }

    /** close() is closeSession(); errors are thrown as unchecked. */
    @Override
    public void close() {
        try {
            closeSession();
        } catch (LockServiceException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return "Session[" + id + ", holder " + holder() + ", " + leases.size() + " leases" + (isLost() ? ", lost" : "") + "]";
    }

}
