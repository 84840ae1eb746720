package io.lockservice;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Sessions (lockservice 1.5): one keepalive for many locks, lost together; multi-lock. */
class SessionTest {
    static String url;
    static LockServiceClient client;
    static int seq;

    @BeforeAll
    static void setUp() {
        LockServiceClientTest.setUp();
        url = LockServiceClientTest.url;
        client = LockServiceClientTest.newClient(url);
    }

    @AfterAll
    static void tearDown() {
        client.close();
        LockServiceClientTest.tearDown();
    }

    static String uniq() {
        return "javas-" + ProcessHandle.current().pid() + "-" + (++seq);
    }

    static long liveIn(long session) throws Exception {
        return LockServiceClientTest.admin("SELECT count(*) FROM lockservice.leases_live WHERE session = " + session);
    }

    @Test
    void aSessionKeepsManyLocksWithOneKeepalive() throws Exception {
        String name = uniq();
        Session s = client.openSession(Duration.ofMillis(1500));
        Lease x = s.tryAcquire(name + "-x", Duration.ZERO).orElseThrow();
        Lease sh = s.tryAcquireShared(name + "-sh", Duration.ZERO).orElseThrow();
        Lease p = s.tryAcquirePermit(name + "-p", 2, Duration.ZERO).orElseThrow();
        List<Lease> both = s.tryAcquireAll(List.of(name + "-b", name + "-a"), Duration.ZERO).orElseThrow();
        assertEquals(name + "-b", both.get(0).name());
        assertEquals(5, s.leases().size());
        assertEquals(s.holder(), x.holder());
        assertEquals(s, x.session());
        Thread.sleep(4500); // three ttls: the session's keepalive keeps every lock
        for (Lease l : List.of(x, sh, p, both.get(0), both.get(1))) {
            assertFalse(l.isLost(), l + " lost");
            assertEquals(1, LockServiceClientTest.admin("SELECT count(*) FROM lockservice.leases_live WHERE name = "
                + LockServiceClientTest.q(l.name()) + " AND token = " + l.token() + " AND session = " + s.id()));
        }
        assertTrue(x.renew(), "a lock in a session is renewed through it");
        assertTrue(x.release());
        assertEquals(4, s.leases().size());
        assertEquals(4, liveIn(s.id()));
        assertTrue(s.closeSession());
        assertEquals(0, liveIn(s.id()));
        LockServiceException e = assertThrows(LockServiceException.class, () -> s.tryAcquire(name + "-late", Duration.ZERO));
        assertEquals("LS006", e.getSQLState());
    }

    @Test
    void acquireAllIsAllOrNothing() throws Exception {
        String name = uniq();
        List<Lease> ls = client.tryAcquireAll(List.of(name + "-1", name + "-2"), Duration.ofSeconds(10), Duration.ZERO).orElseThrow();
        try (LockServiceClient other = LockServiceClientTest.newClient(url)) {
            assertTrue(other.tryAcquireAll(List.of(name + "-0", name + "-2"), Duration.ofSeconds(10), Duration.ofMillis(300)).isEmpty());
            assertEquals(0, LockServiceClientTest.admin("SELECT count(*) FROM lockservice.leases_live WHERE name = "
                + LockServiceClientTest.q(name + "-0")));
            ls.get(1).release();
            List<Lease> got = other.tryAcquireAll(List.of(name + "-0", name + "-2"), Duration.ofSeconds(10), Duration.ofSeconds(5)).orElseThrow();
            assertTrue(got.get(1).token() > ls.get(1).token());
            for (Lease l : got) l.release();
        }
        ls.get(0).release();
        assertThrows(IllegalArgumentException.class, () -> client.tryAcquireAll(List.of(name, name), Duration.ofSeconds(1), Duration.ZERO));
    }

    /** A session holder in its own JVM: three locks in a session (ttl 2 s); prints its deadline until lost. */
    public static final class PausedSession {
        public static void main(String[] args) throws Exception {
            try (LockServiceClient c = LockServiceClientTest.newClient(args[0])) {
                Session s = c.openSession(Duration.ofSeconds(2));
                List<Lease> ls = s.tryAcquireAll(List.of(args[1] + "-0", args[1] + "-1", args[1] + "-2"), Duration.ofSeconds(10)).orElseThrow();
                System.out.println("tokens " + ls.get(0).token() + " " + ls.get(1).token() + " " + ls.get(2).token());
                long offset = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
                while (!s.isLost()) {
                    System.out.println("deadline " + (s.deadlineNanos() + offset) / 1_000_000L + " now " + System.currentTimeMillis());
                    Thread.sleep(20);
                }
                System.out.println("lost " + ls.stream().filter(Lease::isLost).count());
                try (Connection db = DriverManager.getConnection(args[0])) {
                    db.setAutoCommit(false);
                    for (Lease l : ls) {
                        try {
                            l.fence(db, l.name());
                            System.out.println("write done " + l.name());
                        } catch (FencedException e) {
                            System.out.println("write refused " + e.getSQLState() + " " + l.name());
                        }
                        db.rollback();
                    }
                }
            }
        }
    }

    @Test
    void aPausedSessionHolderLosesEveryLockBeforeTheNextGrant() throws Exception {
        String name = uniq();
        Process child = LockServiceClientTest.java(PausedSession.class.getName(), url, name);
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream()));
            String[] t = out.readLine().split(" ");
            long[] childTokens = {Long.parseLong(t[1]), Long.parseLong(t[2]), Long.parseLong(t[3])};
            long lastDeadline = Long.parseLong(out.readLine().split(" ")[1]);
            new ProcessBuilder("kill", "-STOP", Long.toString(child.pid())).start().waitFor();
            long stoppedAt = System.currentTimeMillis();
            List<Lease> got = client.tryAcquireAll(List.of(name + "-0", name + "-1", name + "-2"),
                Duration.ofSeconds(10), Duration.ofSeconds(20)).orElseThrow();
            long grantedAt = System.currentTimeMillis();
            try (Connection db = DriverManager.getConnection(url)) {
                db.setAutoCommit(false);
                for (int i = 0; i < 3; i++) {
                    assertTrue(got.get(i).token() > childTokens[i]);
                    got.get(i).fence(db, got.get(i).name());
                }
                db.commit();
            }
            new ProcessBuilder("kill", "-CONT", Long.toString(child.pid())).start().waitFor();
            int refused = 0;
            boolean lostAll = false;
            for (String line; (line = out.readLine()) != null; ) {
                String[] f = line.split(" ");
                if (f[0].equals("deadline") && Long.parseLong(f[3]) < stoppedAt) lastDeadline = Math.max(lastDeadline, Long.parseLong(f[1]));
                if (line.equals("lost 3")) lostAll = true;
                if (line.startsWith("write refused LS001")) refused++;
            }
            assertTrue(lastDeadline < grantedAt, "the paused session ran out before the other grant");
            assertTrue(lostAll, "every lease was lost with the session");
            assertEquals(3, refused, "every late write was refused");
            for (Lease l : got) l.release();
        } finally {
            new ProcessBuilder("kill", "-CONT", Long.toString(child.pid())).start().waitFor();
            child.destroyForcibly();
        }
    }
}
