package io.lockservice.examples;

import io.lockservice.LockServiceClient;
import io.lockservice.NotGrantedException;
import java.time.Duration;
import org.postgresql.ds.PGSimpleDataSource;

/** Singleton job: run it on exactly one machine; the others skip this round. Args: JDBC-URL NAME SECONDS */
public final class Singleton {
    public static void main(String[] args) throws Exception {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(args[0]);
        try (LockServiceClient client = new LockServiceClient(ds)) {
            client.run(args[1], Duration.ofSeconds(5), Duration.ZERO, lease -> { // ZERO: do not queue up
                System.out.println("running with token " + lease.token());
                Thread.sleep((long) (Double.parseDouble(args[2]) * 1000));       // the nightly report, say
                return null;
            });
            System.out.println("done");
        } catch (NotGrantedException e) {
            System.out.println("skipped: running elsewhere");
        }
    }
}
