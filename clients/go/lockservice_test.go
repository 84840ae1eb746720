package lockservice

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
)

var (
	dsn, adminDSN, bouncerDSN string
	binDir                    string // built examples
)

func TestMain(m *testing.M) {
	if os.Getenv("LS_GO_CHILD") == "holder" {
		childHolder()
		return
	}
	if os.Getenv("LS_GO_CHILD") == "session" {
		childSession()
		return
	}
	dsn, adminDSN, bouncerDSN = os.Getenv("LS_DSN"), os.Getenv("LS_ADMIN_DSN"), os.Getenv("LS_BOUNCER_DSN")
	if dsn == "" || adminDSN == "" || bouncerDSN == "" {
		fmt.Println("LS_DSN, LS_ADMIN_DSN, LS_BOUNCER_DSN: run through run-tests.sh")
		os.Exit(2)
	}
	binDir = os.Getenv("LS_GO_EXAMPLES")
	os.Exit(m.Run())
}

var seq int

func uniq(t *testing.T) string {
	seq++
	return fmt.Sprintf("go-%s-%d-%d", strings.ToLower(t.Name()), os.Getpid(), seq)
}

func client(t *testing.T, conn string) *Client {
	t.Helper()
	c, err := New(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func admin(t *testing.T, sql string, args ...interface{}) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func adminInt(t *testing.T, sql string, args ...interface{}) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v int64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

var ctx = context.Background()

func TestAcquireRelease(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
	if err != nil || l.Token() <= 0 {
		t.Fatal(l, err)
	}
	if _, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second}); !errors.Is(err, ErrNotGranted) {
		t.Fatalf("second acquire: %v", err)
	}
	if h, ok, _ := c.Leader(ctx, name); !ok || h != l.Holder() {
		t.Fatalf("leader %q", h)
	}
	if ok, err := l.Release(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _ := l.Release(ctx); ok {
		t.Fatal("second release returned true")
	}
	l2, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
	if err != nil || l2.Token() <= l.Token() {
		t.Fatal(err)
	}
	l2.Release(ctx)
}

func TestSameHolderSameToken(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, _ := c.Acquire(ctx, name, Options{TTL: 10 * time.Second, NoKeepalive: true})
	again, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second, Holder: l.Holder(), NoKeepalive: true})
	if err != nil || again.Token() != l.Token() {
		t.Fatal(err)
	}
	l.Release(ctx)
}

func TestWaitTimeoutAndGrant(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, _ := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
	t0 := time.Now()
	if _, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second, Wait: 500 * time.Millisecond}); !errors.Is(err, ErrNotGranted) {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 400*time.Millisecond || d > 10*time.Second {
		t.Fatalf("waited %v", d)
	}
	time.AfterFunc(500*time.Millisecond, func() { l.Release(ctx) })
	l2, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second, Wait: 20 * time.Second})
	if err != nil || l2.Token() <= l.Token() {
		t.Fatal(err)
	}
	l2.Release(ctx)
}

func TestCancelWait(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, _ := c.Acquire(ctx, name, Options{TTL: 30 * time.Second})
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := c.Acquire(cctx, name, Options{TTL: 10 * time.Second, WaitForever: true})
	if err == nil || time.Since(t0) > 10*time.Second {
		t.Fatalf("cancelled wait: %v after %v", err, time.Since(t0))
	}
	if !errors.Is(err, ErrOutcomeUnknown) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrCancelled) {
		t.Fatalf("unexpected error %v", err)
	}
	hs, _ := c.Holders(ctx, name)
	if len(hs) != 1 || hs[0].Token != l.Token() {
		t.Fatalf("holders %v", hs)
	}
	l.Release(ctx)
}

