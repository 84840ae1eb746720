// Resource reservation: at most PERMITS holders of a pool at once (a semaphore).
//
//	reservation DSN NAME PERMITS SECONDS
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	lockservice "github.com/lockservice/lockservice-go"
)

func main() {
	permits, _ := strconv.Atoi(os.Args[3])
	secs, _ := strconv.ParseFloat(os.Args[4], 64)
	ctx := context.Background()
	c, err := lockservice.New(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	lease, err := c.AcquirePermit(ctx, os.Args[2], permits, lockservice.Options{TTL: 5 * time.Second, Wait: time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("start %d\n", time.Now().UnixNano())
	time.Sleep(time.Duration(secs * float64(time.Second))) // use one of the PERMITS slots
	fmt.Printf("end %d\n", time.Now().UnixNano())
	_, _ = lease.Release(ctx)
}
