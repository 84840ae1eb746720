package lockservice

// Connecting through a libpq conninfo: what pgx does not do the way libpq
// does. libpq's keepalive options are read (pgx would send them to the
// server as settings, which it refuses), and each host of a multi-host
// conninfo gets a connect timeout of its own, as in the C library: pgx
// applies connect_timeout to the whole list, so a first host that never
// answers (an old primary behind a partition) used all of it.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4/pgxpool"
)

// defaultHostTimeout: a host's connect timeout when the conninfo gives none.
const defaultHostTimeout = 10 * time.Second

// libpqOnly: options libpq reads itself; pgx would send them to the server.
var libpqOnly = []string{"keepalives", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "tcp_user_timeout"}

// hostDialer dials each host with a timeout of its own, which also bounds
// the connection's start-up (TLS, authentication) until it is established.
// A host that did not answer in time is passed over for one timeout, so the
// next attempt (pgx tries each host with and without TLS) goes on at once.
type hostDialer struct {
	timeout   time.Duration
	keepAlive time.Duration
	sockopts  socketOptions // tcp_user_timeout, keepalives_count (Linux)

	mu     sync.Mutex
	silent map[string]time.Time // address -> passed over until then
}

func (d *hostDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	until := d.silent[addr]
	d.mu.Unlock()
	if time.Now().Before(until) {
		return nil, fmt.Errorf("lockservice: %s did not answer within %v", addr, d.timeout)
	}
	nd := net.Dialer{Timeout: d.timeout, KeepAlive: d.keepAlive, Control: d.sockopts.control}
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		d.noteTimeout(addr, err)
		return nil, err
	}
	if err := conn.SetDeadline(time.Now().Add(d.timeout)); err != nil {
		conn.Close()
		return nil, err
	}
	return &startingConn{Conn: conn, dialer: d, addr: addr}, nil
}

func (d *hostDialer) noteTimeout(addr string, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		d.mu.Lock()
		d.silent[addr] = time.Now().Add(d.timeout)
		d.mu.Unlock()
	}
}

// startingConn notes a host that times out before the connection is established.
type startingConn struct {
	net.Conn
	dialer      *hostDialer
	addr        string
	mu          sync.Mutex
	established bool
}

func (c *startingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.mu.Lock()
		starting := !c.established
		c.mu.Unlock()
		if starting {
			c.dialer.noteTimeout(c.addr, err)
		}
	}
	return n, err
}

// established: the start-up deadline goes; the connection's own calls set theirs.
func established(ctx context.Context, pc *pgconn.PgConn) error {
	conn := pc.Conn()
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn() // TLS over the dialed connection
	}
	if sc, ok := conn.(*startingConn); ok {
		sc.mu.Lock()
		sc.established = true
		sc.mu.Unlock()
	}
	return pc.Conn().SetDeadline(time.Time{})
}

// adaptConfig applies the above to a parsed pool configuration.
func adaptConfig(cfg *pgxpool.Config) {
	params := cfg.ConnConfig.RuntimeParams
	d := &hostDialer{timeout: cfg.ConnConfig.ConnectTimeout, keepAlive: 5 * time.Minute,
		silent: make(map[string]time.Time)}
	if d.timeout <= 0 {
		d.timeout = defaultHostTimeout
	}
	if s, err := strconv.Atoi(params["keepalives_idle"]); err == nil && s > 0 {
		d.keepAlive = time.Duration(s) * time.Second
	}
	if params["keepalives"] == "0" {
		d.keepAlive = -1
	}
	if ms, err := strconv.Atoi(params["tcp_user_timeout"]); err == nil && ms > 0 {
		d.sockopts.userTimeoutMs = ms
	}
	if n, err := strconv.Atoi(params["keepalives_count"]); err == nil && n > 0 && d.keepAlive > 0 {
		d.sockopts.keepCount = n
	}
	for _, k := range libpqOnly {
		delete(params, k)
	}
	attempts := 1 + len(cfg.ConnConfig.Fallbacks) // each host, with and without TLS
	cfg.ConnConfig.ConnectTimeout = time.Duration(attempts) * d.timeout
	cfg.ConnConfig.DialFunc = d.dial
	cfg.ConnConfig.AfterConnect = established
}
