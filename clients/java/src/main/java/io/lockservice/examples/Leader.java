package io.lockservice.examples;

import io.lockservice.Lease;
import io.lockservice.LockServiceClient;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.postgresql.ds.PGSimpleDataSource;

/** Leader election: campaign, lead until SECONDS pass or leadership is lost, resign. Args: JDBC-URL NAME NODE SECONDS */
public final class Leader {
    public static void main(String[] args) throws Exception {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(args[0]);
        try (LockServiceClient client = new LockServiceClient(ds)) {
            System.out.println(args[2] + ": campaigning; leader now: " + client.leader(args[1]).orElse("none"));
            Lease lease = client.campaign(args[1], args[2], Duration.ofSeconds(2)); // waits until elected
            System.out.println("leader " + args[2] + " token " + lease.token());
            CountDownLatch lost = new CountDownLatch(1);
            lease.onLost(lost::countDown);
            if (lost.await((long) (Double.parseDouble(args[3]) * 1000), TimeUnit.MILLISECONDS)) { // lead: serve, ...
                System.out.println(args[2] + ": lost leadership: " + lease.lostReason());
            }
            lease.resign();
        }
    }
}
