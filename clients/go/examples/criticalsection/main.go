// Critical section with a fenced write: increment a counter COUNT times
// (table: CREATE TABLE go_counter (n bigint) with one row).
//
//	criticalsection DSN NAME COUNT
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v4"
	lockservice "github.com/lockservice/lockservice-go"
)

func main() {
	dsn, name := os.Args[1], os.Args[2]
	count, _ := strconv.Atoi(os.Args[3])
	ctx := context.Background()
	c, err := lockservice.New(ctx, dsn)
	check(err)
	defer c.Close()
	db, err := pgx.Connect(ctx, dsn)
	check(err)
	defer db.Close(ctx)
	for i := 0; i < count; i++ {
		lease, err := c.Acquire(ctx, name, lockservice.Options{TTL: 5 * time.Second, Wait: 30 * time.Second})
		check(err)
		tx, err := db.Begin(ctx)
		check(err)
		check(lease.Fence(ctx, tx, "")) // fence + write: one transaction
		var n int64
		check(tx.QueryRow(ctx, "SELECT n FROM go_counter").Scan(&n))
		_, err = tx.Exec(ctx, "UPDATE go_counter SET n = $1", n+1)
		check(err)
		check(tx.Commit(ctx))
		_, err = lease.Release(ctx)
		check(err)
	}
	fmt.Println("ok")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
