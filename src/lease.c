/*-------------------------------------------------------------------------
 *
 * lease.c
 *	  The SQL-callable lease functions: lock_acquire, lock_renew,
 *	  lock_release and lock_check.
 *
 * A lock name has one row in lockservice.leases (slot 0), kept after the
 * lease ends so that the next grant is a HOT update.  Row locks say who
 * may change it, in PostgreSQL's four row-lock strengths:
 *
 *	 takeover (acquire of a free or expired name), release	FOR UPDATE
 *	 renew, and re-acquire by the same holder				FOR NO KEY UPDATE
 *	 lock_check												FOR KEY SHARE
 *
 * FOR KEY SHARE conflicts only with FOR UPDATE, so a lock_check holds off
 * release, takeover and (later) reaping until its transaction ends while
 * the holder's renewals still go through.
 *
 * Acquire never waits on a row lock: when the row is busy it sleeps in
 * wait.c, holding nothing, and reads the row again when woken.  Renew,
 * release and check act on the caller's own lease and wait for the
 * (short) transactions that touch it, as any row lock waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "common/int.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "events.h"
#include "lockservice.h"
#include "stats.h"
#include "store.h"
#include "token.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(lock_acquire);
PG_FUNCTION_INFO_V1(lock_renew);
PG_FUNCTION_INFO_V1(lock_release);
PG_FUNCTION_INFO_V1(lock_check);

/* How long the reaper keeps the row of a released lease. */
#define REAP_RELEASED_AFTER_USECS	(60 * USECS_PER_SEC)

/* How long a waiter sleeps at most when a row is busy and nobody wakes it. */
#define BUSY_RECHECK_USECS		(1000 * 1000)

/* A lease row as read from lockservice.leases. */
typedef struct Lease
{
	text	   *holder;
	Oid			owner;
	int64		token;
	Interval   *ttl;
	TimestampTz expires_at;
	bool		released;
} Lease;

/* What one attempt to acquire came to. */
typedef enum AcquireOutcome
{
	ACQUIRE_GRANTED,
	ACQUIRE_HELD,				/* a live lease of someone else */
	ACQUIRE_BUSY				/* an open transaction is changing the row */
} AcquireOutcome;

/* Primary key of the row of a lock name. */
static void
LeaseKey(ScanKeyData *keys, text *name)
{
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(name));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(0));
}

/* Decode the row last read or locked. */
static void
LeaseFromRow(StoreTable *t, Lease *lease)
{
	TupleTableSlot *row = t->row;
	bool		isnull;

	lease->holder = DatumGetTextPP(slot_getattr(row, Anum_leases_holder, &isnull));
	lease->owner = DatumGetObjectId(slot_getattr(row, Anum_leases_owner, &isnull));
	lease->token = DatumGetInt64(slot_getattr(row, Anum_leases_token, &isnull));
	lease->ttl = DatumGetIntervalP(slot_getattr(row, Anum_leases_ttl, &isnull));
	lease->expires_at = DatumGetTimestampTz(slot_getattr(row, Anum_leases_expires_at, &isnull));
	(void) slot_getattr(row, Anum_leases_released_at, &lease->released);
	lease->released = !lease->released;
}

static bool
LeaseIsLive(const Lease *lease, TimestampTz now)
{
	return !lease->released && lease->expires_at > now;
}

