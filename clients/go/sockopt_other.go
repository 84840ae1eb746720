//go:build !linux

package lockservice

import "syscall"

// socketOptions: tcp_user_timeout and keepalives_count are applied on Linux
// only (sockopt_linux.go); elsewhere each call's context bounds it.
type socketOptions struct {
	userTimeoutMs int
	keepCount     int
}

func (o socketOptions) control(network, address string, rc syscall.RawConn) error { return nil }
