package io.lockservice.examples;

import io.lockservice.Lease;
import io.lockservice.LockServiceClient;
import java.time.Duration;
import org.postgresql.ds.PGSimpleDataSource;

/** Resource reservation: at most PERMITS holders of a pool at once. Args: JDBC-URL NAME PERMITS SECONDS */
public final class Reservation {
    public static void main(String[] args) throws Exception {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(args[0]);
        try (LockServiceClient client = new LockServiceClient(ds);
             Lease lease = client.tryAcquirePermit(args[1], Integer.parseInt(args[2]), Duration.ofSeconds(5), Duration.ofMinutes(1)).orElseThrow()) {
            System.out.println("start " + System.currentTimeMillis());
            Thread.sleep((long) (Double.parseDouble(args[3]) * 1000)); // use one of the PERMITS slots
            System.out.println("end " + System.currentTimeMillis() + " token " + lease.token());
        }
    }
}
