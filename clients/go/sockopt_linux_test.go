package lockservice

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v4/pgxpool"
)

// TestSocketOptions: tcp_user_timeout and keepalives_count of the conninfo
// are set on the socket, as libpq sets them (a statement sent to a server
// that vanished behind a partition then fails after tcp_user_timeout); a
// conninfo without them leaves the system's defaults.
func TestSocketOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, tc := range []struct {
		conninfo          string
		userTimeout, keep int
	}{
		{"host=127.0.0.1 keepalives_idle=2 keepalives_count=2 tcp_user_timeout=4000", 4000, 2},
		{"host=127.0.0.1", 0, -1},
	} {
		cfg, err := pgxpool.ParseConfig(tc.conninfo)
		if err != nil {
			t.Fatal(err)
		}
		adaptConfig(cfg)
		if _, ok := cfg.ConnConfig.RuntimeParams["tcp_user_timeout"]; ok {
			t.Fatalf("%s: tcp_user_timeout would be sent to the server", tc.conninfo)
		}
		conn, err := cfg.ConnConfig.DialFunc(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := conn.(*startingConn).Conn.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var ut, kc int
		var gerr error
		if err := raw.Control(func(fd uintptr) {
			ut, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
			if gerr == nil {
				kc, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
			}
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		conn.Close()
		if ut != tc.userTimeout || (tc.keep > 0 && kc != tc.keep) {
			t.Fatalf("%s: TCP_USER_TIMEOUT %d, TCP_KEEPCNT %d; want %d, %d", tc.conninfo, ut, kc, tc.userTimeout, tc.keep)
		}
	}
}
