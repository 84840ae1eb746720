import io.lockservice.Lease;
import io.lockservice.LockServiceClient;
import java.time.Duration;
import org.postgresql.ds.PGSimpleDataSource;

/** The Java sample: compiled against the client's jar. Usage: java Sample JDBC_URL NAME */
public final class Sample {
    public static void main(String[] args) throws Exception {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(args[0]);
        try (LockServiceClient client = new LockServiceClient(ds)) {
            Lease lease = client.tryAcquire(args[1], Duration.ofSeconds(15), Duration.ofSeconds(5)).orElseThrow();
            System.out.println("acquired " + args[1] + " token " + lease.token());
            System.out.println("released " + lease.release());
        }
    }
}