func TestKeepalive(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, _ := c.Acquire(ctx, name, Options{TTL: 1500 * time.Millisecond})
	time.Sleep(4 * time.Second)
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	if n := adminInt(t, "SELECT count(*) FROM lockservice.leases_live WHERE name = $1 AND expires_at > clock_timestamp()", name); n != 1 {
		t.Fatal("lease not live on the server")
	}
	if ok, _ := l.Release(ctx); !ok {
		t.Fatal("release")
	}
	if l.Err() != nil {
		t.Fatal("released counted as lost")
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	c := client(t, dsn)
	before := adminInt(t, "SELECT acquires + acquire_timeouts FROM lockservice.stats_counters()")
	cases := []error{}
	_, err := c.Acquire(ctx, "", Options{})
	cases = append(cases, err)
	_, err = c.Acquire(ctx, "n", Options{TTL: -time.Second})
	cases = append(cases, err)
	_, err = c.Acquire(ctx, "n", Options{Wait: -time.Second})
	cases = append(cases, err)
	_, err = c.Acquire(ctx, "n", Options{Timeout: -time.Second})
	cases = append(cases, err)
	_, err = c.AcquirePermit(ctx, "n", 0, Options{})
	cases = append(cases, err)
	_, err = c.Campaign(ctx, "n", "", time.Second)
	cases = append(cases, err)
	_, err = c.Holders(ctx, "")
	cases = append(cases, err)
	for i, err := range cases {
		if err == nil || isServerErrorValue(err) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if after := adminInt(t, "SELECT acquires + acquire_timeouts FROM lockservice.stats_counters()"); after != before {
		t.Fatalf("bad input reached the server: %d -> %d", before, after)
	}
}

func TestFencedWrite(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	admin(t, "CREATE TABLE IF NOT EXISTS go_register (name text PRIMARY KEY, v bigint)")
	admin(t, "GRANT SELECT, INSERT, UPDATE ON go_register TO PUBLIC")
	first, _ := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
	first.Release(ctx)
	second, _ := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	write := func(l *Lease) error {
		tx, err := db.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := l.Fence(ctx, tx, ""); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO go_register VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET v = excluded.v", name, l.Token()); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	if err := write(second); err != nil {
		t.Fatal(err)
	}
	err = write(first)
	var le *Error
	if !errors.Is(err, ErrFenced) || !errors.As(err, &le) || le.SQLState != "LS001" {
		t.Fatalf("stale write: %v", err)
	}
	if v := adminInt(t, "SELECT v FROM go_register WHERE name = $1", name); v != second.Token() {
		t.Fatalf("register %d", v)
	}
	second.Release(ctx)
}

func TestSharedAndSemaphore(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	a, err1 := c.AcquireShared(ctx, name, Options{TTL: 10 * time.Second})
	b, err2 := c.AcquireShared(ctx, name, Options{TTL: 10 * time.Second})
	if err1 != nil || err2 != nil || a.Token() == b.Token() {
		t.Fatal(err1, err2)
	}
	if _, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second}); !errors.Is(err, ErrNotGranted) {
		t.Fatal(err)
	}
	a.Release(ctx)
	b.Release(ctx)
	sem := name + "-sem"
	p1, _ := c.AcquirePermit(ctx, sem, 2, Options{TTL: 10 * time.Second})
	p2, _ := c.AcquirePermit(ctx, sem, 2, Options{TTL: 10 * time.Second})
	if p1 == nil || p2 == nil {
		t.Fatal("permits")
	}
	if _, err := c.AcquirePermit(ctx, sem, 2, Options{TTL: 10 * time.Second}); !errors.Is(err, ErrNotGranted) {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, sem, Options{TTL: 10 * time.Second}); !errors.Is(err, ErrKindMismatch) {
		t.Fatalf("lock on a semaphore: %v", err)
	}
	p1.Release(ctx)
	p2.Release(ctx)
}

func TestForceReleaseCancelsRun(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	t0 := time.Now()
	var lostAfter time.Duration
	err := c.Run(ctx, name, Options{TTL: 1500 * time.Millisecond}, func(wctx context.Context, l *Lease) error {
		admin(t, "SELECT lockservice.force_release($1)", name)
		<-wctx.Done() // the work would go on forever
		lostAfter = time.Since(t0)
		return wctx.Err()
	})
	if !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Run: %v", err)
	}
	if lostAfter > 5*time.Second {
		t.Fatalf("noticed after %v", lostAfter)
	}
}

