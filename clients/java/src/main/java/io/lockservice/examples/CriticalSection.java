package io.lockservice.examples;

import io.lockservice.Lease;
import io.lockservice.LockServiceClient;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import org.postgresql.ds.PGSimpleDataSource;

/** Critical section with a fenced write: increment java_counter COUNT times. Args: JDBC-URL NAME COUNT */
public final class CriticalSection {
    public static void main(String[] args) throws Exception {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(args[0]);
        try (LockServiceClient client = new LockServiceClient(ds); Connection db = ds.getConnection()) {
            db.setAutoCommit(false);
            for (int i = 0; i < Integer.parseInt(args[2]); i++) {
                try (Lease lease = client.tryAcquire(args[1], Duration.ofSeconds(5), Duration.ofSeconds(30)).orElseThrow();
                     Statement st = db.createStatement()) {
                    lease.fence(db, args[1]);                    // fence + write: one transaction
                    long n;
                    try (ResultSet rs = st.executeQuery("SELECT n FROM java_counter")) {
                        rs.next();
                        n = rs.getLong(1);
                    }
                    st.executeUpdate("UPDATE java_counter SET n = " + (n + 1));
                    db.commit();
                }
            }
            System.out.println("ok");
        }
    }
}
