// The Go package's probe for test/safety/ha-clients.sh.
//
//	probe hold NAME TTL HOLDER STOPFILE
//	probe acquire NAME TTL WAIT TIMEOUT HOLDER GOFILE
//
// The conninfo comes from LS_CONNINFO; times are in seconds. Every line
// printed is "EPOCH EVENT [DETAILS]" (see ha-clients.sh): hold takes NAME
// with the keepalive on and says every 100 ms whether the package counts it
// as held, until it is lost or STOPFILE exists (then releases it); acquire
// makes a client that has used a connection, says "ready", waits for
// GOFILE and makes one acquire call.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	lockservice "github.com/lockservice/lockservice-go"
)

func say(words ...interface{}) {
	now := float64(time.Now().UnixNano()) / 1e9
	fmt.Println(append([]interface{}{fmt.Sprintf("%.6f", now)}, words...)...)
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(2)
	}
	return time.Duration(f * float64(time.Second))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func hold(ctx context.Context, c *lockservice.Client, name string, ttl time.Duration, holder, stopfile string) int {
	l, err := c.Acquire(ctx, name, lockservice.Options{TTL: ttl, Wait: 30 * time.Second, Holder: holder})
	if err != nil {
		say("error", "0", fmt.Sprintf("%T", err), err)
		return 1
	}
	say("granted", l.Token())
	for !exists(stopfile) {
		if l.Err() != nil || !time.Now().Before(l.Deadline()) {
			say("lost", l.Token(), l.Err())
			return 3
		}
		say("held", l.Token())
		time.Sleep(100 * time.Millisecond)
	}
	ok, err := l.Release(ctx)
	if err != nil {
		say("released", "error", err)
	} else {
		say("released", ok)
	}
	return 0
}

func acquire(ctx context.Context, c *lockservice.Client, name string, ttl, wait, timeout time.Duration, holder, gofile string) int {
	if _, err := c.Holders(ctx, name); err != nil {
		say("error", "0", "warm-up", err)
		return 1
	}
	say("ready")
	for !exists(gofile) {
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	l, err := c.Acquire(ctx, name, lockservice.Options{TTL: ttl, Wait: wait, Timeout: timeout,
		Holder: holder, NoKeepalive: true})
	took := fmt.Sprintf("%.3f", time.Since(t0).Seconds())
	switch {
	case err == nil:
		say("granted", took, l.Token())
		return 0
	case errors.Is(err, lockservice.ErrNotGranted):
		say("notgranted", took)
	case errors.Is(err, lockservice.ErrOutcomeUnknown):
		say("unknown", took, err)
	default:
		say("error", took, err)
	}
	return 1
}

func main() {
	ctx := context.Background()
	args := os.Args[1:]
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: probe hold|acquire ...")
		os.Exit(2)
	}
	c, err := lockservice.New(ctx, os.Getenv("LS_CONNINFO"))
	if err != nil {
		say("error", "0", "connect", err)
		os.Exit(1)
	}
	defer c.Close()
	switch {
	case args[0] == "hold" && len(args) == 5:
		os.Exit(hold(ctx, c, args[1], seconds(args[2]), args[3], args[4]))
	case args[0] == "acquire" && len(args) == 7:
		os.Exit(acquire(ctx, c, args[1], seconds(args[2]), seconds(args[3]), seconds(args[4]), args[5], args[6]))
	}
	fmt.Fprintln(os.Stderr, "usage: probe hold|acquire ...")
	os.Exit(2)
}