func pgCtl(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("pg_ctl", append([]string{"-D", os.Getenv("LS_PGDATA"), "-l", os.Getenv("LS_PGLOG"), "-w"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
	}
}

func TestServerStop(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, _ := c.Acquire(ctx, name, Options{TTL: 3 * time.Second})
	manual, _ := c.Acquire(ctx, name+"-m", Options{TTL: 30 * time.Second, NoKeepalive: true})
	deadline := l.Deadline()
	pgCtl(t, "stop", "-m", "fast")
	var lostAt time.Time
	func() {
		defer pgCtl(t, "start")
		select {
		case <-l.Lost():
			lostAt = time.Now()
		case <-time.After(10 * time.Second):
			t.Fatal("not lost 10 s after the server stopped")
		}
		if lostAt.After(l.Deadline().Add(time.Second)) || deadline.After(l.Deadline()) {
			t.Errorf("lost at %v, deadline %v", lostAt, l.Deadline())
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if ok, err := manual.Renew(rctx, 0); ok || err == nil {
			t.Errorf("renew without a server: %v %v", ok, err)
		}
	}()
	other := client(t, dsn)
	got, err := other.Acquire(ctx, name, Options{TTL: 5 * time.Second, Wait: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !lostAt.Before(time.Now()) {
		t.Fatal("granted before the holder gave up")
	}
	got.Release(ctx)
}

// childHolder: LS_GO_CHILD=holder, for TestPausedHolder. Prints its deadline
// (Unix nanoseconds) every 20 ms until the lease is lost, then tries its write.
func childHolder() {
	c, err := New(ctx, os.Getenv("LS_DSN"))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	name := os.Getenv("LS_GO_NAME")
	l, err := c.Acquire(ctx, name, Options{TTL: 2 * time.Second, Wait: 10 * time.Second})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("token %d\n", l.Token())
	for {
		select {
		case <-l.Lost():
			fmt.Printf("lost %d\n", time.Now().UnixNano())
			db, _ := pgx.Connect(ctx, os.Getenv("LS_DSN"))
			tx, _ := db.Begin(ctx)
			err := l.Fence(ctx, tx, name)
			if errors.Is(err, ErrFenced) {
				fmt.Println("write refused LS001")
			} else {
				fmt.Println("write allowed", err)
			}
			os.Exit(0)
		case <-time.After(20 * time.Millisecond):
			fmt.Printf("deadline %d now %d\n", l.Deadline().UnixNano(), time.Now().UnixNano())
		}
	}
}

func TestPausedHolder(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LS_GO_CHILD=holder", "LS_GO_NAME="+name)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	lines.Scan()
	var childToken int64
	fmt.Sscanf(lines.Text(), "token %d", &childToken)
	lines.Scan() // one deadline line: the keepalive is running
	var lastDeadline, now0 int64
	fmt.Sscanf(lines.Text(), "deadline %d now %d", &lastDeadline, &now0)
	cmd.Process.Signal(syscall.SIGSTOP)
	stoppedAt := time.Now().UnixNano()
	l, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second, Wait: 20 * time.Second})
	grantedAt := time.Now().UnixNano()
	if err != nil || l.Token() <= childToken {
		t.Fatal(err)
	}
	db, _ := pgx.Connect(ctx, dsn)
	defer db.Close(ctx)
	tx, _ := db.Begin(ctx)
	if err := l.Fence(ctx, tx, name); err != nil {
		t.Fatal(err)
	}
	tx.Commit(ctx)
	cmd.Process.Signal(syscall.SIGCONT)
	refused := false
	for lines.Scan() {
		var d, now int64
		if n, _ := fmt.Sscanf(lines.Text(), "deadline %d now %d", &d, &now); n == 2 && now < stoppedAt && d > lastDeadline {
			lastDeadline = d
		}
		if lines.Text() == "write refused LS001" {
			refused = true
		}
	}
	cmd.Wait()
	if lastDeadline == 0 || lastDeadline >= grantedAt {
		t.Fatalf("the paused holder's deadline %d is not before the other grant %d", lastDeadline, grantedAt)
	}
	if !refused {
		t.Fatal("the paused holder's late write was not refused")
	}
	l.Release(ctx)
}

func TestAcquireKilledWhileWaiting(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	held, _ := c.Acquire(ctx, name, Options{TTL: 30 * time.Second})
	waiter := client(t, dsn)
	var got *Lease
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, werr = waiter.Acquire(ctx, name, Options{TTL: 10 * time.Second, Wait: 30 * time.Second, Holder: "w-1"})
	}()
	var pid int64
	for i := 0; i < 200 && pid == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		pid = adminInt(t, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE usename = 'ls_app' AND state = 'active' AND query LIKE '%lock_acquire%'")
	}
	if pid == 0 {
		t.Fatal("the waiting acquire never showed up")
	}
	admin(t, "SELECT pg_terminate_backend($1::int)", pid)
	time.Sleep(500 * time.Millisecond)
	held.Release(ctx)
	wg.Wait()
	if werr != nil || got.Holder() != "w-1" {
		t.Fatal(werr)
	}
	again, err := waiter.Acquire(ctx, name, Options{TTL: 10 * time.Second, Holder: "w-1", NoKeepalive: true})
	if err != nil || again.Token() != got.Token() {
		t.Fatal("a retry as the same holder must return the same lease", err)
	}
	got.Release(ctx)
}

func TestRenewalKilled(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, _ := c.Acquire(ctx, name, Options{TTL: 3 * time.Second})
	end := time.Now().Add(6 * time.Second)
	killed := int64(0)
	for time.Now().Before(end) {
		killed += adminInt(t, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'ls_app' AND query LIKE '%lock_renew%'")
		time.Sleep(300 * time.Millisecond)
	}
	if killed == 0 {
		t.Fatal("no renewal connection seen")
	}
	time.Sleep(1500 * time.Millisecond)
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	if ok, _ := l.Release(ctx); !ok {
		t.Fatal("release after the killed renewals")
	}
}

func TestThroughPgBouncer(t *testing.T) {
	c, name := client(t, bouncerDSN), uniq(t)
	for i := 0; i < 12; i++ {
		l, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := l.Renew(ctx, 0); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, _ := l.Release(ctx); !ok {
			t.Fatal("release")
		}
	}
	l, _ := c.Acquire(ctx, name, Options{TTL: 10 * time.Second})
	time.AfterFunc(300*time.Millisecond, func() { l.Release(ctx) })
	l2, err := c.Acquire(ctx, name, Options{TTL: 10 * time.Second, Wait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l2.Release(ctx)
}

// ---- the four uses, as the examples run them, in processes of their own

func example(t *testing.T, name string, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	if binDir == "" {
		t.Skip("LS_GO_EXAMPLES not set")
	}
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

func next(s *bufio.Scanner) string { s.Scan(); return s.Text() }

func TestExampleLeaderFailover(t *testing.T) {
	name := uniq(t)
	a, ao := example(t, "leader", dsn, name, "node-a", "60")
	defer a.Process.Kill()
	if !strings.HasPrefix(next(ao), "node-a: campaigning") || !strings.HasPrefix(next(ao), "leader node-a") {
		t.Fatal("node-a did not lead")
	}
	b, bo := example(t, "leader", dsn, name, "node-b", "0.5")
	if l := next(bo); l != `node-b: campaigning; leader now: "node-a"` {
		t.Fatal(l)
	}
	a.Process.Kill() // the leader dies without resigning
	killed := time.Now()
	if l := next(bo); !strings.HasPrefix(l, "leader node-b") {
		t.Fatal(l)
	}
	if time.Since(killed) > 15*time.Second {
		t.Fatal("failover took too long")
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	a.Wait()
}

func TestExampleSingleton(t *testing.T) {
	name := uniq(t)
	first, fo := example(t, "singleton", dsn, name, "2")
	if !strings.HasPrefix(next(fo), "running with token") {
		t.Fatal("first did not run")
	}
	second, so := example(t, "singleton", dsn, name, "0")
	if l := next(so); l != "skipped: running elsewhere" {
		t.Fatal(l)
	}
	if l := next(fo); l != "done" {
		t.Fatal(l)
	}
	first.Wait()
	second.Wait()
}

func TestExampleCriticalSection(t *testing.T) {
	name := uniq(t)
	admin(t, "CREATE TABLE IF NOT EXISTS go_counter (n bigint)")
	admin(t, "GRANT SELECT, UPDATE ON go_counter TO PUBLIC")
	admin(t, "TRUNCATE go_counter")
	admin(t, "INSERT INTO go_counter VALUES (0)")
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	for i := 0; i < 3; i++ {
		c, o := example(t, "criticalsection", dsn, name, "25")
		cmds, outs = append(cmds, c), append(outs, o)
	}
	for i := range cmds {
		if l := next(outs[i]); l != "ok" {
			t.Fatal(l)
		}
		cmds[i].Wait()
	}
	if n := adminInt(t, "SELECT n FROM go_counter"); n != 75 {
		t.Fatalf("counter %d, not 75: an update was lost", n)
	}
}

func TestExampleReservation(t *testing.T) {
	name := uniq(t)
	type span struct{ start, end int64 }
	var spans []span
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	for i := 0; i < 3; i++ {
		c, o := example(t, "reservation", dsn, name, "2", "1")
		cmds, outs = append(cmds, c), append(outs, o)
	}
	for i := range cmds {
		var s span
		fmt.Sscanf(next(outs[i]), "start %d", &s.start)
		fmt.Sscanf(next(outs[i]), "end %d", &s.end)
		cmds[i].Wait()
		spans = append(spans, s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	firstEnd := spans[0].end
	if spans[1].end < firstEnd {
		firstEnd = spans[1].end
	}
	if spans[2].start < firstEnd-int64(50*time.Millisecond) {
		t.Fatalf("three holders at once: %v", spans)
	}
}

// standbyNames sets synchronous_standby_names ("" resets it) and waits until
// a new session sees it. A name no standby has makes every commit wait for a
// confirmation that never comes, as when the synchronous standby is cut off.
func standbyNames(t *testing.T, value string) {
	t.Helper()
	if value == "" {
		admin(t, "ALTER SYSTEM RESET synchronous_standby_names")
	} else {
		admin(t, fmt.Sprintf("ALTER SYSTEM SET synchronous_standby_names = '%s'", value))
	}
	admin(t, "SELECT pg_reload_conf()")
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if adminInt(t, "SELECT (current_setting('synchronous_standby_names') = $1)::int", value) == 1 {
			return
		}
	}
	t.Fatal("the reload did not take effect")
}

// cancelSyncRepOnce cancels, once, the first backend of ls_app that waits for
// the synchronous standby (an operator, a pooler): its reply then comes with
// PostgreSQL's WARNING.
func cancelSyncRepOnce(t *testing.T, stop <-chan struct{}) <-chan int64 {
	done := make(chan int64, 1)
	go func() {
		conn, err := pgx.Connect(context.Background(), adminDSN)
		if err != nil {
			done <- 0
			return
		}
		defer conn.Close(context.Background())
		for {
			var n int64
			_ = conn.QueryRow(context.Background(), "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND usename = 'ls_app'").Scan(&n)
			if n > 0 {
				done <- n
				return
			}
			select {
			case <-stop:
				done <- 0
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return done
}

func TestCommitUnconfirmedIsNeverALease(t *testing.T) {
	for _, wait := range []time.Duration{0, time.Second} {
		c, name := client(t, dsn), uniq(t)
		standbyNames(t, "ls_no_such_standby")
		stop := make(chan struct{})
		cancelled := cancelSyncRepOnce(t, stop)
		start := time.Now()
		_, err := c.Acquire(ctx, name, Options{TTL: time.Minute, Wait: wait, Holder: "h-1", NoKeepalive: true, Timeout: 2 * time.Second})
		elapsed := time.Since(start)
		close(stop)
		n := <-cancelled
		local := adminInt(t, "SELECT coalesce(max(token), 0) FROM lockservice.lock_holder($1)", name)
		standbyNames(t, "")
		if !errors.Is(err, ErrCommitUnconfirmed) || !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("wait %v: want ErrCommitUnconfirmed, got %v", wait, err)
		}
		if n == 0 {
			t.Fatalf("wait %v: the wait for the standby was never cancelled", wait)
		}
		if elapsed < 1900*time.Millisecond || elapsed > 3500*time.Millisecond {
			t.Fatalf("wait %v: ended after %v, not at the 2 s deadline", wait, elapsed)
		}
		if local == 0 {
			t.Fatalf("wait %v: no lease committed on the primary", wait)
		}
		l, err := c.Acquire(ctx, name, Options{TTL: time.Minute, Holder: "h-1", NoKeepalive: true})
		if err != nil || l.Token() != local {
			t.Fatalf("wait %v: the same holder after the standby is back: %v %v, want token %d", wait, l, err, local)
		}
		l.Release(ctx)
	}
}

func TestKeepaliveNeverCountsAnUnconfirmedRenewal(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, err := c.Acquire(ctx, name, Options{TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	standbyNames(t, "ls_no_such_standby")
	defer standbyNames(t, "")
	stop := make(chan struct{})
	cancelled := cancelSyncRepOnce(t, stop)
	ok, err := l.Renew(ctx, 0)
	close(stop)
	<-cancelled
	if ok || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("renew: want an unknown outcome, got %v %v", ok, err)
	}
	select {
	case <-l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease was never given up")
	}
	if !errors.Is(l.Err(), ErrLeaseLost) || !strings.Contains(l.Err().Error(), "no renewal confirmed") {
		t.Fatalf("lost: %v", l.Err())
	}
	if time.Now().After(l.Deadline().Add(time.Second)) {
		t.Fatalf("lost after its local deadline")
	}
}

// The README's argument table: the zero-value TTL is the default (30 s),
// fractions of a second are kept, over-long names are the server's 22001.
func TestArgumentRules(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	l, err := c.Acquire(ctx, name, Options{NoKeepalive: true})
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := c.Holders(ctx, name)
	if len(hs) != 1 || hs[0].ExpiresAt.Sub(hs[0].GrantedAt) != 30*time.Second {
		t.Fatalf("zero-value TTL: %+v", hs)
	}
	l.Release(ctx)
	l, err = c.Acquire(ctx, name, Options{TTL: 250 * time.Millisecond, NoKeepalive: true})
	if err != nil {
		t.Fatal(err)
	}
	hs, _ = c.Holders(ctx, name)
	if len(hs) != 1 || hs[0].ExpiresAt.Sub(hs[0].GrantedAt) != 250*time.Millisecond {
		t.Fatalf("TTL 250 ms: %+v", hs)
	}
	l.Release(ctx)
	var e *Error
	if _, err := c.Acquire(ctx, strings.Repeat("n", 257), Options{}); !errors.As(err, &e) || e.SQLState != "22001" {
		t.Fatalf("over-long name: %v", err)
	}
	if _, err := c.Acquire(ctx, name, Options{Holder: strings.Repeat("h", 257)}); !errors.As(err, &e) || e.SQLState != "22001" {
		t.Fatalf("over-long holder: %v", err)
	}
}

// A multi-host conninfo whose first host never answers (an old primary behind
// a partition drops packets), with libpq's keepalive options as the README
// documents them: each host gets connect_timeout of its own, so the client
// reaches the next one; the keepalive options are not sent to the server.
func TestSilentFirstHost(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // handshakes complete, nothing answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	kv := map[string]string{}
	for _, f := range strings.Fields(dsn) {
		p := strings.SplitN(f, "=", 2)
		kv[p[0]] = p[1]
	}
	conninfo := fmt.Sprintf("host=127.0.0.1,%s port=%d,%s dbname=%s user=%s connect_timeout=2 "+
		"keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3 tcp_user_timeout=5000",
		kv["host"], silent.Addr().(*net.TCPAddr).Port, kv["port"], kv["dbname"], kv["user"])
	start := time.Now()
	c, err := New(ctx, conninfo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	name := uniq(t)
	l, err := c.Acquire(ctx, name, Options{TTL: 30 * time.Second, NoKeepalive: true})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("acquire past a silent first host: %v (after %v)", err, took)
	}
	if took < 1500*time.Millisecond || took > 10*time.Second {
		t.Fatalf("took %v: want the first host's 2 s, then the second host", took)
	}
	if ok, err := l.Release(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
}
