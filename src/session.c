/*-------------------------------------------------------------------------
 *
 * session.c
 *	  Lock sessions: one lease that many locks are kept by.
 *
 * A session is a row of lockservice.sessions: its holder, the role that
 * owns it, its ttl and its expiry.  Its id comes from the fencing token
 * counter, never from a sequence of its own, so that no id is ever handed
 * out twice (token.c).  A lock granted in a session carries the
 * session's id (leases.session) instead of an expiry of its own: it ends
 * when its session ends, so one renewal of the session row keeps every
 * lock in it, whatever their number, and no lock row is written.  A lock
 * row's own expires_at says when its session was to end at the grant; the
 * session row decides (lease.c reads it wherever it decodes a lock).  A
 * lock whose session row is gone ended at its grant: the reaper deletes a
 * session row only once no unreleased lock refers to it, so that only
 * happens to a lock granted in a session that ended while it was being
 * granted, or when the row was deleted by hand.  The reaper leaves such a
 * lock to the next acquire of its name, which takes it over: during a
 * restore, lockservice.leases is loaded before lockservice.sessions, and
 * the locks of the sessions not loaded yet must not be reaped in between.
 *
 * Races between a renewal and the end of a session are settled with row
 * locks on the session row, never by timing:
 *
 *	 session_renew, session_close						FOR NO KEY UPDATE
 *	 a takeover or reap of a lock of an ended session	FOR SHARE
 *	 the reaper deleting the session row				FOR UPDATE
 *
 * A renewal locks the row, then refuses a session that has ended; a
 * takeover locks it FOR SHARE (without waiting) and checks that it has
 * ended.  Whichever comes second sees what the first did: a renewal never
 * revives a session whose locks were taken over, and a takeover never
 * comes between a renewal that was in time and its commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "lockservice.h"
#include "schedule.h"
#include "session.h"
#include "store.h"
#include "token.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(session_open);
PG_FUNCTION_INFO_V1(session_renew);

/* One session's end, remembered for the rest of a reaper's batch. */
typedef struct SessionCacheEntry
{
	int64		id;
	TimestampTz end;
} SessionCacheEntry;

static void
SessionOpenTable(StoreTable *t)
{
	StoreOpen(t, SESSIONS_TABLE, SESSIONS_PKEY, Natts_sessions);
}

/* Decode the session row in t->row. */
static void
SessionFromSlot(StoreTable *t, SessionInfo *info)
{
	TupleTableSlot *slot = t->row;
	bool		isnull;

	info->tid = slot->tts_tid;
	info->id = DatumGetInt64(slot_getattr(slot, Anum_sessions_id, &isnull));
	info->holder = DatumGetTextPCopy(slot_getattr(slot, Anum_sessions_holder, &isnull));
	info->owner = DatumGetObjectId(slot_getattr(slot, Anum_sessions_owner, &isnull));
	info->expires_at = DatumGetTimestampTz(slot_getattr(slot, Anum_sessions_expires_at, &isnull));
}

/*
 * Read the last committed version of a session (and this transaction's
 * own changes); info->busy says that an open transaction is changing it.
 * False when there is none.
 */
static bool
SessionReadRow(StoreTable *t, int64 id, SessionInfo *info)
{
	ScanKeyData key;
	IndexScanDesc scan;
	StoreReadResult found;
	bool		have = false;
	TransactionId busy_xid = InvalidTransactionId;

	info->busy = false;
	ScanKeyInit(&key, Anum_sessions_id, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(id));
	scan = StoreRangeBegin(t, &key, 1);
	while ((found = StoreRangeNext(t, scan)) != STORE_ABSENT)
	{
		if (found == STORE_BUSY)
		{
			info->busy = true;
			busy_xid = t->busy_xid;
			if (TransactionIdIsValid(t->dirty.xmin))
				continue;		/* a version not committed yet */
		}
		if (!have)
			SessionFromSlot(t, info);
		have = true;
	}
	StoreRangeEnd(scan);
	t->busy_xid = busy_xid;		/* for StoreWaitBusy() */
	return have;
}

/* Read a session as last committed; false when there is none. */
bool
SessionRead(int64 id, SessionInfo *info)
{
	StoreTable	t;
	bool		found;

	SessionOpenTable(&t);
	found = SessionReadRow(&t, id, info);
	StoreClose(&t);
	return found;
}

/*
 * A session that the current role may attach locks to: open, its own, not
 * ended.  Raises LS006 otherwise.
 */
void
SessionRequireOpen(int64 id, SessionInfo *info)
{
	if (!SessionRead(id, info) || info->owner != GetUserId() ||
		info->expires_at <= GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_LS_SESSION_NOT_OPEN),
				 errmsg("session " INT64_FORMAT " is not open", id),
				 errdetail("It was closed, it expired, or it belongs to another role."),
				 errhint("Open a new session with lockservice.session_open().")));
}

