package lockservice

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v4/pgxpool"
)

var sessionAcquireSQL = map[Kind]string{
	Exclusive: "SELECT lockservice.lock_acquire($1, $2::bigint, $3::float8 * interval '1 ms')",
	Shared:    "SELECT lockservice.lock_acquire_shared($1, $2::bigint, $3::float8 * interval '1 ms')",
	Permit:    "SELECT lockservice.sem_acquire($1, $2::bigint, $4::int, $3::float8 * interval '1 ms')",
}

// Session is a lock session (lockservice 1.5): one keepalive renews every
// lock acquired in it, however many. When the session is lost (a renewal
// refused, or none confirmed by the local deadline: the monotonic time the
// last confirmed open or renewal was sent, plus the ttl, minus the margin)
// every lease in it is lost at the same moment. Close releases them all.
type Session struct {
	client *Client
	id     int64
	keep   *Lease // the session's own keepalive and local deadline

	mu     sync.Mutex
	leases []*Lease
}

// SessionOptions of OpenSession.
type SessionOptions struct {
	TTL     time.Duration // > 0; the zero value means the default, 30 s
	Holder  string        // default: host:pid:random; every lock in the session has it
	Timeout time.Duration // bounds the open (default: 5 s + TTL)
}

// SessionAcquireOptions of the acquires in a session (the ttl and holder are the session's).
type SessionAcquireOptions struct {
	Wait        time.Duration // how long to wait; 0 tries once
	WaitForever bool          // wait until granted or ctx is done
	Timeout     time.Duration // bounds the whole call (default: Wait + 5 s)
}

// OpenSession opens a lock session, renewed in the background every ttl/3.
func (c *Client) OpenSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	o := Options{TTL: opts.TTL, Holder: opts.Holder, Timeout: opts.Timeout}
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = callMargin + o.TTL
	}
	callCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	sentAny := false
	sent := time.Now()
	var id int64
	err := c.call(callCtx, func(conn *pgxpool.Conn) error {
		return conn.QueryRow(callCtx, "SELECT lockservice.session_open($1, $2::float8 * interval '1 ms')",
			o.Holder, ms(o.TTL)).Scan(&id)
	}, &sentAny)
	if err != nil {
		if isServerError(err) {
			return nil, serverError(err)
		}
		if sentAny {
			// not retried: a session it may have opened ends by itself at its ttl
			return nil, fmt.Errorf("%w: session open: %v", ErrOutcomeUnknown, err)
		}
		return nil, err
	}
	s := &Session{client: c, id: id}
	s.keep = newLease(c, fmt.Sprintf("session %d", id), o.Holder, id, "session", o.TTL, sent)
	s.keep.renewFn = s.renewOnce
	s.keep.lostHooks = []func(string){s.lost}
	go s.keep.keepalive()
	return s, nil
}

func (s *Session) renewOnce(ctx context.Context, ttlArg interface{}) (bool, error) {
	var ok bool
	sent := false
	err := s.client.call(ctx, func(conn *pgxpool.Conn) error {
		return conn.QueryRow(ctx, "SELECT lockservice.session_renew($1, $2::float8 * interval '1 ms')",
			s.id, ttlArg).Scan(&ok)
	}, &sent)
	if err != nil && isServerError(err) {
		return false, serverError(err)
	}
	return ok, err
}

// lost marks every lease in the session lost with it.
func (s *Session) lost(reason string) {
	for _, l := range s.Leases() {
		l.markLost(fmt.Sprintf("session %d lost: %s", s.id, reason))
	}
}

func (s *Session) forget(l *Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.leases {
		if x == l {
			s.leases = append(s.leases[:i], s.leases[i+1:]...)
			return
		}
	}
}

// ID is the server's id of the session.
func (s *Session) ID() int64 { return s.id }

// Holder is the holder of every lock in the session.
func (s *Session) Holder() string { return s.keep.holder }

// Context is cancelled when the session is lost or closed.
func (s *Session) Context() context.Context { return s.keep.ctx }

// Lost is closed when the session is lost or closed.
func (s *Session) Lost() <-chan struct{} { return s.keep.ctx.Done() }

// Err is nil while the session is open; ErrLeaseLost (wrapped) once lost.
func (s *Session) Err() error { return s.keep.Err() }

// Deadline is the local time at which the session (and every lease in it)
// counts as lost without a confirmed renewal.
func (s *Session) Deadline() time.Time { return s.keep.Deadline() }

// Leases are the leases acquired in the session and not released.
func (s *Session) Leases() []*Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Lease(nil), s.leases...)
}

// Renew extends the session, and every lease in it, by hand (ttl 0: its own
// ttl); false: it has ended, and every lease in it is lost.
func (s *Session) Renew(ctx context.Context, ttl time.Duration) (bool, error) {
	return s.keep.Renew(ctx, ttl)
}

func (s *Session) kept(l *Lease) *Lease {
	l.session = s
	s.mu.Lock()
	s.leases = append(s.leases, l)
	s.mu.Unlock()
	if err := s.Err(); err != nil {
		l.markLost(fmt.Sprintf("session %d lost: %v", s.id, err))
	}
	return l
}

func (s *Session) options(opts SessionAcquireOptions) (Options, error) {
	o := Options{TTL: s.keep.ttl, Holder: s.keep.holder, Wait: opts.Wait, WaitForever: opts.WaitForever,
		Timeout: opts.Timeout, NoKeepalive: true}
	return o, o.check()
}

