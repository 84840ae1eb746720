// The Go sample: built against a copy of the package outside the tree.
// Usage: app CONNINFO NAME
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	lockservice "github.com/lockservice/lockservice-go"
)

func main() {
	ctx := context.Background()
	c, err := lockservice.New(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	lease, err := c.Acquire(ctx, os.Args[2], lockservice.Options{TTL: 15 * time.Second, Wait: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("acquired %s token %d\n", os.Args[2], lease.Token())
	ok, err := lease.Release(ctx)
	fmt.Printf("released %v\n", ok && err == nil)
}
