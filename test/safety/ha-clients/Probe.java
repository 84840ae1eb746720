import io.lockservice.LockServiceClient;
import io.lockservice.Lease;
import io.lockservice.LockServiceException;
import io.lockservice.OutcomeUnknownException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The Java package's probe for test/safety/ha-clients.sh.
 *
 * <pre>
 *   java Probe hold NAME TTL HOLDER STOPFILE
 *   java Probe acquire NAME TTL WAIT TIMEOUT HOLDER GOFILE
 * </pre>
 *
 * The JDBC URL comes from LS_JDBC_URL; times are in seconds. Every line
 * printed is "EPOCH EVENT [DETAILS]" (see ha-clients.sh): hold takes NAME
 * with the keepalive on and says every 100 ms whether the package counts it
 * as held, until it is lost or STOPFILE exists (then releases it); acquire
 * makes a client that has used a connection, says "ready", waits for GOFILE
 * and makes one acquire call.
 */
public final class Probe {
    private Probe() { }

    private static void say(Object... words) {
        StringBuilder b = new StringBuilder(String.format("%.6f", System.currentTimeMillis() / 1000.0));
        for (Object w : words) {
            b.append(' ').append(w);
        }
        System.out.println(b);
        System.out.flush();
    }

    private static Duration seconds(String s) {
        return Duration.ofNanos((long) (Double.parseDouble(s) * 1e9));
    }

    private static int hold(LockServiceClient client, String name, Duration ttl, String holder, Path stop)
            throws Exception {
        Optional<Lease> got = client.tryAcquire(name, ttl, Duration.ofSeconds(30), holder);
        if (got.isEmpty()) {
            say("notgranted");
            return 1;
        }
        Lease lease = got.get();
        say("granted", lease.token());
        while (!Files.exists(stop)) {
            if (lease.isLost() || System.nanoTime() - lease.deadlineNanos() >= 0) {
                say("lost", lease.token(), lease.lostReason());
                return 3;
            }
            say("held", lease.token());
            Thread.sleep(100);
        }
        try {
            say("released", lease.release());
        } catch (LockServiceException e) {
            say("released", "error", e.getClass().getSimpleName(), e.getMessage());
        }
        return 0;
    }

    private static int acquire(LockServiceClient client, String name, Duration ttl, Duration wait, Duration timeout,
            String holder, Path go) throws Exception {
        client.holders(name);
        say("ready");
        while (!Files.exists(go)) {
            Thread.sleep(20);
        }
        long t0 = System.nanoTime();
        try {
            Optional<Lease> got = client.tryAcquire(name, ttl, wait, holder, timeout);
            String took = String.format("%.3f", (System.nanoTime() - t0) / 1e9);
            if (got.isEmpty()) {
                say("notgranted", took);
                return 1;
            }
            say("granted", took, got.get().token());
            return 0;
        } catch (LockServiceException e) {
            String took = String.format("%.3f", (System.nanoTime() - t0) / 1e9);
            say(e instanceof OutcomeUnknownException ? "unknown" : "error", took, e.getClass().getSimpleName(),
                e.getMessage());
            return 1;
        }
    }

    public static void main(String[] args) throws Exception {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(System.getenv("LS_JDBC_URL"));
        int rc = 2;
        try (LockServiceClient client = new LockServiceClient(ds)) {
            if (args.length == 5 && args[0].equals("hold")) {
                rc = hold(client, args[1], seconds(args[2]), args[3], Path.of(args[4]));
            } else if (args.length == 7 && args[0].equals("acquire")) {
                rc = acquire(client, args[1], seconds(args[2]), seconds(args[3]), seconds(args[4]), args[5],
                    Path.of(args[6]));
            } else {
                System.err.println("usage: Probe hold|acquire ...");
            }
        } catch (Exception e) {
            say("error", "0", e.getClass().getSimpleName(), e.getMessage());
            rc = 1;
        }
        System.exit(rc);
    }
}
