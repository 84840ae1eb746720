// Package lockservice is a client for the lockservice PostgreSQL extension:
// leases renewed in the background, a context cancelled when a lease is
// lost, fenced transactions, leader election, shared locks and semaphores.
//
// A lease is lost when a renewal is refused, or when no renewal was
// confirmed by the local deadline: the monotonic time the last confirmed
// call was sent, plus the ttl, minus a margin (ttl/5 by default). The
// server keeps a lease confirmed by a call sent at t until at least t + ttl,
// so the lease is given up before anyone else can be granted it.
package lockservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

// Kind of lease.
type Kind string

const (
	Exclusive Kind = "exclusive"
	Shared    Kind = "shared"
	Permit    Kind = "permit"
)

const (
	retryFirst = 100 * time.Millisecond
	retryMax   = time.Second
	// callMargin: how long an acquire may take beyond its wait by default
	// (connecting, and the commit: a synchronous standby's confirmation)
	callMargin = 5 * time.Second
)

var acquireSQL = map[Kind]string{
	Exclusive: "SELECT lockservice.lock_acquire($1, $2, $3::float8 * interval '1 ms', $4::float8 * interval '1 ms')",
	Shared:    "SELECT lockservice.lock_acquire_shared($1, $2, $3::float8 * interval '1 ms', $4::float8 * interval '1 ms')",
	Permit:    "SELECT lockservice.sem_acquire($1, $2, $5::int, $3::float8 * interval '1 ms', $4::float8 * interval '1 ms')",
}

// Client holds a connection pool to one database with lockservice.
type Client struct {
	pool   *pgxpool.Pool
	margin time.Duration

	// the last server WARNING on each connection while one of our calls runs on it
	warnMu   sync.Mutex
	warnings map[*pgconn.PgConn]string
}

// New connects; connString is a libpq-style string or URL. Statements are
// sent with the simple protocol (no prepared statements), so the client works
// through PgBouncer in transaction pooling mode.
func New(ctx context.Context, connString string) (*Client, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.PreferSimpleProtocol = true
	cfg.ConnConfig.BuildStatementCache = nil
	adaptConfig(cfg)
	c := &Client{warnings: make(map[*pgconn.PgConn]string)}
	cfg.ConnConfig.OnNotice = c.noteWarning
	pool, err := pgxpool.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.pool = pool
	return c, nil
}

// noteWarning records a server WARNING that arrives during one of our calls
// (PostgreSQL's "canceling wait for synchronous replication").
func (c *Client) noteWarning(pc *pgconn.PgConn, n *pgconn.Notice) {
	if n.Severity != "WARNING" {
		return
	}
	c.warnMu.Lock()
	if _, inCall := c.warnings[pc]; inCall {
		c.warnings[pc] = n.Message
	}
	c.warnMu.Unlock()
}

// SetMargin sets how long before ttl a lease without a confirmed renewal counts as lost (default ttl/5).
func (c *Client) SetMargin(margin time.Duration) { c.margin = margin }

// Close closes the pool.
func (c *Client) Close() { c.pool.Close() }

// Options of an acquire.
type Options struct {
	TTL         time.Duration // > 0; the zero value means the default, 30 s
	Wait        time.Duration // how long to wait for the lease; 0 tries once
	WaitForever bool          // wait until granted or ctx is done
	Holder      string        // default: host:pid:random, the same for every retry
	NoKeepalive bool          // renew by hand
	// Timeout bounds the whole call, reconnections and a synchronous
	// standby's confirmation included; past it: ErrOutcomeUnknown. The zero
	// value means Wait + 5 s (no bound with WaitForever).
	Timeout time.Duration
}

func (o *Options) check() error {
	if o.TTL == 0 {
		o.TTL = 30 * time.Second
	}
	if o.TTL < 0 {
		return fmt.Errorf("lockservice: ttl must be > 0, got %v", o.TTL)
	}
	if o.Wait < 0 {
		return fmt.Errorf("lockservice: wait must be >= 0, got %v", o.Wait)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("lockservice: timeout must be > 0, got %v", o.Timeout)
	}
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	return nil
}

func defaultHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

func checkName(name, what string) error {
	if name == "" {
		return fmt.Errorf("lockservice: %s must not be empty", what)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Acquire takes an exclusive lease of name. ErrNotGranted when it was not
// granted within opts.Wait; ctx cancels a wait (nothing is granted).
func (c *Client) Acquire(ctx context.Context, name string, opts Options) (*Lease, error) {
	return c.acquire(ctx, Exclusive, name, 0, opts)
}

// AcquireShared takes a shared lease: any number at once, none beside an exclusive one.
func (c *Client) AcquireShared(ctx context.Context, name string, opts Options) (*Lease, error) {
	return c.acquire(ctx, Shared, name, 0, opts)
}

// AcquirePermit takes one of at most permits leases of name (a semaphore).
func (c *Client) AcquirePermit(ctx context.Context, name string, permits int, opts Options) (*Lease, error) {
	if permits < 1 {
		return nil, fmt.Errorf("lockservice: permits must be >= 1, got %d", permits)
	}
	return c.acquire(ctx, Permit, name, permits, opts)
}

func (c *Client) acquire(ctx context.Context, kind Kind, name string, permits int, opts Options) (*Lease, error) {
	if err := checkName(name, "name"); err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	var token *int64
	sent, err := c.acquireCall(ctx, fmt.Sprintf("acquire of %q", name), opts,
		func(callCtx context.Context, conn *pgxpool.Conn, wait interface{}) error {
			args := []interface{}{name, opts.Holder, ms(opts.TTL), wait}
			if kind == Permit {
				args = append(args, permits)
			}
			return conn.QueryRow(callCtx, acquireSQL[kind], args...).Scan(&token)
		})
	if err != nil {
		return nil, err
	}
	if token == nil {
		return nil, ErrNotGranted
	}
	l := newLease(c, name, opts.Holder, *token, kind, opts.TTL, sent)
	if !opts.NoKeepalive {
		go l.keepalive()
	}
	return l, nil
}

// acquireCall runs an acquire (query, given the wait left: milliseconds, or
// nil to wait forever), retrying while its outcome is unknown: a retry asks
// again as the same holder (or in the same session), which returns the same
// token(s) when the first call got them, never a false success. It returns
// when the successful call was sent.
func (c *Client) acquireCall(ctx context.Context, what string, opts Options,
	query func(callCtx context.Context, conn *pgxpool.Conn, wait interface{}) error) (time.Time, error) {
	start := time.Now()
	var waitUntil time.Time
	if !opts.WaitForever {
		waitUntil = start.Add(opts.Wait)
	}
	// the whole call's deadline (zero: none)
	var deadline time.Time
	switch {
	case opts.Timeout > 0:
		deadline = start.Add(opts.Timeout)
	case !opts.WaitForever:
		deadline = waitUntil.Add(callMargin)
	}
	delay := retryFirst
	sentAny := false
	var unconfirmed error // an attempt's reply came with a WARNING: say so at the end
	for {
		var wait interface{}
		if !opts.WaitForever {
			left := time.Until(waitUntil)
			if left < 0 {
				left = 0
			}
			wait = ms(left)
		}
		sent := time.Now() // carries a monotonic reading
		callCtx, cancelCall := withDeadline(ctx, deadline)
		err := c.call(callCtx, func(conn *pgxpool.Conn) error {
			return query(callCtx, conn, wait)
		}, &sentAny)
		cancelCall()
		if err == nil {
			return sent, nil
		}
		if isServerError(err) {
			return sent, serverError(err)
		}
		if ctx.Err() != nil {
			if sentAny {
				return sent, fmt.Errorf("%w: %s cancelled without a reply (a lease it got ends at its ttl): %v", ErrOutcomeUnknown, what, err)
			}
			return sent, ctx.Err()
		}
		// no reply, or an unconfirmed commit: ask again as the same holder,
		// which returns the same lease if it was granted (never a false
		// success), while the call's time lasts
		if errors.Is(err, ErrCommitUnconfirmed) {
			unconfirmed = err
		}
		if !deadline.IsZero() && time.Now().Add(delay).After(deadline) {
			switch {
			case unconfirmed != nil:
				return sent, fmt.Errorf("%s: %w", what, unconfirmed)
			case !sentAny:
				return sent, err
			}
			return sent, fmt.Errorf("%w: %s: %v", ErrOutcomeUnknown, what, err)
		}
		if !sleep(ctx, delay) {
			continue
		}
		delay = minDuration(2*delay, retryMax)
	}
}

// withDeadline is ctx bounded by deadline (zero: not bounded).
func withDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// call runs fn on a pooled connection; *sent says whether a statement went
// out. A reply that came with a server WARNING is ErrCommitUnconfirmed.
func (c *Client) call(ctx context.Context, fn func(*pgxpool.Conn) error, sent *bool) error {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	*sent = true
	pc := conn.Conn().PgConn()
	c.warnMu.Lock()
	c.warnings[pc] = ""
	c.warnMu.Unlock()
	err = fn(conn)
	c.warnMu.Lock()
	warning := c.warnings[pc]
	delete(c.warnings, pc)
	c.warnMu.Unlock()
	if err == nil && warning != "" {
		err = fmt.Errorf("%w (%s)", ErrCommitUnconfirmed, warning)
	}
	if err != nil && !isServerError(err) {
		// a broken connection must not go back to the pool
		_ = conn.Conn().Close(context.Background())
	}
	conn.Release()
	return err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// Lease is a lease held by this process.
type Lease struct {
	client *Client
	name   string
	holder string
	token  int64
	kind   Kind

	mu            sync.Mutex
	ttl           time.Duration
	confirmedSent time.Time
	released      bool
	lostErr       error
	ctx           context.Context
	cancel        context.CancelFunc
	stop          chan struct{}
	done          chan struct{}

	session   *Session                                                    // the session that keeps it, or nil
	renewFn   func(ctx context.Context, ttlArg interface{}) (bool, error) // a session's own renewal
	lostHooks []func(reason string)                                       // called once it is lost
}

func newLease(c *Client, name, holder string, token int64, kind Kind, ttl time.Duration, sent time.Time) *Lease {
	ctx, cancel := context.WithCancel(context.Background())
	return &Lease{client: c, name: name, holder: holder, token: token, kind: kind, ttl: ttl,
		confirmedSent: sent, ctx: ctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
}

func (l *Lease) Name() string   { return l.name }
func (l *Lease) Holder() string { return l.holder }
func (l *Lease) Token() int64   { return l.token }
func (l *Lease) Kind() Kind     { return l.kind }

// Context is cancelled when the lease is lost or released: run the work under it.
func (l *Lease) Context() context.Context { return l.ctx }

// Lost is closed when the lease is lost or released.
func (l *Lease) Lost() <-chan struct{} { return l.ctx.Done() }

// Err is nil while the lease is held; ErrLeaseLost (wrapped with the reason) once lost.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Deadline is the local time at which the lease counts as lost without a confirmed renewal.
func (l *Lease) Deadline() time.Time {
	if l.session != nil {
		return l.session.Deadline()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadlineLocked()
}

func (l *Lease) margin() time.Duration {
	if l.client.margin > 0 {
		return l.client.margin
	}
	return l.ttl / 5
}

func (l *Lease) deadlineLocked() time.Time { return l.confirmedSent.Add(l.ttl - l.margin()) }

func (l *Lease) confirm(sent time.Time) {
	l.mu.Lock()
	if sent.After(l.confirmedSent) {
		l.confirmedSent = sent
	}
	l.mu.Unlock()
}

func (l *Lease) markLost(reason string) {
	l.mu.Lock()
	if l.released || l.lostErr != nil {
		l.mu.Unlock()
		return
	}
	l.lostErr = fmt.Errorf("%w: %q: %s", ErrLeaseLost, l.name, reason)
	hooks := l.lostHooks
	l.mu.Unlock()
	// a session's leases first: whoever sees the session lost sees them lost too
	for _, hook := range hooks {
		hook(reason)
	}
	l.cancel()
}

func (l *Lease) keepalive() {
	defer close(l.done)
	delay := retryFirst
	l.mu.Lock()
	due := l.confirmedSent.Add(l.ttl / 3)
	l.mu.Unlock()
	for {
		deadline := l.Deadline()
		next := due
		if deadline.Before(next) {
			next = deadline
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if !time.Now().Before(deadline) {
			l.markLost("no renewal confirmed by the local deadline")
			return
		}
		if time.Now().Before(due) {
			continue
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		ok, err := l.renewOnce(ctx, 0)
		cancel()
		switch {
		case err != nil:
			due = time.Now().Add(delay) // unconfirmed: retry, never counted
			delay = minDuration(2*delay, retryMax)
		case ok:
			l.confirm(sent)
			delay = retryFirst
			due = sent.Add(l.ttl / 3)
		default:
			l.markLost("renewal refused: the lease expired, was released or taken over")
			return
		}
	}
}

func (l *Lease) renewOnce(ctx context.Context, ttl time.Duration) (bool, error) {
	var ok bool
	var ttlArg interface{}
	if ttl > 0 {
		ttlArg = ms(ttl)
	}
	if l.renewFn != nil {
		return l.renewFn(ctx, ttlArg)
	}
	sent := false
	err := l.client.call(ctx, func(conn *pgxpool.Conn) error {
		return conn.QueryRow(ctx, "SELECT lockservice.lock_renew($1, $2, $3::float8 * interval '1 ms')",
			l.name, l.token, ttlArg).Scan(&ok)
	}, &sent)
	if err != nil && isServerError(err) {
		return false, serverError(err)
	}
	return ok, err
}

// Renew extends the lease by hand (ttl 0: its own ttl). false: no longer held.
func (l *Lease) Renew(ctx context.Context, ttl time.Duration) (bool, error) {
	if l.session != nil {
		return l.session.Renew(ctx, ttl) // a lock in a session is renewed through it
	}
	if ttl < 0 {
		return false, fmt.Errorf("lockservice: ttl must be >= 0, got %v", ttl)
	}
	sent := time.Now()
	rctx, cancel := context.WithDeadline(ctx, l.Deadline())
	ok, err := l.renewOnce(rctx, ttl)
	cancel()
	if err != nil {
		if isServerErrorValue(err) || errors.Is(err, ErrOutcomeUnknown) {
			return false, err
		}
		return false, fmt.Errorf("%w: renew of %q: %v", ErrOutcomeUnknown, l.name, err)
	}
	if ok {
		l.mu.Lock()
		if ttl > 0 {
			l.ttl = ttl
		}
		l.mu.Unlock()
		l.confirm(sent)
	} else {
		l.markLost("renewal refused: the lease expired, was released or taken over")
	}
	return ok, nil
}

func isServerErrorValue(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Release ends the lease and stops its keepalive; false when it was no longer held.
func (l *Lease) Release(ctx context.Context) (bool, error) {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return false, nil
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	defer l.cancel()
	if l.session != nil {
		l.session.forget(l)
	}
	return l.client.endCall(ctx, l.ttl, fmt.Sprintf("release of %q", l.name),
		"SELECT lockservice.lock_release($1, $2)", l.name, l.token)
}

// endCall runs a call that ends something and answers whether it was
// still there (lock_release, session_close), retrying while its outcome is
// unknown for up to ttl: a retry cannot end anything else.
func (c *Client) endCall(ctx context.Context, ttl time.Duration, what, sql string, args ...interface{}) (bool, error) {
	delay := retryFirst
	until := time.Now().Add(ttl)
	sentAny := false
	for {
		var ok bool
		err := c.call(ctx, func(conn *pgxpool.Conn) error {
			return conn.QueryRow(ctx, sql, args...).Scan(&ok)
		}, &sentAny)
		if err == nil {
			return ok, nil
		}
		if isServerError(err) {
			return false, serverError(err)
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(until) {
			if !sentAny {
				return false, err
			}
			return false, fmt.Errorf("%w: %s: %v", ErrOutcomeUnknown, what, err)
		}
		sleep(ctx, delay)
		delay = minDuration(2*delay, retryMax)
	}
}

// Resign gives up leadership (Release).
func (l *Lease) Resign(ctx context.Context) error { _, err := l.Release(ctx); return err }

// Fence runs fence(resource, token) in tx, the transaction of the protected
// write: it commits only if no higher token reached the resource first
// (errors.Is(err, ErrFenced) otherwise). resource "" is the lease's name.
func (l *Lease) Fence(ctx context.Context, tx pgx.Tx, resource string) error {
	if resource == "" {
		resource = l.name
	}
	_, err := tx.Exec(ctx, "SELECT lockservice.fence($1, $2)", resource, l.token)
	return serverError(err)
}

// Check runs lock_check in tx: true holds the lease until tx ends.
func (l *Lease) Check(ctx context.Context, tx pgx.Tx) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, "SELECT lockservice.lock_check($1, $2)", l.name, l.token).Scan(&ok)
	if err == nil && !ok {
		l.markLost("lock_check: the lease is no longer held")
	}
	return ok, serverError(err)
}

// Run runs fn under an exclusive lease of name; fn's context is cancelled
// when the lease is lost (Run then returns an error wrapping ErrLeaseLost).
func (c *Client) Run(ctx context.Context, name string, opts Options, fn func(ctx context.Context, l *Lease) error) error {
	l, err := c.Acquire(ctx, name, opts)
	if err != nil {
		return err
	}
	defer l.Release(context.Background())
	work, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.Lost():
			cancel()
		case <-work.Done():
		}
	}()
	err = fn(work, l)
	if lost := l.Err(); lost != nil {
		return lost
	}
	return err
}

// Campaign waits (until ctx is done) to become the leader of name.
func (c *Client) Campaign(ctx context.Context, name, holder string, ttl time.Duration) (*Lease, error) {
	if err := checkName(holder, "holder"); err != nil {
		return nil, err
	}
	return c.Acquire(ctx, name, Options{TTL: ttl, WaitForever: true, Holder: holder})
}

// Leader is the holder of name's exclusive lease; ok false when none.
func (c *Client) Leader(ctx context.Context, name string) (holder string, ok bool, err error) {
	holders, err := c.Holders(ctx, name)
	for _, h := range holders {
		if h.Kind == Exclusive {
			return h.Holder, true, nil
		}
	}
	return "", false, err
}

// HolderInfo is a live lease as lock_holder reports it.
type HolderInfo struct {
	Holder    string
	Token     int64
	Kind      Kind
	GrantedAt time.Time
	ExpiresAt time.Time
}

// Holders lists the live leases of name.
func (c *Client) Holders(ctx context.Context, name string) ([]HolderInfo, error) {
	if err := checkName(name, "name"); err != nil {
		return nil, err
	}
	rows, err := c.pool.Query(ctx, "SELECT holder, token, kind, granted_at, expires_at FROM lockservice.lock_holder($1) ORDER BY granted_at, token", name)
	if err != nil {
		return nil, serverError(err)
	}
	defer rows.Close()
	var out []HolderInfo
	for rows.Next() {
		var h HolderInfo
		var kind string
		if err := rows.Scan(&h.Holder, &h.Token, &kind, &h.GrantedAt, &h.ExpiresAt); err != nil {
			return nil, err
		}
		h.Kind = Kind(kind)
		out = append(out, h)
	}
	return out, serverError(rows.Err())
}
