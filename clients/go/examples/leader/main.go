// Leader election: campaign, lead until SECONDS pass or leadership is lost, resign.
//
//	leader DSN NAME NODE SECONDS
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
	dsn, name, node := os.Args[1], os.Args[2], os.Args[3]
	secs, _ := strconv.ParseFloat(os.Args[4], 64)
	ctx := context.Background()
	c, err := lockservice.New(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	current, _, _ := c.Leader(ctx, name)
	fmt.Printf("%s: campaigning; leader now: %q\n", node, current)
	lease, err := c.Campaign(ctx, name, node, 2*time.Second) // waits until elected
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("leader %s token %d\n", node, lease.Token())
	select {
	case <-time.After(time.Duration(secs * float64(time.Second))): // lead: serve, schedule, ...
	case <-lease.Lost():
		fmt.Printf("%s: lost leadership: %v\n", node, lease.Err())
	}
	_ = lease.Resign(ctx)
}
