package lockservice

import (
	"errors"
	"fmt"

	"github.com/jackc/pgconn"
)

// Error is an error the server reported, with its SQLSTATE.
type Error struct {
	SQLState string
	Message  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("lockservice: %s (SQLSTATE %s)", e.Message, e.SQLState)
}

// Is matches the sentinel errors by SQLSTATE: errors.Is(err, ErrFenced).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.SQLState == e.SQLState
}

// Sentinels for errors.Is; the errors returned are *Error with a message.
var (
	ErrFenced           = &Error{SQLState: "LS001"} // a higher token was already accepted
	ErrTokenNeverIssued = &Error{SQLState: "LS002"} // the token was never issued
	ErrPrepareRefused   = &Error{SQLState: "LS003"} // PREPARE TRANSACTION after a lockservice call
	ErrKindMismatch     = &Error{SQLState: "LS004"} // the name is held or used as another kind
	ErrSharedToken      = &Error{SQLState: "LS005"} // fence with a shared lease's or a permit's token
	ErrSessionNotOpen   = &Error{SQLState: "LS006"} // an acquire in a session that has ended
	ErrKeptBySession    = &Error{SQLState: "LS007"} // lock_renew of a lock kept by a session
	ErrCancelled        = &Error{SQLState: "57014"} // a wait ended by cancel or statement_timeout
)

var (
	// ErrNotGranted: the lease was not granted within the wait asked for.
	ErrNotGranted = errors.New("lockservice: not granted within the wait")
	// ErrLeaseLost: a renewal was refused, or none was confirmed by the local deadline.
	ErrLeaseLost = errors.New("lockservice: lease lost")
	// ErrOutcomeUnknown: no reply came and retries did not settle it; never a success.
	ErrOutcomeUnknown = errors.New("lockservice: outcome unknown")
	// ErrCommitUnconfirmed: the reply came with a server WARNING, PostgreSQL's
	// "canceling wait for synchronous replication" (committed on the primary
	// only, which a failover can undo). Wraps ErrOutcomeUnknown: never a success.
	ErrCommitUnconfirmed = fmt.Errorf("%w: the server could not confirm the commit", ErrOutcomeUnknown)
)

// serverError turns a *pgconn.PgError into an *Error; other errors are returned as they are.
func serverError(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return &Error{SQLState: pg.Code, Message: pg.Message}
	}
	return err
}

// isServerError: the server answered (the outcome is known).
func isServerError(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code[:2] != "57" // 57P0x: the session was terminated
}
