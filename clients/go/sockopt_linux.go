package lockservice

import "syscall"

// tcpUserTimeout is TCP_USER_TIMEOUT of <linux/tcp.h>; Go's syscall
// package does not name it.
const tcpUserTimeout = 0x12

// socketOptions: what libpq sets on its socket beyond what net.Dialer does.
// tcp_user_timeout ends a connection whose sent data stays unacknowledged
// that long: a statement sent to a server that vanished behind a partition
// fails after it instead of after TCP's retransmissions (many minutes); the
// keepalive count ends an idle one (a long wait) whose server stopped
// answering.
type socketOptions struct {
	userTimeoutMs int
	keepCount     int
}

func (o socketOptions) control(network, address string, rc syscall.RawConn) error {
	if o.userTimeoutMs == 0 && o.keepCount == 0 {
		return nil
	}
	var serr error
	err := rc.Control(func(fd uintptr) {
		if o.userTimeoutMs > 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, o.userTimeoutMs)
		}
		if serr == nil && o.keepCount > 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, o.keepCount)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