func (s *Session) acquire(ctx context.Context, kind Kind, name string, permits int, opts SessionAcquireOptions) (*Lease, error) {
	if err := checkName(name, "name"); err != nil {
		return nil, err
	}
	o, err := s.options(opts)
	if err != nil {
		return nil, err
	}
	var token *int64
	sent, err := s.client.acquireCall(ctx, fmt.Sprintf("acquire of %q in session %d", name, s.id), o,
		func(callCtx context.Context, conn *pgxpool.Conn, wait interface{}) error {
			args := []interface{}{name, s.id, wait}
			if kind == Permit {
				args = append(args, permits)
			}
			return conn.QueryRow(callCtx, sessionAcquireSQL[kind], args...).Scan(&token)
		})
	if err != nil {
		return nil, err
	}
	if token == nil {
		return nil, ErrNotGranted
	}
	return s.kept(newLease(s.client, name, o.Holder, *token, kind, o.TTL, sent)), nil
}

// Acquire takes an exclusive lease of name kept by the session; ErrNotGranted
// when not granted within the wait, ErrSessionNotOpen once the session ended.
func (s *Session) Acquire(ctx context.Context, name string, opts SessionAcquireOptions) (*Lease, error) {
	return s.acquire(ctx, Exclusive, name, 0, opts)
}

// AcquireShared takes a shared lease of name kept by the session.
func (s *Session) AcquireShared(ctx context.Context, name string, opts SessionAcquireOptions) (*Lease, error) {
	return s.acquire(ctx, Shared, name, 0, opts)
}

// AcquirePermit takes one of at most permits leases of name, kept by the session.
func (s *Session) AcquirePermit(ctx context.Context, name string, permits int, opts SessionAcquireOptions) (*Lease, error) {
	if permits < 1 {
		return nil, fmt.Errorf("lockservice: permits must be >= 1, got %d", permits)
	}
	return s.acquire(ctx, Permit, name, permits, opts)
}

// AcquireAll takes exclusive leases of every name, all or nothing, kept by
// the session: in the order of names, or ErrNotGranted (then none is held).
func (s *Session) AcquireAll(ctx context.Context, names []string, opts SessionAcquireOptions) ([]*Lease, error) {
	if err := checkNames(names); err != nil {
		return nil, err
	}
	o, err := s.options(opts)
	if err != nil {
		return nil, err
	}
	var tokens []int64
	sent, err := s.client.acquireCall(ctx, fmt.Sprintf("acquire of %q in session %d", names, s.id), o,
		func(callCtx context.Context, conn *pgxpool.Conn, wait interface{}) error {
			return conn.QueryRow(callCtx, "SELECT lockservice.lock_acquire_all($1::text[], $2::bigint, $3::float8 * interval '1 ms')",
				names, s.id, wait).Scan(&tokens)
		})
	if err != nil {
		return nil, err
	}
	if tokens == nil {
		return nil, ErrNotGranted
	}
	out := make([]*Lease, len(names))
	for i, name := range names {
		out[i] = s.kept(newLease(s.client, name, o.Holder, tokens[i], Exclusive, o.TTL, sent))
	}
	return out, nil
}

// Close ends the session and releases every lease in it; false when it had
// already ended. Stops the keepalive.
func (s *Session) Close(ctx context.Context) (bool, error) {
	s.mu.Lock()
	leases := s.leases
	s.leases = nil
	s.mu.Unlock()
	for _, l := range leases {
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
		l.cancel()
	}
	k := s.keep
	k.mu.Lock()
	if k.released {
		k.mu.Unlock()
		return false, nil
	}
	k.released = true
	k.mu.Unlock()
	close(k.stop)
	defer k.cancel()
	return s.client.endCall(ctx, k.ttl, "session close", "SELECT lockservice.session_close($1)", s.id)
}

func checkNames(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("lockservice: names must not be empty")
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := checkName(n, "name"); err != nil {
			return err
		}
		if seen[n] {
			return fmt.Errorf("lockservice: name %q is given more than once", n)
		}
		seen[n] = true
	}
	return nil
}

// AcquireAll takes exclusive leases of every name, all or nothing: in the
// order of names, or ErrNotGranted when they were not all granted within the
// wait (then none is held). While it waits it holds none of them, so sets
// that overlap never deadlock. Each lease has its own token and keepalive.
func (c *Client) AcquireAll(ctx context.Context, names []string, opts Options) ([]*Lease, error) {
	if err := checkNames(names); err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	var tokens []int64
	sent, err := c.acquireCall(ctx, fmt.Sprintf("acquire of %q", names), opts,
		func(callCtx context.Context, conn *pgxpool.Conn, wait interface{}) error {
			return conn.QueryRow(callCtx, "SELECT lockservice.lock_acquire_all($1::text[], $2, $3::float8 * interval '1 ms', $4::float8 * interval '1 ms')",
				names, opts.Holder, ms(opts.TTL), wait).Scan(&tokens)
		})
	if err != nil {
		return nil, err
	}
	if tokens == nil {
		return nil, ErrNotGranted
	}
	out := make([]*Lease, len(names))
	for i, name := range names {
		out[i] = newLease(c, name, opts.Holder, tokens[i], Exclusive, opts.TTL, sent)
		if !opts.NoKeepalive {
			go out[i].keepalive()
		}
	}
	return out, nil
}
