/*-------------------------------------------------------------------------
 *
 * lockservice_client.h
 *	  C client library for lockservice: leases with fencing tokens, over
 *	  libpq.  Used by lockctl; installed for C programs.
 *
 * Link with -llockservice_client -lpq.  Every call is one unnamed
 * statement (PQexecParams-style extended protocol), so the library works
 * through PgBouncer in transaction pooling mode.
 *
 * Time.  All times are milliseconds of ls_now_ms(), a local monotonic clock
 * that also counts time spent in system suspend (CLOCK_BOOTTIME): a lease
 * keeps running on the server while this machine sleeps, so the local
 * estimate of its end must keep running too.  The server's wall clock is
 * never compared with the local one.
 *
 * Outcome of a call that changes a lease.  A call whose reply did not
 * arrive (connection lost mid-call, deadline passed) or whose commit the
 * server could not confirm (a warning such as a cancelled wait for
 * synchronous replication) returns LS_UNCONFIRMED: it may or may not have
 * taken effect.  It is never reported as success.  Acquire is safe to
 * retry with the same holder (the same live lease comes back with the
 * same token); renew is safe to retry as is.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_CLIENT_H
#define LOCKSERVICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C"
{
#endif

#define LS_CLIENT_VERSION_STRING "1.1"

/* wait argument of ls_acquire: wait until granted, however long */
#define LS_WAIT_FOREVER		((int64_t) -1)

/* Outcome of a library call. */
typedef enum LsStatus
{
	LS_OK = 0,					/* done: granted, renewed, released, live */
	LS_NO,						/* acquire: not granted within wait;
								 * renew/release/check: that lease is not
								 * held (server answered false) */
	LS_NOT_CONNECTED,			/* could not connect, or the connection
								 * failed before anything took effect */
	LS_UNCONFIRMED,				/* sent, but no confirmed reply: it may or
								 * may not have taken effect */
	LS_SERVER_ERROR,			/* the server raised an error (see
								 * ls_sqlstate); nothing changed */
	LS_BAD_ARGUMENT				/* refused before sending anything */
} LsStatus;

/* A connection to the lock service; reconnects on demand. */
typedef struct LsClient LsClient;

/*
 * conninfo: any libpq connection string or URI, or a plain database name;
 * NULL or "" uses the PG* environment variables alone.  Unless conninfo or
 * PGTARGETSESSIONATTRS says otherwise, target_session_attrs=read-write is
 * added, so a standby in a multi-host list is skipped.  Does not connect;
 * returns NULL only when out of memory.
 */
extern LsClient *ls_client_new(const char *conninfo);
extern void ls_client_free(LsClient *client);

/*
 * Connects now (no-op when connected).  deadline 0: libpq's connect_timeout,
 * else 10 s.  Calls connect by themselves when needed.
 */
extern LsStatus ls_connect(LsClient *client, int64_t deadline);
/* close the connection; the next call reconnects */
extern void ls_disconnect(LsClient *client);
/* the current connection, or NULL */
extern PGconn *ls_conn(LsClient *client);

/*
 * Calls made from now on give up at this ls_now_ms() time (0: no limit),
 * closing the connection and returning LS_UNCONFIRMED (LS_NOT_CONNECTED
 * when still connecting).
 */
extern void ls_set_deadline(LsClient *client, int64_t deadline);

/*
 * While *flag is non-zero a call blocked in the library gives up at the
 * next signal (EINTR) like at a deadline.  Handlers should be installed
 * without SA_RESTART.  NULL: signals never interrupt calls.
 */
extern void ls_set_interrupt_flag(LsClient *client, volatile int *flag);

/* message of the last failure (never NULL, "" after success) */
extern const char *ls_error(const LsClient *client);
/* SQLSTATE of the last LS_SERVER_ERROR, else "" */
extern const char *ls_sqlstate(const LsClient *client);

/*
 * Lease calls; name and holder are text, ttl and wait in milliseconds.
 * ls_acquire: wait 0 tries once, LS_WAIT_FOREVER waits until granted.
 * *token is set on LS_OK.  *sent_at (may be NULL) gets the ls_now_ms() time
 * from which the lease is known to last ttl: for a waiting acquire the
 * library renews the lease in the granting transaction and reports when
 * that renewal was sent.  A waiting acquire runs in a transaction that the
 * server aborts when the client disappears, so a waiter that dies is never
 * granted a lease.
 */
extern LsStatus ls_acquire(LsClient *client, const char *name,
						   const char *holder, int64_t ttl_ms,
						   int64_t wait_ms, int64_t *token,
						   int64_t *sent_at);
/* ttl_ms 0: the lease's own ttl */
extern LsStatus ls_renew(LsClient *client, const char *name, int64_t token,
						 int64_t ttl_ms);
extern LsStatus ls_release(LsClient *client, const char *name,
						   int64_t token);
extern LsStatus ls_check(LsClient *client, const char *name, int64_t token);

/*
 * Sessions (lockservice 1.5).  A session keeps any number of locks with one
 * renewal: locks acquired in it have no ttl of their own and end with it,
 * when it is closed or expires.  Each lock still gets its own fencing token
 * and is released on its own with ls_release.
 *
 * ls_session_open: *session gets the new session's id, *sent_at (may be
 * NULL) the ls_now_ms() time from which it is known to last ttl_ms.  It is
 * not retried after LS_UNCONFIRMED: a session opened without the reply
 * arriving has no locks and ends at its ttl.
 * ls_session_renew (ttl_ms 0: the session's own ttl) and ls_session_close
 * (which releases every lock in it) return LS_NO when the session has
 * already ended; both are safe to retry.
 */
