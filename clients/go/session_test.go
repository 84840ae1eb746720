package lockservice

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
)

func TestSessionKeepsManyLocks(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	s, err := c.OpenSession(ctx, SessionOptions{TTL: 1500 * time.Millisecond})
	if err != nil || s.ID() <= 0 {
		t.Fatal(s, err)
	}
	x, err := s.Acquire(ctx, name+"-x", SessionAcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.AcquireShared(ctx, name+"-sh", SessionAcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AcquirePermit(ctx, name+"-p", 2, SessionAcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	both, err := s.AcquireAll(ctx, []string{name + "-b", name + "-a"}, SessionAcquireOptions{})
	if err != nil || len(both) != 2 || both[0].Name() != name+"-b" {
		t.Fatal(both, err)
	}
	if len(s.Leases()) != 5 || x.Holder() != s.Holder() {
		t.Fatal("5 leases in the session, with its holder")
	}
	again, err := s.Acquire(ctx, name+"-x", SessionAcquireOptions{})
	if err != nil || again.Token() != x.Token() {
		t.Fatal("a re-acquire in the session is the same lease", err)
	}
	again.Release(ctx) // the same lease: released on the server; x stays registered
	x2, _ := s.Acquire(ctx, name+"-x", SessionAcquireOptions{})
	// three ttls later every lock is still held: the session's keepalive
	time.Sleep(4500 * time.Millisecond)
	for _, l := range []*Lease{x2, sh, p, both[0], both[1]} {
		if l.Err() != nil || adminInt(t, "SELECT count(*) FROM lockservice.leases_live WHERE name = $1 AND token = $2 AND session = $3",
			l.Name(), l.Token(), s.ID()) != 1 {
			t.Fatalf("%s not held in the session after 3 ttls: %v", l.Name(), l.Err())
		}
	}
	if ok, err := x2.Renew(ctx, 0); !ok || err != nil {
		t.Fatal("a lock in a session is renewed through it", err)
	}
	if ok, _ := x2.Release(ctx); !ok {
		t.Fatal("release of one lock")
	}
	if adminInt(t, "SELECT count(*) FROM lockservice.leases_live WHERE session = $1", s.ID()) != 4 {
		t.Fatal("releasing one leaves the others")
	}
	if ok, err := s.Close(ctx); !ok || err != nil {
		t.Fatal("close", err)
	}
	if adminInt(t, "SELECT count(*) FROM lockservice.leases_live WHERE session = $1", s.ID()) != 0 {
		t.Fatal("close releases every lock")
	}
	if _, err := s.Acquire(ctx, name+"-late", SessionAcquireOptions{}); !errors.Is(err, ErrSessionNotOpen) {
		t.Fatal("an acquire in a closed session:", err)
	}
}

func TestAcquireAllOrNothing(t *testing.T) {
	c, other, name := client(t, dsn), client(t, dsn), uniq(t)
	ls, err := c.AcquireAll(ctx, []string{name + "-1", name + "-2"}, Options{TTL: 10 * time.Second})
	if err != nil || len(ls) != 2 {
		t.Fatal(err)
	}
	if _, err := other.AcquireAll(ctx, []string{name + "-0", name + "-2"}, Options{Wait: 300 * time.Millisecond}); !errors.Is(err, ErrNotGranted) {
		t.Fatal("one name held: not granted", err)
	}
	if adminInt(t, "SELECT count(*) FROM lockservice.leases_live WHERE name = $1", name+"-0") != 0 {
		t.Fatal("the free name is not held by the failed set")
	}
	ls[1].Release(ctx)
	got, err := other.AcquireAll(ctx, []string{name + "-0", name + "-2"}, Options{Wait: 5 * time.Second})
	if err != nil || got[1].Token() <= ls[1].Token() {
		t.Fatal(err)
	}
	for _, l := range append(got, ls[0]) {
		l.Release(ctx)
	}
	if _, err := c.AcquireAll(ctx, []string{name, name}, Options{}); err == nil {
		t.Fatal("repeated names are refused")
	}
}

// childSession: LS_GO_CHILD=session, for TestPausedSessionHolder. Opens a
// session (ttl 2 s), takes LS_GO_NAME-0..2 in it, prints the session's
// deadline every 20 ms until it is lost, then tries a fenced write under
// each lock.
func childSession() {
	c, err := New(ctx, os.Getenv("LS_DSN"))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	name := os.Getenv("LS_GO_NAME")
	s, err := c.OpenSession(ctx, SessionOptions{TTL: 2 * time.Second})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ls, err := s.AcquireAll(ctx, []string{name + "-0", name + "-1", name + "-2"}, SessionAcquireOptions{Wait: 10 * time.Second})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("tokens %d %d %d\n", ls[0].Token(), ls[1].Token(), ls[2].Token())
	for {
		select {
		case <-s.Lost():
			lost := 0
			for _, l := range ls {
				if errors.Is(l.Err(), ErrLeaseLost) {
					lost++
				}
			}
			fmt.Printf("lost %d leases %d\n", time.Now().UnixNano(), lost)
			db, _ := pgx.Connect(ctx, os.Getenv("LS_DSN"))
			for _, l := range ls {
				tx, _ := db.Begin(ctx)
				if err := l.Fence(ctx, tx, l.Name()); errors.Is(err, ErrFenced) {
					fmt.Println("write refused LS001", l.Name())
				} else {
					fmt.Println("write allowed", l.Name(), err)
				}
				tx.Rollback(ctx)
			}
			os.Exit(0)
		case <-time.After(20 * time.Millisecond):
			fmt.Printf("deadline %d now %d\n", s.Deadline().UnixNano(), time.Now().UnixNano())
		}
	}
}

func TestPausedSessionHolder(t *testing.T) {
	c, name := client(t, dsn), uniq(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LS_GO_CHILD=session", "LS_GO_NAME="+name)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	lines.Scan()
	var tok [3]int64
	if n, _ := fmt.Sscanf(lines.Text(), "tokens %d %d %d", &tok[0], &tok[1], &tok[2]); n != 3 {
		t.Fatal(lines.Text())
	}
	lines.Scan() // one deadline line: the keepalive is running
	var lastDeadline, now0 int64
	fmt.Sscanf(lines.Text(), "deadline %d now %d", &lastDeadline, &now0)
	cmd.Process.Signal(syscall.SIGSTOP)
	stoppedAt := time.Now().UnixNano()
	ls, err := c.AcquireAll(ctx, []string{name + "-0", name + "-1", name + "-2"}, Options{TTL: 10 * time.Second, Wait: 20 * time.Second})
	grantedAt := time.Now().UnixNano()
	if err != nil {
		t.Fatal(err)
	}
	db, _ := pgx.Connect(ctx, dsn)
	defer db.Close(ctx)
	for i, l := range ls {
		if l.Token() <= tok[i] {
			t.Fatalf("%s: token %d after the paused session's %d", l.Name(), l.Token(), tok[i])
		}
		tx, _ := db.Begin(ctx)
		if err := l.Fence(ctx, tx, l.Name()); err != nil {
			t.Fatal(err)
		}
		tx.Commit(ctx)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	refused, lostAll := 0, false
	for lines.Scan() {
		var d, now int64
		if n, _ := fmt.Sscanf(lines.Text(), "deadline %d now %d", &d, &now); n == 2 && now < stoppedAt && d > lastDeadline {
			lastDeadline = d
		}
		var at, k int64
		if n, _ := fmt.Sscanf(lines.Text(), "lost %d leases %d", &at, &k); n == 2 && k == 3 {
			lostAll = true
		}
		if strings.HasPrefix(lines.Text(), "write refused LS001") {
			refused++
		}
	}
	cmd.Wait()
	if lastDeadline == 0 || lastDeadline >= grantedAt {
		t.Fatalf("the paused session's deadline %d is not before the other grant %d", lastDeadline, grantedAt)
	}
	if !lostAll {
		t.Fatal("the session's three leases were not all lost with it")
	}
	if refused != 3 {
		t.Fatalf("%d of the paused session's 3 late writes were refused", refused)
	}
	for _, l := range ls {
		l.Release(ctx)
	}
}