/* A cache of session ends for one pass over many lock rows. */
HTAB *
SessionCacheCreate(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SessionCacheEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("lockservice session ends", 64, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * When a lock of session id, granted at granted_at, ends: the session's
 * expiry as last committed, or granted_at when the session row is gone.
 * With a cache, each session is read once.
 */
TimestampTz
SessionEndOf(int64 id, TimestampTz granted_at, HTAB *cache)
{
	SessionCacheEntry *entry = NULL;
	SessionInfo info;
	TimestampTz end;
	bool		found;

	if (cache != NULL)
	{
		entry = hash_search(cache, &id, HASH_ENTER, &found);
		if (found)
			return entry->end == 0 ? granted_at : entry->end;
	}
	end = SessionRead(id, &info) ? info.expires_at : 0;
	if (entry != NULL)
		entry->end = end;
	return end == 0 ? granted_at : end;
}

/*
 * Whether SessionEndOf found no row for session id (it must have been
 * asked about id with this cache first).
 */
bool
SessionCachedMissing(int64 id, HTAB *cache)
{
	SessionCacheEntry *entry = hash_search(cache, &id, HASH_FIND, NULL);

	return entry != NULL && entry->end == 0;
}

/*
 * Keep an ended session from being renewed until this transaction ends:
 * lock its row FOR SHARE, without waiting.  A session row that is gone is
 * ended for good.
 */
SessionPinResult
SessionPinEnded(int64 id)
{
	StoreTable	t;
	SessionInfo info;
	SessionPinResult result = SESSION_PIN_BUSY;

	SessionOpenTable(&t);
	for (;;)
	{
		if (!SessionReadRow(&t, id, &info))
		{
			result = SESSION_PIN_ENDED;
			break;
		}
		if (info.busy)
		{
			result = SESSION_PIN_BUSY;
			break;
		}
		switch (StoreLockTid(&t, &info.tid, LockTupleShare, false))
		{
			case STORE_CHANGED:
				continue;
			case STORE_WOULD_BLOCK:
				result = SESSION_PIN_BUSY;
				break;
			case STORE_LOCKED:
				SessionFromSlot(&t, &info);
				result = info.expires_at <= GetCurrentTimestamp() ?
					SESSION_PIN_ENDED : SESSION_PIN_LIVE;
				break;
		}
		break;
	}
	StoreClose(&t);
	return result;
}

/*
 * Lock the current role's open session id FOR NO KEY UPDATE, waiting for
 * transactions that change it; false when it is not open (the lock, if
 * one was taken, stays until the transaction ends).  t->row then holds it.
 */
static bool
SessionLockOwn(StoreTable *t, int64 id)
{
	for (;;)
	{
		SessionInfo info;

		if (!SessionReadRow(t, id, &info) || info.owner != GetUserId() ||
			info.expires_at <= GetCurrentTimestamp())
			return false;
		if (info.busy)
		{
			StoreWaitBusy(t);
			continue;
		}
		if (StoreLockTid(t, &info.tid, LockTupleNoKeyExclusive, true) != STORE_LOCKED)
			continue;
		SessionFromSlot(t, &info);
		/* the row is as read, but time went on while we waited */
		return info.expires_at > GetCurrentTimestamp();
	}
}

/* Set the locked session's expiry (and ttl, when not NULL). */
static void
SessionSetExpiry(StoreTable *t, Interval *ttl, TimestampTz expires_at)
{
	bool	   *nulls;
	Datum	   *values = StoreNewRow(t, &nulls);

	if (ttl != NULL)
		values[Anum_sessions_ttl - 1] = IntervalPGetDatum(ttl);
	values[Anum_sessions_expires_at - 1] = TimestampTzGetDatum(expires_at);
	StoreUpdate(t);
}

/*
 * End the current role's open session id now (its locks are lease.c's to
 * end); false when it is not open.
 */
bool
SessionExpireNow(int64 id)
{
	StoreTable	t;
	bool		open;

	SessionOpenTable(&t);
	open = SessionLockOwn(&t, id);
	if (open)
		SessionSetExpiry(&t, NULL, GetCurrentTimestamp());
	StoreClose(&t);
	return open;
}

/*
 * The sessions that have ended by now (a palloc'd array of *n ids, in the
 * caller's snapshot); *next_due is lowered to the first end of the others.
 */
int64 *
SessionsEnded(TimestampTz now, TimestampTz *next_due, int *n)
{
	StoreTable	t;
	TableScanDesc scan;
	int			capacity = 16;
	int64	   *ended = palloc(sizeof(int64) * capacity);

	*n = 0;
	SessionOpenTable(&t);
	scan = StoreBeginScan(&t, GetActiveSnapshot(), 0);
	while (StoreScanNext(&t, scan))
	{
		bool		isnull;
		TimestampTz expires_at = DatumGetTimestampTz(slot_getattr(t.row, Anum_sessions_expires_at, &isnull));

		if (expires_at > now)
		{
			*next_due = Min(*next_due, expires_at);
			continue;
		}
		if (*n == capacity)
		{
			capacity *= 2;
			ended = repalloc(ended, sizeof(int64) * capacity);
		}
		ended[(*n)++] = DatumGetInt64(slot_getattr(t.row, Anum_sessions_id, &isnull));
	}
	table_endscan(scan);
	StoreClose(&t);
	return ended;
}

/*
 * Delete an ended session's row, unless a transaction is using it (then a
 * later round does); the caller saw that no lock refers to it.
 */
bool
SessionDeleteEnded(int64 id)
{
	StoreTable	t;
	SessionInfo info;
	bool		deleted = false;

	SessionOpenTable(&t);
	if (SessionReadRow(&t, id, &info) && !info.busy &&
		info.expires_at <= GetCurrentTimestamp() &&
		StoreLockTid(&t, &info.tid, LockTupleExclusive, false) == STORE_LOCKED)
	{
		SessionFromSlot(&t, &info);
		if (info.expires_at <= GetCurrentTimestamp())
		{
			StoreDelete(&t);
			deleted = true;
		}
	}
	StoreClose(&t);
	return deleted;
}

/*
 * SQL: lockservice.session_open(holder, ttl) opens a session of the
 * current role, live for ttl, and returns its id.
 */
Datum
session_open(PG_FUNCTION_ARGS)
{
	text	   *holder = InputHolder(fcinfo, 0);
	int64		ttl_usecs = InputTtl(fcinfo, 1, false);
	TimestampTz now;
	StoreTable	t;
	bool	   *nulls;
	Datum	   *values;
	int64		id;

	CheckWritable("lockservice.session_open()");
	WaitNoteTransactionUse();
	id = NextSessionId();

	/*
	 * An acknowledged session survives a crash, whatever synchronous_commit
	 * and sync_grants say: opens are rare.  (Its id is never handed out
	 * again either way: NextSessionId.)
	 */
	ForceSyncCommit();

	SessionOpenTable(&t);
	now = GetCurrentTimestamp();
	values = StoreNewRow(&t, &nulls);
	values[Anum_sessions_id - 1] = Int64GetDatum(id);
	values[Anum_sessions_holder - 1] = PointerGetDatum(holder);
	values[Anum_sessions_owner - 1] = ObjectIdGetDatum(GetUserId());
	values[Anum_sessions_ttl - 1] = IntervalPGetDatum(PG_GETARG_INTERVAL_P(1));
	values[Anum_sessions_opened_at - 1] = TimestampTzGetDatum(now);
	values[Anum_sessions_expires_at - 1] =
		TimestampTzGetDatum(TimestampPlus(now, ttl_usecs));
	for (int i = 0; i < Natts_sessions; i++)
		nulls[i] = false;
	if (!StoreInsert(&t))
		elog(ERROR, "lockservice: session " INT64_FORMAT " exists already", id);
	StoreClose(&t);

	/* the reaper deletes the row once it has ended */
	ScheduleNoteDue(TimestampPlus(now, ttl_usecs));
	PG_RETURN_INT64(id);
}

/*
 * SQL: lockservice.session_renew(session, ttl) extends the current role's
 * open session to now + ttl (NULL: its own ttl), and with it every lock
 * in it; false when the session has ended (closed, expired) or is not the
 * role's.  An ended session stays ended: its locks may be someone else's.
 */
Datum
session_renew(PG_FUNCTION_ARGS)
{
	int64		id = InputSession(fcinfo, 0);
	int64		ttl_usecs = InputTtl(fcinfo, 1, true);
	StoreTable	t;
	bool		renewed = false;

	CheckWritable("lockservice.session_renew()");
	WaitNoteTransactionUse();
	SessionOpenTable(&t);
	if (SessionLockOwn(&t, id))
	{
		bool		isnull;
		Interval   *ttl = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);

		if (ttl_usecs < 0)
			ttl_usecs = IntervalToMicroseconds(DatumGetIntervalP(slot_getattr(t.row, Anum_sessions_ttl, &isnull)));
		SessionSetExpiry(&t, ttl, TimestampPlus(GetCurrentTimestamp(), ttl_usecs));
		renewed = true;
	}
	StoreClose(&t);
	PG_RETURN_BOOL(renewed);
}