static bool
TextEqual(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* now + usecs, saturating at "infinity" */
static TimestampTz
TimestampPlus(TimestampTz now, int64 usecs)
{
	TimestampTz result;

	if (usecs < 0 || pg_add_s64_overflow(now, usecs, &result) ||
		result >= DT_NOEND)
		return DT_NOEND;
	return result;
}

/*
 * Insert the row of a lock name that has none, in the released state;
 * false when another transaction is inserting it.
 */
static bool
LeaseInsertFree(StoreTable *t, text *name)
{
	bool	   *nulls;
	Datum	   *values = StoreNewRow(t, &nulls);
	TimestampTz now = GetCurrentTimestamp();
	Interval   *zero = palloc0(sizeof(Interval));

	values[Anum_leases_name - 1] = PointerGetDatum(name);
	values[Anum_leases_slot - 1] = Int32GetDatum(0);
	values[Anum_leases_kind - 1] = CharGetDatum(LEASE_KIND_EXCLUSIVE);
	values[Anum_leases_holder - 1] = CStringGetTextDatum("");
	values[Anum_leases_owner - 1] = ObjectIdGetDatum(InvalidOid);
	values[Anum_leases_token - 1] = Int64GetDatum(0);
	values[Anum_leases_ttl - 1] = IntervalPGetDatum(zero);
	values[Anum_leases_granted_at - 1] = TimestampTzGetDatum(now);
	values[Anum_leases_expires_at - 1] = TimestampTzGetDatum(now);
	values[Anum_leases_released_at - 1] = TimestampTzGetDatum(now);
	for (int i = 0; i < Natts_leases; i++)
		nulls[i] = false;
	return StoreInsert(t);
}

/* Write the locked row back as a lease expiring at expires_at. */
static void
LeaseWrite(StoreTable *t, text *holder, int64 token, Interval *ttl,
		   TimestampTz granted_at, TimestampTz expires_at)
{
	bool	   *nulls;
	Datum	   *values = StoreNewRow(t, &nulls);

	if (holder != NULL)
	{
		values[Anum_leases_holder - 1] = PointerGetDatum(holder);
		values[Anum_leases_owner - 1] = ObjectIdGetDatum(GetUserId());
		values[Anum_leases_token - 1] = Int64GetDatum(token);
		values[Anum_leases_granted_at - 1] = TimestampTzGetDatum(granted_at);
	}
	values[Anum_leases_ttl - 1] = IntervalPGetDatum(ttl);
	values[Anum_leases_expires_at - 1] = TimestampTzGetDatum(expires_at);
	nulls[Anum_leases_released_at - 1] = true;
	StoreUpdate(t);
}

/*
 * Count and note a new grant of name; previous is the lease it replaces
 * (released, or expired: a takeover).
 */
static void
NoteGrant(text *name, text *holder, int64 token, const Lease *previous)
{
	const char *name_data = VARDATA_ANY(name);
	int			name_len = VARSIZE_ANY_EXHDR(name);

	if (previous->released)
	{
		EventNote(LEASE_EVENT_ACQUIRED, name_data, name_len,
				  VARDATA_ANY(holder), VARSIZE_ANY_EXHDR(holder), token,
				  NULL, 0, 0);
		return;
	}
	StatsCount(STATS_TAKEOVERS);
	EventNote(LEASE_EVENT_EXPIRED, name_data, name_len,
			  VARDATA_ANY(previous->holder), VARSIZE_ANY_EXHDR(previous->holder),
			  previous->token, NULL, 0, 0);
	EventNote(LEASE_EVENT_TAKEN_OVER, name_data, name_len,
			  VARDATA_ANY(holder), VARSIZE_ANY_EXHDR(holder), token,
			  VARDATA_ANY(previous->holder), VARSIZE_ANY_EXHDR(previous->holder),
			  previous->token);
}

/*
 * One attempt to acquire name.  On ACQUIRE_HELD, *retry_at is when the
 * lease in the way expires.
 */
static AcquireOutcome
TryAcquire(text *name, text *holder, Interval *ttl, int64 ttl_usecs,
		   int64 *token, TimestampTz *retry_at)
{
	StoreTable	t;
	ScanKeyData keys[2];
	AcquireOutcome outcome = ACQUIRE_BUSY;

	StoreOpen(&t, LEASES_TABLE, LEASES_PKEY, Natts_leases);
	LeaseKey(keys, name);
	for (;;)
	{
		Lease		lease;
		TimestampTz now;
		StoreLockResult lock;
		StoreReadResult found = StoreRead(&t, keys);

		if (found == STORE_BUSY)
		{
			outcome = ACQUIRE_BUSY;
			break;
		}
		if (found == STORE_ABSENT)
		{
			if (!LeaseInsertFree(&t, name))
			{
				outcome = ACQUIRE_BUSY;
				break;
			}
			continue;
		}

		LeaseFromRow(&t, &lease);
		now = GetCurrentTimestamp();
		if (LeaseIsLive(&lease, now))
		{
			if (lease.owner != GetUserId() || !TextEqual(lease.holder, holder))
			{
				*retry_at = lease.expires_at;
				outcome = ACQUIRE_HELD;
				break;
			}
			/* the holder again (a retry after a lost reply): extend it */
			lock = StoreLock(&t, LockTupleNoKeyExclusive, false);
			if (lock == STORE_CHANGED)
				continue;
			if (lock == STORE_WOULD_BLOCK)
			{
				outcome = ACQUIRE_BUSY;
				break;
			}
			now = GetCurrentTimestamp();
			if (!LeaseIsLive(&lease, now))
				continue;		/* expired while we waited: take it anew */
			LeaseWrite(&t, NULL, 0, ttl, 0, TimestampPlus(now, ttl_usecs));
			*token = lease.token;
			outcome = ACQUIRE_GRANTED;
			break;
		}

		/* free or expired: take it over */
		switch (StoreLock(&t, LockTupleExclusive, false))
		{
			case STORE_CHANGED:
				continue;
			case STORE_WOULD_BLOCK:
				outcome = ACQUIRE_BUSY;
				break;
			case STORE_LOCKED:
				*token = NextFencingToken();
				NoteGrant(name, holder, *token, &lease);
				now = GetCurrentTimestamp();
				LeaseWrite(&t, holder, *token, ttl, now,
						   TimestampPlus(now, ttl_usecs));
				outcome = ACQUIRE_GRANTED;
				break;
		}
		break;
	}
	StoreClose(&t);
	return outcome;
}

/*
 * SQL: lockservice.lock_acquire(name, holder, ttl, wait) returns the
 * lease's fencing token, or NULL when it was not granted within wait.
 */
Datum
lock_acquire(PG_FUNCTION_ARGS)
{
	text	   *name = InputName(fcinfo, 0, "name");
	text	   *holder = InputHolder(fcinfo, 1);
	int64		ttl_usecs = InputTtl(fcinfo, 2, false);
	int64		wait_usecs = InputWait(fcinfo, 3);
	Interval   *ttl = PG_GETARG_INTERVAL_P(2);
	TimestampTz deadline;
	MemoryContext attempt_context;
	MemoryContext old_context;
	LockWait	wait;
	bool		waiting = false;
	bool		granted = false;
	int64		token = 0;

	CheckWritable("lockservice.lock_acquire()");
	deadline = TimestampPlus(GetCurrentTimestamp(), wait_usecs);
	WaitWakeAtTransactionEnd(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));

	/* each attempt's allocations go when it is over: waits can be long */
	attempt_context = AllocSetContextCreate(CurrentMemoryContext,
											"lockservice acquire attempt",
											ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		TimestampTz retry_at = 0;
		AcquireOutcome outcome;
		TimestampTz now;

		old_context = MemoryContextSwitchTo(attempt_context);
		outcome = TryAcquire(name, holder, ttl, ttl_usecs, &token, &retry_at);
		MemoryContextSwitchTo(old_context);
		MemoryContextReset(attempt_context);

		if (outcome == ACQUIRE_GRANTED)
		{
			granted = true;
			break;
		}
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		if (!waiting)
		{
			/* from here on no wake-up is missed: try once more, then sleep */
			WaitBegin(&wait, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
			StatsWaiting(true);
			waiting = true;
			continue;
		}
		if (outcome == ACQUIRE_BUSY)
			retry_at = TimestampPlus(now, BUSY_RECHECK_USECS);
		WaitSleep(&wait, Min(deadline, retry_at));
	}
	if (waiting)
	{
		WaitEnd(&wait);
		StatsWaiting(false);
	}
	MemoryContextDelete(attempt_context);

	if (!granted)
	{
		StatsCount(STATS_ACQUIRE_TIMEOUTS);
		PG_RETURN_NULL();
	}
	StatsCount(STATS_ACQUIRES);
	if (waiting)
		StatsCount(STATS_ACQUIRES_WAITED);
	PG_RETURN_INT64(token);
}

/*
 * Find the live lease of name under token owned by the current role and
 * lock its row in mode.  Returns false, with nothing locked, when there is
 * no such lease.  Waits for transactions changing that lease.
 */
static bool
LockOwnLease(StoreTable *t, text *name, int64 token, LockTupleMode mode,
			 Lease *lease)
{
	ScanKeyData keys[2];

	LeaseKey(keys, name);
	for (;;)
	{
		StoreReadResult found = StoreRead(t, keys);

		if (found == STORE_ABSENT)
			return false;

		/* a busy row still shows the last committed state of the lease */
		LeaseFromRow(t, lease);
		if (lease->token != token || lease->owner != GetUserId() ||
			!LeaseIsLive(lease, GetCurrentTimestamp()))
			return false;
		if (found == STORE_BUSY)
		{
			StoreWaitBusy(t);
			continue;
		}
		if (StoreLock(t, mode, true) != STORE_LOCKED)
			continue;
		/* the row is as read, but time went on while we waited */
		return LeaseIsLive(lease, GetCurrentTimestamp());
	}
}

/* Common start of renew, release and check: arguments and bookkeeping. */
static void
OwnLeaseCallStart(FunctionCallInfo fcinfo, const char *funcname,
				  text **name, int64 *token)
{
	*name = InputName(fcinfo, 0, "name");
	*token = InputToken(fcinfo, 1);
	CheckWritable(funcname);
	WaitWakeAtTransactionEnd(VARDATA_ANY(*name), VARSIZE_ANY_EXHDR(*name));
}

/*
 * SQL: lockservice.lock_renew(name, token, ttl) extends a live lease to
 * now + ttl (NULL: the lease's own ttl); false when it is no longer held.
 */
Datum
lock_renew(PG_FUNCTION_ARGS)
{
	text	   *name;
	int64		token;
	int64		ttl_usecs = InputTtl(fcinfo, 2, true);
	StoreTable	t;
	Lease		lease;
	bool		renewed = false;

	OwnLeaseCallStart(fcinfo, "lockservice.lock_renew()", &name, &token);
	StoreOpen(&t, LEASES_TABLE, LEASES_PKEY, Natts_leases);
	if (LockOwnLease(&t, name, token, LockTupleNoKeyExclusive, &lease))
	{
		Interval   *ttl = PG_ARGISNULL(2) ? lease.ttl : PG_GETARG_INTERVAL_P(2);

		if (ttl_usecs < 0)
			ttl_usecs = IntervalToMicroseconds(ttl);
		LeaseWrite(&t, NULL, 0, ttl, 0,
				   TimestampPlus(GetCurrentTimestamp(), ttl_usecs));
		renewed = true;
	}
	StoreClose(&t);
	StatsCount(renewed ? STATS_RENEWALS : STATS_RENEWALS_FAILED);
	PG_RETURN_BOOL(renewed);
}

/*
 * SQL: lockservice.lock_release(name, token) ends a live lease; false when
 * it was not held under that token.
 */
Datum
lock_release(PG_FUNCTION_ARGS)
{
	text	   *name;
	int64		token;
	StoreTable	t;
	Lease		lease;
	bool		released = false;

	OwnLeaseCallStart(fcinfo, "lockservice.lock_release()", &name, &token);
	StoreOpen(&t, LEASES_TABLE, LEASES_PKEY, Natts_leases);
	if (LockOwnLease(&t, name, token, LockTupleExclusive, &lease))
	{
		bool	   *nulls;
		Datum	   *values = StoreNewRow(&t, &nulls);

		values[Anum_leases_released_at - 1] =
			TimestampTzGetDatum(GetCurrentTimestamp());
		nulls[Anum_leases_released_at - 1] = false;
		StoreUpdate(&t);
		released = true;
		StatsCount(STATS_RELEASES);
		EventNote(LEASE_EVENT_RELEASED, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
				  VARDATA_ANY(lease.holder), VARSIZE_ANY_EXHDR(lease.holder),
				  token, NULL, 0, 0);
	}
	StoreClose(&t);
	PG_RETURN_BOOL(released);
}

/*
 * SQL: lockservice.lock_check(name, token) is true when token is the live
 * lease of name, owned by the current role.  The lease then cannot be
 * released, reaped or taken over until this transaction ends.
 */
Datum
lock_check(PG_FUNCTION_ARGS)
{
	text	   *name;
	int64		token;
	StoreTable	t;
	Lease		lease;
	bool		held;

	OwnLeaseCallStart(fcinfo, "lockservice.lock_check()", &name, &token);
	StoreOpen(&t, LEASES_TABLE, LEASES_PKEY, Natts_leases);
	held = LockOwnLease(&t, name, token, LockTupleKeyShare, &lease);
	StoreClose(&t);
	PG_RETURN_BOOL(held);
}

/*
 * Delete up to max_rows lease rows that have ended: expired leases, and
 * rows released more than REAP_RELEASED_AFTER_USECS ago (kept until then so
 * that a name used again soon is a HOT update, not an insert).  Rows that a
 * transaction holds locked (a lock_check, an acquire in progress) are
 * skipped, never waited for.  Returns the number of expired leases reaped;
 * *more says whether the batch was full.  Runs in the caller's transaction
 * and snapshot; their waiters wake when it commits.
 */
int64
LeaseReapEnded(int max_rows, bool *more)
{
	StoreTable	t;
	TableScanDesc scan;
	TimestampTz now = GetCurrentTimestamp();
	int64		expired = 0;
	int			deleted = 0;

	*more = false;
	StoreOpen(&t, LEASES_TABLE, LEASES_PKEY, Natts_leases);
	scan = StoreBeginScan(&t, GetActiveSnapshot());
	while (StoreScanNext(&t, scan))
	{
		Lease		lease;
		bool		isnull;
		bool		is_expired;
		text	   *name;

		LeaseFromRow(&t, &lease);
		if (lease.released)
		{
			TimestampTz released_at = DatumGetTimestampTz(slot_getattr(t.row, Anum_leases_released_at, &isnull));

			if (released_at > now - REAP_RELEASED_AFTER_USECS)
				continue;
			is_expired = false;
		}
		else if (lease.expires_at <= now)
			is_expired = true;
		else
			continue;

		if (StoreLock(&t, LockTupleExclusive, false) != STORE_LOCKED)
			continue;
		name = DatumGetTextPP(slot_getattr(t.row, Anum_leases_name, &isnull));
		if (is_expired)
		{
			EventNote(LEASE_EVENT_EXPIRED, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
					  VARDATA_ANY(lease.holder), VARSIZE_ANY_EXHDR(lease.holder),
					  lease.token, NULL, 0, 0);
			expired++;
		}
		StoreDelete(&t);
		WaitWakeAtTransactionEnd(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
		if (++deleted >= max_rows)
		{
			*more = true;
			break;
		}
	}
	table_endscan(scan);
	StoreClose(&t);
	return expired;
}