extern LsStatus ls_session_open(LsClient *client, const char *holder,
								int64_t ttl_ms, int64_t *session,
								int64_t *sent_at);
extern LsStatus ls_session_renew(LsClient *client, int64_t session,
								 int64_t ttl_ms);
extern LsStatus ls_session_close(LsClient *client, int64_t session);

/*
 * An exclusive lock of name kept by session; wait as for ls_acquire.  A
 * retry in the same session gets the same token back.  A session that has
 * ended is LS_SERVER_ERROR with SQLSTATE LS006.
 */
extern LsStatus ls_acquire_in_session(LsClient *client, const char *name,
									  int64_t session, int64_t wait_ms,
									  int64_t *token);

/*
 * Exclusive locks of all of names[0 .. nnames-1] or of none: LS_OK with
 * tokens[i] the token of names[i], or LS_NO when they were not all granted
 * within wait_ms (then none is held).  While waiting none is held, so
 * callers with overlapping sets never deadlock.  ls_acquire_all gives each
 * name a lease of its own (holder, ttl_ms; *sent_at as for ls_acquire);
 * ls_acquire_all_in_session attaches them to a session.
 */
extern LsStatus ls_acquire_all(LsClient *client, const char *const *names,
							   int nnames, const char *holder,
							   int64_t ttl_ms, int64_t wait_ms,
							   int64_t *tokens, int64_t *sent_at);
extern LsStatus ls_acquire_all_in_session(LsClient *client,
										  const char *const *names,
										  int nnames, int64_t session,
										  int64_t wait_ms, int64_t *tokens);

/* Time and values */

/* milliseconds of the local monotonic clock (CLOCK_BOOTTIME) */
extern int64_t ls_now_ms(void);

/*
 * Parses a duration: a sequence of <number><unit>, unit one of ms, s, m, h
 * (e.g. 500ms, 30s, 5m, 1h, 1m30s, 1.5s); a bare number means seconds.
 * Returns 0 and sets *ms, or -1 for anything else (negative, empty,
 * unknown unit, over 100 days).
 */
extern int	ls_parse_duration(const char *text, int64_t *ms);
/* "1.5s", "2m30s", "500ms" */
extern void ls_format_duration(int64_t ms, char *buf, size_t size);

/* a holder id unique to this process: host:pid:random (malloc'd) */
extern char *ls_default_holder(void);

/* Keepalive: keeps a lease or a session alive with renewals */

typedef struct LsKeepalive LsKeepalive;

typedef enum LsLeaseState
{
	LS_LEASE_HELD,
	LS_LEASE_LOST
} LsLeaseState;

typedef enum LsLostReason
{
	LS_LOST_NOT_LOST,
	LS_LOST_NOT_HELD,			/* a renewal answered false: the lease (or
								 * session) ended */
	LS_LOST_UNCONFIRMED			/* no renewal confirmed before the lease's
								 * local deadline minus the safety margin */
} LsLostReason;

/*
 * The lease (name, token, ttl_ms) was last confirmed by a call sent at
 * confirmed_at (ls_now_ms()), so it lasts at least until confirmed_at +
 * ttl_ms.  Renewals are due every interval (default ttl/3); the lease is
 * declared lost at that deadline minus the margin (default ttl/5) unless a
 * renewal sent earlier was confirmed.
 */
extern LsKeepalive *ls_keepalive_new(LsClient *client, const char *name,
									 int64_t token, int64_t ttl_ms,
									 int64_t confirmed_at);
/* the same for a session: it and every lock in it are held or lost */
extern LsKeepalive *ls_keepalive_new_session(LsClient *client,
											 int64_t session, int64_t ttl_ms,
											 int64_t confirmed_at);
extern void ls_keepalive_free(LsKeepalive *keepalive);
extern void ls_keepalive_set_interval(LsKeepalive *keepalive, int64_t ms);
extern void ls_keepalive_set_margin(LsKeepalive *keepalive, int64_t ms);

/* optional: called with one line of progress for each renewal attempt */
typedef void (*LsLogFunc) (void *arg, const char *message);
extern void ls_keepalive_set_log(LsKeepalive *keepalive, LsLogFunc log,
								 void *arg);

/*
 * Renews when a renewal is due and returns the lease's state.  Blocks at
 * most until the time the lease would be declared lost.  Failed renewals
 * are retried with reconnection and backoff (100 ms doubling to 1 s) until
 * then.  Call it again at ls_keepalive_due().
 */
extern LsLeaseState ls_keepalive_step(LsKeepalive *keepalive);
/* ls_now_ms() time when ls_keepalive_step is next due */
extern int64_t ls_keepalive_due(const LsKeepalive *keepalive);
/* the lease lasts at least until this time (ls_now_ms()) */
extern int64_t ls_keepalive_deadline(const LsKeepalive *keepalive);
/* deadline minus margin: declared lost then without a confirmed renewal */
extern int64_t ls_keepalive_lost_at(const LsKeepalive *keepalive);
extern LsLostReason ls_keepalive_reason(const LsKeepalive *keepalive);

/*
 * While a call of client waits for the server (such as a waiting acquire in
 * a session), keepalive is stepped whenever it is due, so the session lives
 * on through the wait.  It must renew through a client (connection) of its
 * own.  When it is lost the call gives up: a waiting acquire then returns
 * LS_NOT_CONNECTED (nothing granted) with ls_error saying so.  NULL: none.
 */
extern void ls_set_wait_keepalive(LsClient *client, LsKeepalive *keepalive);

#ifdef __cplusplus
}
#endif

#endif							/* LOCKSERVICE_CLIENT_H */
