package io.lockservice;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

class LockServiceClientTest {
    static String url, adminUrl, bouncerUrl;
    static LockServiceClient client;
    static int seq;

    /** The harness gives libpq keyword strings; JDBC wants URLs. prepareThreshold=0 for PgBouncer. */
    static String jdbc(String dsn) {
        Map<String, String> kv = new HashMap<>();
        for (String p : dsn.trim().split("\\s+")) {
            String[] a = p.split("=", 2);
            kv.put(a[0], a[1]);
        }
        return "jdbc:postgresql://" + kv.get("host") + ":" + kv.get("port") + "/" + kv.get("dbname")
            + "?user=" + kv.get("user") + "&prepareThreshold=0";
    }

    static LockServiceClient newClient(String u) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(u);
        return new LockServiceClient(ds);
    }

    @BeforeAll
    static void setUp() {
        url = jdbc(System.getenv("LS_DSN"));
        adminUrl = jdbc(System.getenv("LS_ADMIN_DSN"));
        bouncerUrl = jdbc(System.getenv("LS_BOUNCER_DSN"));
        client = newClient(url);
    }

    @AfterAll
    static void tearDown() {
        client.close();
    }

    static String uniq() {
        return "java-" + ProcessHandle.current().pid() + "-" + (++seq);
    }

    static long admin(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
            if (!st.execute(sql)) return 0;
            try (ResultSet rs = st.getResultSet()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    static String q(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    @Test
    void acquireReleaseHoldersSameHolder() throws Exception {
        String name = uniq();
        Lease l = client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
        assertTrue(l.token() > 0);
        assertTrue(client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO).isEmpty());
        assertEquals(Optional.of(l.holder()), client.leader(name));
        Lease again = client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO, l.holder()).orElseThrow();
        assertEquals(l.token(), again.token());
        assertTrue(l.release());
        assertFalse(l.release());
        try (Lease next = client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO).orElseThrow()) {
            assertTrue(next.token() > l.token());
        }
        assertTrue(client.leader(name).isEmpty());
    }

    @Test
    void waitTimeoutThenGranted() throws Exception {
        String name = uniq();
        Lease l = client.acquire(name, Duration.ofSeconds(10));
        long t0 = System.nanoTime();
        assertTrue(client.tryAcquire(name, Duration.ofSeconds(10), Duration.ofMillis(500)).isEmpty());
        assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(400));
        new Thread(() -> { sleep(500); l.close(); }).start();
        try (Lease second = client.tryAcquire(name, Duration.ofSeconds(10), Duration.ofSeconds(20)).orElseThrow()) {
            assertTrue(second.token() > l.token());
        }
    }

    @Test
    void interruptCancelsAWait() throws Exception {
        String name = uniq();
        try (Lease l = client.acquire(name, Duration.ofSeconds(30))) {
            AtomicReference<Throwable> got = new AtomicReference<>();
            Thread t = new Thread(() -> {
                try {
                    client.acquire(name, Duration.ofSeconds(10));
                } catch (Throwable e) {
                    got.set(e);
                }
            });
            t.start();
            Thread.sleep(500);
            t.interrupt();
            t.join(10000);
            assertFalse(t.isAlive());
            assertInstanceOf(InterruptedException.class, got.get());
            Thread.sleep(300);
            assertEquals(List.of(l.token()), client.holders(name).stream().map(LockServiceClient.HolderInfo::token).toList());
        }
    }

    @Test
    void keepaliveKeepsAShortLease() throws Exception {
        String name = uniq();
        Lease l = client.acquire(name, Duration.ofMillis(1500));
        Thread.sleep(4000);
        assertFalse(l.isLost(), l.lostReason());
        assertEquals(1, admin("SELECT count(*) FROM lockservice.leases_live WHERE name = " + q(name) + " AND expires_at > clock_timestamp()"));
        assertTrue(l.release());
    }

    /** The README's argument table: over-long names are the server's 22001; fractions of a second are kept. */
    @Test
    void argumentRulesAtTheServer() throws Exception {
        String name = uniq();
        LockServiceException e = assertThrows(LockServiceException.class,
            () -> client.tryAcquire("n".repeat(257), Duration.ofSeconds(10), Duration.ZERO));
        assertEquals("22001", e.getSQLState());
        e = assertThrows(LockServiceException.class,
            () -> client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO, "h".repeat(257)));
        assertEquals("22001", e.getSQLState());
        Lease l = client.tryAcquire(name, Duration.ofMillis(250), Duration.ZERO).orElseThrow();
        LockServiceClient.HolderInfo h = client.holders(name).get(0);
        assertEquals(Duration.ofMillis(250), Duration.between(h.grantedAt(), h.expiresAt()));
        l.release();
    }

    @Test
    void badInputSendsNothing() throws Exception {
        long before = admin("SELECT acquires + acquire_timeouts FROM lockservice.stats_counters()");
        assertThrows(IllegalArgumentException.class, () -> client.acquire("", Duration.ofSeconds(1)));
        assertThrows(NullPointerException.class, () -> client.acquire(null, Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> client.acquire("n", Duration.ofSeconds(-1)));
        assertThrows(IllegalArgumentException.class, () -> client.acquire("n", Duration.ZERO));
        assertThrows(NullPointerException.class, () -> client.acquire("n", null));
        assertThrows(IllegalArgumentException.class, () -> client.tryAcquire("n", Duration.ofSeconds(1), Duration.ofSeconds(-1)));
        assertThrows(IllegalArgumentException.class, () -> client.tryAcquire("n", Duration.ofSeconds(1), Duration.ZERO, ""));
        assertThrows(IllegalArgumentException.class, () -> client.tryAcquirePermit("n", 0, Duration.ofSeconds(1), Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> client.holders(""));
        assertThrows(NullPointerException.class, () -> new LockServiceClient(null));
        assertEquals(before, admin("SELECT acquires + acquire_timeouts FROM lockservice.stats_counters()"));
    }

    @Test
    void fencedWriteOfTheStaleHolderIsRefused() throws Exception {
        String name = uniq();
        admin("CREATE TABLE IF NOT EXISTS java_register (name text PRIMARY KEY, v bigint)");
        admin("GRANT SELECT, INSERT, UPDATE ON java_register TO PUBLIC");
        Lease first = client.acquire(name, Duration.ofSeconds(10));
        first.release();
        try (Lease second = client.acquire(name, Duration.ofSeconds(10)); Connection db = DriverManager.getConnection(url)) {
            db.setAutoCommit(false);
            for (Lease l : List.of(second, first)) {
                try (Statement st = db.createStatement()) {
                    l.fence(db, name);
                    st.executeUpdate("INSERT INTO java_register VALUES (" + q(name) + ", " + l.token() + ") ON CONFLICT (name) DO UPDATE SET v = excluded.v");
                    db.commit();
                    assertSame(second, l);
                } catch (FencedException e) {
                    db.rollback();
                    assertSame(first, l);
                    assertEquals("LS001", e.getSQLState());
                }
            }
            assertEquals(second.token(), admin("SELECT v FROM java_register WHERE name = " + q(name)));
        }
    }

    @Test
    void sharedLeasesAndSemaphores() throws Exception {
        String name = uniq();
        Lease a = client.tryAcquireShared(name, Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
        Lease b = client.tryAcquireShared(name, Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
        assertNotEquals(a.token(), b.token());
        assertTrue(client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO).isEmpty());
        a.close();
        b.close();
        String sem = name + "-sem";
        Lease p1 = client.tryAcquirePermit(sem, 2, Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
        Lease p2 = client.tryAcquirePermit(sem, 2, Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
        assertTrue(client.tryAcquirePermit(sem, 2, Duration.ofSeconds(10), Duration.ZERO).isEmpty());
        KindMismatchException e = assertThrows(KindMismatchException.class, () -> client.tryAcquire(sem, Duration.ofSeconds(10), Duration.ZERO));
        assertEquals("LS004", e.getSQLState());
        p1.close();
        p2.close();
    }

    @Test
    void forceReleaseIsNoticedAndRunIsInterrupted() throws Exception {
        String name = uniq();
        long t0 = System.nanoTime();
        LeaseLostException e = assertThrows(LeaseLostException.class, () -> client.run(name, Duration.ofMillis(1500), Duration.ofSeconds(5), lease -> {
            admin("SELECT lockservice.force_release(" + q(name) + ")");
            Thread.sleep(60000); // would sleep a minute: only the lost lease stops it
            return null;
        }));
        assertTrue(e.getMessage().contains("refused"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
    }

    static void pgCtl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("pg_ctl", "-D", System.getenv("LS_PGDATA"), "-l", System.getenv("LS_PGLOG"), "-w"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertEquals(0, p.waitFor());
    }

    @Test
    void serverStopLosesTheLeaseByItsDeadline() throws Exception {
        String name = uniq();
        Lease l = client.acquire(name, Duration.ofSeconds(3));
        Lease manual = client.acquire(name + "-m", Duration.ofSeconds(30));
        CountDownLatch lost = new CountDownLatch(1);
        l.onLost(lost::countDown);
        pgCtl("stop", "-m", "fast");
        long lostAt;
        try {
            assertTrue(lost.await(10, TimeUnit.SECONDS));
            lostAt = System.nanoTime();
            assertTrue(lostAt - l.deadlineNanos() < TimeUnit.SECONDS.toNanos(1));
            assertThrows(OutcomeUnknownException.class, manual::renew);
        } finally {
            pgCtl("start");
        }
        try (LockServiceClient other = newClient(url)) {
            Lease got = other.tryAcquire(name, Duration.ofSeconds(5), Duration.ofSeconds(15)).orElseThrow();
            assertTrue(System.nanoTime() - lostAt > 0, "granted only after the holder gave up");
            got.release();
        }
    }

    static Process java(String mainClass, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
            "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** A holder in its own JVM for the pause test: prints its deadline until the lease is lost. */
    public static final class PausedHolder {
        public static void main(String[] args) throws Exception {
            try (LockServiceClient c = newClient(args[0])) {
                Lease l = c.tryAcquire(args[1], Duration.ofSeconds(2), Duration.ofSeconds(10)).orElseThrow();
                System.out.println("token " + l.token());
                long offset = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
                while (!l.isLost()) {
                    System.out.println("deadline " + (l.deadlineNanos() + offset) / 1_000_000L + " now " + System.currentTimeMillis());
                    Thread.sleep(20);
                }
                try (Connection db = DriverManager.getConnection(args[0])) {
                    db.setAutoCommit(false);
                    l.fence(db, args[1]);
                    System.out.println("write done");
                } catch (FencedException e) {
                    System.out.println("write refused " + e.getSQLState());
                }
            }
        }
    }

    @Test
    void aPausedHolderRunsOutBeforeTheNextGrantAndItsLateWriteIsRefused() throws Exception {
        String name = uniq();
        Process child = java(PausedHolder.class.getName(), url, name);
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream()));
            long childToken = Long.parseLong(out.readLine().split(" ")[1]);
            String[] d = out.readLine().split(" ");
            long lastDeadline = Long.parseLong(d[1]);
            new ProcessBuilder("kill", "-STOP", Long.toString(child.pid())).start().waitFor();
            long stoppedAt = System.currentTimeMillis();
            long grantedAt;
            try (Lease l = client.tryAcquire(name, Duration.ofSeconds(10), Duration.ofSeconds(20)).orElseThrow();
                 Connection db = DriverManager.getConnection(url)) {
                grantedAt = System.currentTimeMillis();
                assertTrue(l.token() > childToken);
                db.setAutoCommit(false);
                l.fence(db, name);
                db.commit();
                new ProcessBuilder("kill", "-CONT", Long.toString(child.pid())).start().waitFor();
                boolean refused = false;
                for (String line; (line = out.readLine()) != null; ) {
                    String[] f = line.split(" ");
                    if (f[0].equals("deadline") && Long.parseLong(f[3]) < stoppedAt) lastDeadline = Math.max(lastDeadline, Long.parseLong(f[1]));
                    if (line.equals("write refused LS001")) refused = true;
                }
                assertTrue(lastDeadline < grantedAt, "the paused lease ran out before the other grant");
                assertTrue(refused, "the late write was refused");
            }
        } finally {
            new ProcessBuilder("kill", "-CONT", Long.toString(child.pid())).start().waitFor();
            child.destroyForcibly();
        }
    }

    @Test
    void anAcquireKilledWhileWaitingIsRetriedAsTheSameHolder() throws Exception {
        String name = uniq();
        Lease held = client.acquire(name, Duration.ofSeconds(30));
        AtomicReference<Object> got = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                got.set(client.tryAcquire(name, Duration.ofSeconds(10), Duration.ofSeconds(30), "w-1").orElseThrow());
            } catch (Exception e) {
                got.set(e);
            }
        });
        t.start();
        long pid = 0;
        for (int i = 0; i < 200 && pid == 0; i++) {
            Thread.sleep(50);
            pid = admin("SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE usename = 'ls_app' AND state = 'active' AND query LIKE '%lock_acquire%'");
        }
        assertNotEquals(0, pid, "the waiting acquire never showed up");
        admin("SELECT pg_terminate_backend(" + pid + ")::int");
        Thread.sleep(500);
        held.release();
        t.join(30000);
        Lease l = assertInstanceOf(Lease.class, got.get());
        assertEquals("w-1", l.holder());
        assertEquals(l.token(), client.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO, "w-1").orElseThrow().token());
        l.release();
    }

    @Test
    void aRenewalKilledInFlightIsRetriedAndNeverLosesTheLease() throws Exception {
        String name = uniq();
        Lease l = client.acquire(name, Duration.ofSeconds(3));
        try (Connection a = DriverManager.getConnection(adminUrl); Statement st = a.createStatement()) {
            // hold the lease's row so that the next renewal waits on it, in flight
            a.setAutoCommit(false);
            st.execute("SELECT 1 FROM lockservice.leases WHERE name = " + q(name) + " FOR UPDATE");
            long pid = 0;
            for (int i = 0; i < 100 && pid == 0; i++) {
                Thread.sleep(20);
                pid = admin("SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE usename = 'ls_app' AND wait_event_type = 'Lock' AND query LIKE '%lock_renew%'");
            }
            assertNotEquals(0, pid, "no renewal waited on the row");
            admin("SELECT pg_terminate_backend(" + pid + ")::int");
            a.rollback();
        }
        Thread.sleep(3000); // past the ttl: only retried renewals keep it
        assertFalse(l.isLost(), l.lostReason());
        assertTrue(l.release());
    }

    @Test
    void throughPgBouncer() throws Exception {
        String name = uniq();
        try (LockServiceClient c = newClient(bouncerUrl)) {
            for (int i = 0; i < 12; i++) {
                Lease l = c.tryAcquire(name, Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
                assertTrue(l.renew());
                assertTrue(l.release());
            }
            Lease l = c.acquire(name, Duration.ofSeconds(10));
            new Thread(() -> { sleep(300); l.close(); }).start();
            c.tryAcquire(name, Duration.ofSeconds(10), Duration.ofSeconds(20)).orElseThrow().close();
        }
    }

    // ---- the four uses, as the examples run them, in JVMs of their own

    @Test
    void exampleLeaderFailover() throws Exception {
        String name = uniq();
        Process a = java("io.lockservice.examples.Leader", url, name, "node-a", "60");
        BufferedReader ao = new BufferedReader(new InputStreamReader(a.getInputStream()));
        assertTrue(ao.readLine().startsWith("node-a: campaigning"));
        assertTrue(ao.readLine().startsWith("leader node-a"));
        Process b = java("io.lockservice.examples.Leader", url, name, "node-b", "0.5");
        BufferedReader bo = new BufferedReader(new InputStreamReader(b.getInputStream()));
        assertEquals("node-b: campaigning; leader now: node-a", bo.readLine());
        a.destroyForcibly(); // the leader dies without resigning
        long killed = System.nanoTime();
        assertTrue(bo.readLine().startsWith("leader node-b"));
        assertTrue(System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(15));
        assertEquals(0, b.waitFor());
    }

    @Test
    void exampleSingleton() throws Exception {
        String name = uniq();
        Process first = java("io.lockservice.examples.Singleton", url, name, "3");
        BufferedReader fo = new BufferedReader(new InputStreamReader(first.getInputStream()));
        assertTrue(fo.readLine().startsWith("running with token"));
        Process second = java("io.lockservice.examples.Singleton", url, name, "0");
        assertEquals("skipped: running elsewhere", new BufferedReader(new InputStreamReader(second.getInputStream())).readLine());
        assertEquals("done", fo.readLine());
        assertEquals(0, first.waitFor());
    }

    @Test
    void exampleCriticalSection() throws Exception {
        String name = uniq();
        admin("CREATE TABLE IF NOT EXISTS java_counter (n bigint)");
        admin("GRANT SELECT, UPDATE ON java_counter TO PUBLIC");
        admin("TRUNCATE java_counter");
        admin("INSERT INTO java_counter VALUES (0)");
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 3; i++) ps.add(java("io.lockservice.examples.CriticalSection", url, name, "25"));
        for (Process p : ps) {
            assertEquals("ok", new BufferedReader(new InputStreamReader(p.getInputStream())).readLine());
            assertEquals(0, p.waitFor());
        }
        assertEquals(75, admin("SELECT n FROM java_counter"));
    }

    @Test
    void exampleReservation() throws Exception {
        String name = uniq();
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 3; i++) ps.add(java("io.lockservice.examples.Reservation", url, name, "2", "1"));
        List<long[]> spans = new ArrayList<>();
        for (Process p : ps) {
            BufferedReader o = new BufferedReader(new InputStreamReader(p.getInputStream()));
            long s = Long.parseLong(o.readLine().split(" ")[1]);
            long e = Long.parseLong(o.readLine().split(" ")[1]);
            assertEquals(0, p.waitFor());
            spans.add(new long[] {s, e});
        }
        spans.sort((x, y) -> Long.compare(x[0], y[0]));
        assertTrue(spans.get(2)[0] >= Math.min(spans.get(0)[1], spans.get(1)[1]) - 50, "three holders at once");
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * synchronous_standby_names set to a name no standby has (null: reset):
     * every commit waits for a confirmation that never comes, as when the
     * synchronous standby is cut off.
     */
    static void standbyNames(String value) throws Exception {
        admin(value == null ? "ALTER SYSTEM RESET synchronous_standby_names"
            : "ALTER SYSTEM SET synchronous_standby_names = " + q(value));
        admin("SELECT pg_reload_conf()::int");
        String want = value == null ? "" : value;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() - end < 0) {
            if (admin("SELECT (current_setting('synchronous_standby_names') = " + q(want) + ")::int") == 1) return;
            Thread.sleep(50);
        }
        fail("the reload did not take effect");
    }

    /** Cancels, once, a backend of ls_app that waits for the standby (an operator, a pooler). */
    static Thread cancelSyncRepOnce(long[] cancelled) {
        Thread t = new Thread(() -> {
            try {
                while (cancelled[0] == 0 && !Thread.currentThread().isInterrupted()) {
                    cancelled[0] = admin("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
                        + "WHERE wait_event = 'SyncRep' AND usename = 'ls_app'");
                    Thread.sleep(100);
                }
            } catch (Exception e) {
                // interrupted: done
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }

    @Test
    void commitUnconfirmedByTheStandbyIsNeverALease() throws Exception {
        for (Duration wait : new Duration[] {Duration.ZERO, Duration.ofSeconds(1)}) {
            String name = uniq();
            long local;
            long[] cancelled = {0};
            standbyNames("ls_no_such_standby");
            try {
                Thread canceller = cancelSyncRepOnce(cancelled);
                long t0 = System.nanoTime();
                CommitUnconfirmedException e = assertThrows(CommitUnconfirmedException.class,
                    () -> client.tryAcquire(name, Duration.ofMinutes(1), wait, "h-1", Duration.ofSeconds(2)));
                long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                canceller.interrupt();
                assertTrue(e instanceof OutcomeUnknownException);
                assertTrue(cancelled[0] > 0, "the wait for the standby was cancelled once");
                assertTrue(elapsed >= 1900 && elapsed <= 3500, "ended at the 2 s deadline: " + elapsed + " ms");
                local = admin("SELECT coalesce(max(token), 0) FROM lockservice.lock_holder(" + q(name) + ")");
                assertTrue(local > 0, "committed on the primary only");
            } finally {
                standbyNames(null);
            }
            Lease l = client.tryAcquire(name, Duration.ofMinutes(1), Duration.ZERO, "h-1").orElseThrow();
            assertEquals(local, l.token(), "the same holder gets the same token");
            assertTrue(l.release());
        }
    }

    @Test
    void keepaliveNeverCountsAnUnconfirmedRenewal() throws Exception {
        String name = uniq();
        Lease l = client.tryAcquire(name, Duration.ofSeconds(3), Duration.ZERO).orElseThrow();
        CountDownLatch lost = new CountDownLatch(1);
        l.onLost(lost::countDown);
        long[] cancelled = {0};
        standbyNames("ls_no_such_standby");
        try {
            Thread canceller = cancelSyncRepOnce(cancelled);
            assertThrows(OutcomeUnknownException.class, l::renew);
            canceller.interrupt();
            assertTrue(lost.await(5, TimeUnit.SECONDS), "the lease was never given up");
            assertTrue(l.lostReason().contains("no renewal confirmed"), l.lostReason());
            assertTrue(System.nanoTime() - l.deadlineNanos() < TimeUnit.SECONDS.toNanos(1), "lost by its local deadline");
        } finally {
            standbyNames(null);
        }
    }
}
