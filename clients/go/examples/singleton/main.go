// Singleton job: run it on exactly one machine; the others skip this round.
//
//	singleton DSN NAME SECONDS
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

func main() {
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	ctx := context.Background()
	c, err := lockservice.New(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	err = c.Run(ctx, os.Args[2], lockservice.Options{TTL: 5 * time.Second}, // Wait 0: do not queue up
		func(ctx context.Context, l *lockservice.Lease) error {
			fmt.Printf("running with token %d\n", l.Token())
			select { // the nightly report, say; stops if the lease is lost
			case <-time.After(time.Duration(secs * float64(time.Second))):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	switch {
	case errors.Is(err, lockservice.ErrNotGranted):
		fmt.Println("skipped: running elsewhere")
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	default:
		fmt.Println("done")
	}
}
