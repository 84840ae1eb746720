/*-------------------------------------------------------------------------
 *
 * lease.c
 *	  Leases: acquire (exclusive, shared, semaphore permit), renew, release
 *	  and check, force_release and lock_holder, and reaping.
 *
 * A lock name has a head row in lockservice.leases (slot 0), kept after
 * its leases end so that the next grant is a HOT update.  An exclusive
 * lease lives in the head row itself; shared leases and semaphore permits
 * live in rows of slots 1, 2, ...  The head row says what the name is: a
 * lock ('x', exclusive or shared) or a semaphore ('p', with its permits).
 *
 * Every grant rewrites the head row, having locked the version it read:
 * so a grant is decided on the state it read, and any other grant since
 * makes the lock fail ("changed") and the decision be taken again.  Row
 * locks say who may change a lease, in PostgreSQL's four strengths:
 *
 *	 exclusive grant (of a head row), release, takeover		FOR UPDATE
 *	 shared or permit grant (of the head row)				FOR NO KEY UPDATE
 *	 renew, and re-acquire by the same holder				FOR NO KEY UPDATE
 *	 lock_check												FOR KEY SHARE
 *
 * FOR KEY SHARE conflicts only with FOR UPDATE, so a lock_check holds off
 * release, takeover, force_release and reaping until its transaction ends
 * while the holder's renewals still go through.
 *
 * Acquire never waits on a row lock: when a row is busy it sleeps in
 * wait.c, holding nothing, and reads again when woken.  An attempt that
 * fails after locking rows (an exclusive grant over expired shared leases
 * that may be checked) runs in a subtransaction it rolls back, so a failed
 * attempt leaves no lock behind.  Renew, release and check act on the
 * caller's own lease and wait for the (short) transactions that touch it,
 * as any row lock waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "events.h"
#include "durability.h"
#include "history.h"
#include "lease.h"
#include "lockservice.h"
#include "schedule.h"
#include "session.h"
#include "stats.h"
#include "store.h"
#include "token.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(lock_acquire);
PG_FUNCTION_INFO_V1(lock_acquire_shared);
PG_FUNCTION_INFO_V1(sem_acquire);
PG_FUNCTION_INFO_V1(lock_renew);
PG_FUNCTION_INFO_V1(lock_release);
PG_FUNCTION_INFO_V1(lock_check);
PG_FUNCTION_INFO_V1(force_release);
PG_FUNCTION_INFO_V1(lock_holder);
PG_FUNCTION_INFO_V1(set_lock_delay);
PG_FUNCTION_INFO_V1(lock_acquire_session);
PG_FUNCTION_INFO_V1(lock_acquire_shared_session);
PG_FUNCTION_INFO_V1(sem_acquire_session);
PG_FUNCTION_INFO_V1(lock_acquire_all);
PG_FUNCTION_INFO_V1(lock_acquire_all_session);
PG_FUNCTION_INFO_V1(session_close);

/* How long the reaper keeps the row of a released lease. */
#define REAP_RELEASED_AFTER_USECS	(60 * USECS_PER_SEC)

/* How long a waiter sleeps at most when a row is busy and nobody wakes it. */
#define BUSY_RECHECK_USECS		(1000 * 1000)

/* Name kinds, in the head row: a lock, or a semaphore. */
#define NAME_KIND_LOCK			'x'
#define NAME_KIND_SEMAPHORE		'p'

/* One row of a lock name, as read. */
typedef struct LeaseRow
{
	ItemPointerData tid;
	int32		slot;
	char		kind;
	text	   *holder;
	Oid			owner;
	int64		token;
	Interval   *ttl;
	TimestampTz granted_at;
	TimestampTz expires_at;
	bool		released;
	int32		permits;
	int64		session;		/* 0: a lease with its own ttl */
} LeaseRow;

/* All rows of a lock name. */
typedef struct NameRows
{
	LeaseRow   *head;			/* slot 0, or NULL */
	LeaseRow   *slots;			/* slots 1, 2, ... */
	int			nslots;
	int32		max_slot;
	bool		busy;			/* an open transaction is changing a row */
	TransactionId busy_xid;
	bool		only_deletes;	/* ... and only deleting rows (the reaper) */
} NameRows;

/* What a lease row stands for at a given time. */
typedef enum LeaseState
{
	LEASE_NONE,					/* a head row with no lease, or released */
	LEASE_LIVE,
	LEASE_DELAYED,				/* expired unreleased, within its lock-delay */
	LEASE_EXPIRED				/* expired unreleased, past its lock-delay */
} LeaseState;

/* One acquire call. */
typedef struct AcquireRequest
{
	const char *funcname;		/* for messages */
	text	   *name;
	text	   *holder;
	char		kind;			/* LEASE_KIND_* */
	int32		permits;		/* for semaphores */
	Interval   *ttl;
	int64		ttl_usecs;
	int64		session;		/* 0: a lease with its own ttl */
	TimestampTz session_end;	/* when the session ends, as last read */
	LockWait   *wait;			/* NULL until it waits */
	int64		lock_delay;		/* -1 until looked up */
	int			position;		/* in a multi-lock: where its token goes */
} AcquireRequest;

/* What one attempt to acquire came to. */
typedef enum AcquireOutcome
{
	ACQUIRE_GRANTED,
	ACQUIRE_HELD,				/* live leases are in the way */
	ACQUIRE_BUSY,				/* an open transaction is changing the name */
	ACQUIRE_RETRY				/* the name changed since it was read */
} AcquireOutcome;

static bool
TextEqual(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* Session ends already read by the reaper's current batch (else NULL). */
static HTAB *reap_session_ends = NULL;

/*
 * Decode the row in t->row, copying what outlives it.  The expiry of a
 * lock in a session is its session's (see session.c).
 */
static void
LeaseRowFromSlot(StoreTable *t, LeaseRow *row)
{
	TupleTableSlot *slot = t->row;
	bool		isnull;

	row->tid = slot->tts_tid;
	row->slot = DatumGetInt32(slot_getattr(slot, Anum_leases_slot, &isnull));
	row->kind = DatumGetChar(slot_getattr(slot, Anum_leases_kind, &isnull));
	row->holder = DatumGetTextPCopy(slot_getattr(slot, Anum_leases_holder, &isnull));
	row->owner = DatumGetObjectId(slot_getattr(slot, Anum_leases_owner, &isnull));
	row->token = DatumGetInt64(slot_getattr(slot, Anum_leases_token, &isnull));
	row->ttl = DatumGetIntervalP(datumCopy(slot_getattr(slot, Anum_leases_ttl, &isnull),
										   false, sizeof(Interval)));
	row->granted_at = DatumGetTimestampTz(slot_getattr(slot, Anum_leases_granted_at, &isnull));
	row->expires_at = DatumGetTimestampTz(slot_getattr(slot, Anum_leases_expires_at, &isnull));
	(void) slot_getattr(slot, Anum_leases_released_at, &isnull);
	row->released = !isnull;
	row->permits = DatumGetInt32(slot_getattr(slot, Anum_leases_permits, &isnull));
	if (isnull)
		row->permits = 0;
	row->session = 0;
	if (t->natts >= Anum_leases_session)
	{
		Datum		session = slot_getattr(slot, Anum_leases_session, &isnull);

		if (!isnull)
		{
			row->session = DatumGetInt64(session);
			if (!row->released)
				row->expires_at = SessionEndOf(row->session, row->granted_at,
											   reap_session_ends);
		}
	}
}

/* Open lockservice.leases, in the layout of any version this library serves. */
static void
LeasesOpen(StoreTable *t)
{
	StoreOpenLayouts(t, LEASES_TABLE, LEASES_PKEY, Natts_leases_1_4, Natts_leases);
}

/* Primary-key prefix of a lock name. */
static void
NameKey(ScanKeyData *key, text *name)
{
	ScanKeyInit(key, 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(name));
}

/* Note that an open transaction changes a row; the first one found is kept. */
static void
MarkBusy(NameRows *rows, TransactionId xid)
{
	if (!rows->busy)
	{
		rows->busy = true;
		rows->busy_xid = xid;
	}
}

/* Wait until the transaction that made rows busy has ended. */
static void
WaitBusy(StoreTable *t, NameRows *rows)
{
	t->busy_xid = rows->busy_xid;
	StoreWaitBusy(t);
}

/*
 * Read every row of a lock name in its latest state.  A row being changed
 * makes the name busy; its last committed version is what is kept (an
 * updated row can come twice: also as its new version).  A row being
 * deleted points to no newer version; rows->only_deletes says that every
 * busy row is being deleted.
 */
static void
ReadName(StoreTable *t, text *name, NameRows *rows)
{
	ScanKeyData key;
	IndexScanDesc scan;
	StoreReadResult found;
	int			capacity = 4;
	int32		last_slot = -1;
	bool		other_change = false;

	memset(rows, 0, sizeof(NameRows));
	rows->slots = palloc(sizeof(LeaseRow) * capacity);
	NameKey(&key, name);
	scan = StoreRangeBegin(t, &key, 1);
	while ((found = StoreRangeNext(t, scan)) != STORE_ABSENT)
	{
		LeaseRow	row;

		LeaseRowFromSlot(t, &row);
		if (found == STORE_BUSY)
		{
			/* being inserted, or updated (it points to its new version) */
			if (TransactionIdIsValid(t->dirty.xmin) || !StoreRowHasNoSuccessor(t))
				other_change = true;
			MarkBusy(rows, t->busy_xid);
		}
		if (row.slot == last_slot)
			continue;			/* second version of a row being changed */
		last_slot = row.slot;
		if (row.slot == 0)
		{
			rows->head = palloc(sizeof(LeaseRow));
			*rows->head = row;
			continue;
		}
		if (rows->nslots == capacity)
		{
			capacity *= 2;
			rows->slots = repalloc(rows->slots, sizeof(LeaseRow) * capacity);
		}
		rows->slots[rows->nslots++] = row;
		rows->max_slot = Max(rows->max_slot, row.slot);
	}
	StoreRangeEnd(scan);
	rows->only_deletes = rows->busy && !other_change;
}

/* The lock-delay of a name, in microseconds (looked up once per attempt). */
static int64
LockDelayOf(AcquireRequest *req)
{
	if (req->lock_delay < 0)
		req->lock_delay = LockOptionsDelay(req->name);
	return req->lock_delay;
}

/* What a row's lease is at now. */
static LeaseState
StateOf(const LeaseRow *row, TimestampTz now, AcquireRequest *req)
{
	if (row->released)
		return LEASE_NONE;
	if (row->expires_at > now)
		return LEASE_LIVE;
	if (req != NULL && now < TimestampPlus(row->expires_at, LockDelayOf(req)))
		return LEASE_DELAYED;
	return LEASE_EXPIRED;
}

/* When a live or delayed lease stops standing in the way. */
static TimestampTz
EndOf(const LeaseRow *row, AcquireRequest *req)
{
	TimestampTz end = row->expires_at;

	if (req != NULL && row->expires_at <= GetCurrentTimestamp())
		end = TimestampPlus(row->expires_at, LockDelayOf(req));
	return end;
}

static const char *
KindName(char kind)
{
	switch (kind)
	{
		case LEASE_KIND_EXCLUSIVE:
			return "exclusive lock";
		case LEASE_KIND_SHARED:
			return "shared lock";
		case LEASE_KIND_PERMIT:
			return "semaphore permit";
	}
	return "lease";
}

/*
 * Note a lease event: published on LISTEN after commit, and written to
 * lockservice.history when that is on.
 */
static void
LeaseEvent(LeaseEventKind event, text *name, char kind, text *holder,
		   Oid owner, int64 token, int64 session, const LeaseRow *previous)
{
	EventNote(event, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
			  VARDATA_ANY(holder), VARSIZE_ANY_EXHDR(holder), token, session,
			  previous ? VARDATA_ANY(previous->holder) : NULL,
			  previous ? VARSIZE_ANY_EXHDR(previous->holder) : 0,
			  previous ? previous->token : 0);
	HistoryRecord(event, name, kind, holder, owner, token);
}

/* Count and note a grant that replaces (takes over) row's lease, if any. */
static void
NoteGrant(AcquireRequest *req, int64 token, const LeaseRow *previous)
{
	if (previous != NULL && !previous->released)
	{
		StatsCount(STATS_TAKEOVERS);
		LeaseEvent(LEASE_EVENT_EXPIRED, req->name, previous->kind,
				   previous->holder, previous->owner, previous->token,
				   previous->session, NULL);
		LeaseEvent(LEASE_EVENT_TAKEN_OVER, req->name, req->kind, req->holder,
				   GetUserId(), token, req->session, previous);
		return;
	}
	LeaseEvent(LEASE_EVENT_ACQUIRED, req->name, req->kind, req->holder,
			   GetUserId(), token, req->session, NULL);
}

/*
 * Set the lease columns of the row to write (values and nulls of t) for a
 * grant of req at now.  A lock in a session has no ttl of its own ('0')
 * and its expires_at is the session's at the grant.
 */
static void
SetLease(StoreTable *t, Datum *values, bool *nulls, AcquireRequest *req,
		 int64 token, TimestampTz now)
{
	TimestampTz expires_at = req->session != 0 ? req->session_end :
		TimestampPlus(now, req->ttl_usecs);

	values[Anum_leases_kind - 1] = CharGetDatum(req->kind);
	values[Anum_leases_holder - 1] = PointerGetDatum(req->holder);
	values[Anum_leases_owner - 1] = ObjectIdGetDatum(GetUserId());
	values[Anum_leases_token - 1] = Int64GetDatum(token);
	values[Anum_leases_ttl - 1] = IntervalPGetDatum(req->ttl);
	values[Anum_leases_granted_at - 1] = TimestampTzGetDatum(now);
	values[Anum_leases_expires_at - 1] = TimestampTzGetDatum(expires_at);
	nulls[Anum_leases_kind - 1] = false;
	nulls[Anum_leases_holder - 1] = false;
	nulls[Anum_leases_owner - 1] = false;
	nulls[Anum_leases_token - 1] = false;
	nulls[Anum_leases_ttl - 1] = false;
	nulls[Anum_leases_granted_at - 1] = false;
	nulls[Anum_leases_expires_at - 1] = false;
	nulls[Anum_leases_released_at - 1] = true;
	if (t->natts >= Anum_leases_session)
	{
		values[Anum_leases_session - 1] = Int64GetDatum(req->session);
		nulls[Anum_leases_session - 1] = (req->session == 0);
	}
	ScheduleNoteDue(expires_at);
}

/* Note a row marked released now: the reaper may delete it later. */
static void
NoteReleasedRow(void)
{
	ScheduleNoteDue(TimestampPlus(GetCurrentTimestamp(), REAP_RELEASED_AFTER_USECS));
}

/*
 * Insert a row with no lease (released) for slot of name; false when
 * another transaction is inserting it.
 */
static bool
InsertEmptyRow(StoreTable *t, text *name, int32 slot, char kind, int32 permits)
{
	bool	   *nulls;
	Datum	   *values;
	TimestampTz now = GetCurrentTimestamp();
	Interval   *zero = palloc0(sizeof(Interval));

	ExecClearTuple(t->row);
	values = StoreNewRow(t, &nulls);
	values[Anum_leases_name - 1] = PointerGetDatum(name);
	values[Anum_leases_slot - 1] = Int32GetDatum(slot);
	values[Anum_leases_kind - 1] = CharGetDatum(kind);
	values[Anum_leases_holder - 1] = CStringGetTextDatum("");
	values[Anum_leases_owner - 1] = ObjectIdGetDatum(InvalidOid);
	values[Anum_leases_token - 1] = Int64GetDatum(0);
	values[Anum_leases_ttl - 1] = IntervalPGetDatum(zero);
	values[Anum_leases_granted_at - 1] = TimestampTzGetDatum(now);
	values[Anum_leases_expires_at - 1] = TimestampTzGetDatum(now);
	values[Anum_leases_released_at - 1] = TimestampTzGetDatum(now);
	values[Anum_leases_permits - 1] = Int32GetDatum(permits);
	for (int i = 0; i < t->natts; i++)
		nulls[i] = false;
	nulls[Anum_leases_permits - 1] = (kind != NAME_KIND_SEMAPHORE);
	if (t->natts >= Anum_leases_session)
		nulls[Anum_leases_session - 1] = true;
	NoteReleasedRow();
	return StoreInsert(t);
}

/*
 * Lock a row for an acquire attempt, never waiting: ACQUIRE_GRANTED when
 * it is locked, else what the attempt comes to.
 */
static AcquireOutcome
LockForAttempt(StoreTable *t, ItemPointer tid, LockTupleMode mode)
{
	switch (StoreLockTid(t, tid, mode, false))
	{
		case STORE_CHANGED:
			return ACQUIRE_RETRY;
		case STORE_WOULD_BLOCK:
			return ACQUIRE_BUSY;
		case STORE_LOCKED:
			break;
	}
	return ACQUIRE_GRANTED;
}

/*
 * Set a lease row's ttl and extend its expiry to now + ttl_usecs; the
 * reaper is told, as a shorter ttl ends the lease sooner.
 */
static void
SetExpiry(Datum *values, Interval *ttl, int64 ttl_usecs)
{
	TimestampTz expires_at = TimestampPlus(GetCurrentTimestamp(), ttl_usecs);

	values[Anum_leases_ttl - 1] = IntervalPGetDatum(ttl);
	values[Anum_leases_expires_at - 1] = TimestampTzGetDatum(expires_at);
	ScheduleNoteDue(expires_at);
}

/* Extend the caller's own live lease (a retry after a lost reply). */
static AcquireOutcome
ExtendOwnLease(StoreTable *t, AcquireRequest *req, LeaseRow *mine,
			   int64 *token)
{
	bool	   *nulls;
	AcquireOutcome locked = LockForAttempt(t, &mine->tid, LockTupleNoKeyExclusive);

	if (locked != ACQUIRE_GRANTED)
		return locked;
	if (StateOf(mine, GetCurrentTimestamp(), NULL) != LEASE_LIVE)
		return ACQUIRE_RETRY;	/* expired meanwhile: take it anew */
	*token = mine->token;
	if (req->session != 0)
		return ACQUIRE_GRANTED; /* kept by its session: nothing to extend */
	SetExpiry(StoreNewRow(t, &nulls), req->ttl, req->ttl_usecs);
	StoreUpdate(t);
	return ACQUIRE_GRANTED;
}

/* Rewrite the head row of a name to record a grant of kind. */
static void
TouchHead(StoreTable *t, AcquireRequest *req, bool end_head_lease)
{
	bool	   *nulls;
	Datum	   *values = StoreNewRow(t, &nulls);

	values[Anum_leases_kind - 1] = CharGetDatum(req->kind == LEASE_KIND_PERMIT ?
												NAME_KIND_SEMAPHORE : NAME_KIND_LOCK);
	values[Anum_leases_permits - 1] = Int32GetDatum(req->permits);
	nulls[Anum_leases_permits - 1] = (req->kind != LEASE_KIND_PERMIT);
	if (end_head_lease)
	{
		values[Anum_leases_released_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
		nulls[Anum_leases_released_at - 1] = false;
		NoteReleasedRow();
	}
	StoreUpdate(t);
}

/* Where an attempt's subtransaction returns to when it ends. */
typedef struct AttemptSubxact
{
	MemoryContext context;
	ResourceOwner owner;
} AttemptSubxact;

/* Starts a subtransaction for an attempt, staying in the caller's context. */
static void
AttemptSubxactBegin(AttemptSubxact *sx)
{
	sx->context = CurrentMemoryContext;
	sx->owner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(sx->context);
	WaitAttemptSubtransaction(true);
}

/* Ends it: kept when the attempt was granted, else rolled back. */
static void
AttemptSubxactEnd(AttemptSubxact *sx, bool keep)
{
	if (keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	WaitAttemptSubtransaction(false);
	MemoryContextSwitchTo(sx->context);
	CurrentResourceOwner = sx->owner;
}

/*
 * Grant an exclusive lease in the head row.  Expired leases in other slots
 * may still be held by a lock_check: they are locked first, in a
 * subtransaction that is rolled back when one cannot be.
 */
static AcquireOutcome
GrantExclusive(StoreTable *t, AcquireRequest *req, NameRows *rows,
			   int64 *token)
{
	AttemptSubxact sx;
	AcquireOutcome outcome = ACQUIRE_GRANTED;
	bool		use_subxact = false;
	bool	   *nulls;
	Datum	   *values;
	TimestampTz now;

	for (int i = 0; i < rows->nslots; i++)
		if (StateOf(&rows->slots[i], GetCurrentTimestamp(), NULL) == LEASE_EXPIRED)
			use_subxact = true;

	if (use_subxact)
	{
		/* buffer pins must not cross the subtransaction's boundaries */
		ExecClearTuple(t->row);
		AttemptSubxactBegin(&sx);
	}
	outcome = LockForAttempt(t, &rows->head->tid, LockTupleExclusive);
	for (int i = 0; i < rows->nslots && outcome == ACQUIRE_GRANTED; i++)
		if (StateOf(&rows->slots[i], GetCurrentTimestamp(), NULL) == LEASE_EXPIRED)
			outcome = LockForAttempt(t, &rows->slots[i].tid, LockTupleExclusive);
	if (outcome == ACQUIRE_GRANTED)
	{
		/* t->row may hold a slot row now: lock the head again (ours) */
		if (use_subxact &&
			StoreLockTid(t, &rows->head->tid, LockTupleExclusive, false) != STORE_LOCKED)
			elog(ERROR, "lockservice: lost the lock on a head row");
		*token = NextFencingToken(true);
		NoteGrant(req, *token, rows->head);
		now = GetCurrentTimestamp();
		values = StoreNewRow(t, &nulls);
		SetLease(t, values, nulls, req, *token, now);
		values[Anum_leases_permits - 1] = (Datum) 0;
		nulls[Anum_leases_permits - 1] = true;
		StoreUpdate(t);
	}
	if (use_subxact)
	{
		ExecClearTuple(t->row);
		AttemptSubxactEnd(&sx, outcome == ACQUIRE_GRANTED);
	}
	return outcome;
}

/*
 * Grant a shared lease or a semaphore permit in a slot row: a released
 * slot when one can be had, else a new one.  The head row is locked first
 * (FOR UPDATE when it holds an expired exclusive lease, which this grant
 * takes over) and rewritten, so other grants see this one.
 */
static AcquireOutcome
GrantInSlot(StoreTable *t, AcquireRequest *req, NameRows *rows, int64 *token)
{
	LeaseRow   *head = rows->head;
	bool		end_head_lease = StateOf(head, GetCurrentTimestamp(), NULL) == LEASE_EXPIRED;
	LeaseRow   *reused = NULL;
	bool	   *nulls;
	Datum	   *values;
	TimestampTz now;

	AcquireOutcome locked = LockForAttempt(t, &head->tid,
										   end_head_lease ? LockTupleExclusive :
										   LockTupleNoKeyExclusive);

	if (locked != ACQUIRE_GRANTED)
		return locked;
	*token = NextFencingToken(false);
	if (end_head_lease)
		NoteGrant(req, *token, head);
	TouchHead(t, req, end_head_lease);

	/* a released slot nobody is changing, else a new slot */
	for (int i = 0; i < rows->nslots && reused == NULL; i++)
		if (rows->slots[i].released &&
			StoreLockTid(t, &rows->slots[i].tid, LockTupleExclusive, false) == STORE_LOCKED)
			reused = &rows->slots[i];

	now = GetCurrentTimestamp();
	if (reused == NULL)
		ExecClearTuple(t->row);
	values = StoreNewRow(t, &nulls);
	values[Anum_leases_name - 1] = PointerGetDatum(req->name);
	values[Anum_leases_slot - 1] = Int32GetDatum(reused ? reused->slot : rows->max_slot + 1);
	nulls[Anum_leases_name - 1] = false;
	nulls[Anum_leases_slot - 1] = false;
	SetLease(t, values, nulls, req, *token, now);
	values[Anum_leases_permits - 1] = (Datum) 0;
	nulls[Anum_leases_permits - 1] = true;
	if (reused)
		StoreUpdate(t);
	else if (!StoreInsert(t))
		elog(ERROR, "lockservice: slot %d of \"%s\" is being inserted by another transaction",
			 rows->max_slot + 1, text_to_cstring(req->name));
	if (!end_head_lease)
		NoteGrant(req, *token, NULL);
	return ACQUIRE_GRANTED;
}

/* A semaphore asked for with another number of permits than it has. */
static void
RefusePermits(AcquireRequest *req, const LeaseRow *head)
{
	ereport(ERROR,
			(errcode(ERRCODE_LS_KIND_MISMATCH),
			 errmsg("semaphore \"%s\" has %d permits, not %d",
					text_to_cstring(req->name), head->permits, req->permits),
			 errhint("Every holder must pass the same number of permits while the semaphore is in use.")));
}

/*
 * Decide on one reading of a name whether the request can be granted, and
 * grant it.  On ACQUIRE_HELD, *retry_at is when the first lease in the way
 * ends.
 */
static AcquireOutcome
Decide(StoreTable *t, AcquireRequest *req, NameRows *rows, int64 *token,
	   TimestampTz *retry_at)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		is_semaphore = rows->head->kind == NAME_KIND_SEMAPHORE;
	bool		wants_semaphore = req->kind == LEASE_KIND_PERMIT;
	int			in_use = 0;		/* live or delayed leases */
	int			blocking = 0;	/* of those, the ones in the way */

	*retry_at = DT_NOEND;

	/* the caller's own live lease: the same kind is a retry, else an error */
	for (int i = -1; i < rows->nslots; i++)
	{
		LeaseRow   *row = i < 0 ? rows->head : &rows->slots[i];

		if (StateOf(row, now, NULL) == LEASE_LIVE && row->owner == GetUserId() &&
			row->session == req->session && TextEqual(row->holder, req->holder))
		{
			if (row->kind != req->kind)
				ereport(ERROR,
						(errcode(ERRCODE_LS_KIND_MISMATCH),
						 errmsg("holder \"%s\" already holds \"%s\" as a %s",
								text_to_cstring(req->holder),
								text_to_cstring(req->name), KindName(row->kind)),
						 errhint("Release it first: a lease does not change its kind.")));
			if (req->kind == LEASE_KIND_PERMIT && rows->head->permits != req->permits)
				RefusePermits(req, rows->head);
			return ExtendOwnLease(t, req, row, token);
		}
	}

	/* what stands in the way */
	for (int i = -1; i < rows->nslots; i++)
	{
		LeaseRow   *row = i < 0 ? rows->head : &rows->slots[i];
		LeaseState state = StateOf(row, now, req);
		bool		in_way;

		if (state != LEASE_LIVE && state != LEASE_DELAYED)
			continue;
		in_use++;
		if (req->kind == LEASE_KIND_SHARED)
			in_way = row->kind == LEASE_KIND_EXCLUSIVE;
		else
			in_way = true;
		if (in_way)
		{
			blocking++;
			*retry_at = Min(*retry_at, EndOf(row, req));
		}
	}

	if (is_semaphore != wants_semaphore && in_use > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LS_KIND_MISMATCH),
				 errmsg("\"%s\" is in use as a %s", text_to_cstring(req->name),
						is_semaphore ? "semaphore" : "lock"),
				 errhint("Use another name: one name is either a lock or a semaphore while it has leases.")));
	if (wants_semaphore && is_semaphore && in_use > 0 &&
		rows->head->permits != req->permits)
		RefusePermits(req, rows->head);

	if (wants_semaphore ? blocking >= req->permits : blocking > 0)
		return ACQUIRE_HELD;

	/* first come, first served: earlier waiters go first */
	if (WaitMustYield(req->wait, VARDATA_ANY(req->name), VARSIZE_ANY_EXHDR(req->name),
					  req->kind))
		return ACQUIRE_BUSY;

	/* leases of ended sessions this grant goes past must stay ended */
	for (int i = -1; i < rows->nslots; i++)
	{
		LeaseRow   *row = i < 0 ? rows->head : &rows->slots[i];

		if (row->session == 0 || StateOf(row, now, req) != LEASE_EXPIRED)
			continue;
		switch (SessionPinEnded(row->session))
		{
			case SESSION_PIN_ENDED:
				break;
			case SESSION_PIN_LIVE:
				return ACQUIRE_RETRY;
			case SESSION_PIN_BUSY:
				return ACQUIRE_BUSY;
		}
	}

	if (req->kind == LEASE_KIND_EXCLUSIVE)
		return GrantExclusive(t, req, rows, token);
	return GrantInSlot(t, req, rows, token);
}

/*
 * Grant an exclusive lease of a name that has no row: its head row is
 * inserted with the lease in it, one heap and one index insert, as cheap as
 * the update that grants a name used before.  Another transaction inserting
 * the name makes it busy, like any row being changed.
 */
static AcquireOutcome
GrantNewName(StoreTable *t, AcquireRequest *req, int64 *token)
{
	bool	   *nulls;
	Datum	   *values;
	TimestampTz now;

	/* first come, first served, as in Decide() */
	if (WaitMustYield(req->wait, VARDATA_ANY(req->name), VARSIZE_ANY_EXHDR(req->name),
					  req->kind))
		return ACQUIRE_BUSY;

	/* a token lost to a failed insert leaves a gap, never a repeat */
	*token = NextFencingToken(true);
	now = GetCurrentTimestamp();
	ExecClearTuple(t->row);
	values = StoreNewRow(t, &nulls);
	values[Anum_leases_name - 1] = PointerGetDatum(req->name);
	values[Anum_leases_slot - 1] = Int32GetDatum(0);
	nulls[Anum_leases_name - 1] = false;
	nulls[Anum_leases_slot - 1] = false;
	SetLease(t, values, nulls, req, *token, now);
	values[Anum_leases_permits - 1] = (Datum) 0;
	nulls[Anum_leases_permits - 1] = true;
	if (!StoreInsert(t))
		return ACQUIRE_BUSY;
	NoteGrant(req, *token, NULL);
	return ACQUIRE_GRANTED;
}

/* One attempt to acquire. */
static AcquireOutcome
TryAcquire(AcquireRequest *req, int64 *token, TimestampTz *retry_at)
{
	StoreTable	t;
	AcquireOutcome outcome;

	/* a session can end while its lock is waited for */
	if (req->session != 0)
	{
		SessionInfo info;

		SessionRequireOpen(req->session, &info);
		req->session_end = info.expires_at;
	}
	LeasesOpen(&t);
	for (;;)
	{
		NameRows	rows;

		req->lock_delay = -1;
		ReadName(&t, req->name, &rows);
		if (rows.busy && rows.only_deletes)
		{
			/*
			 * Rows being deleted: the reaper removing ended leases, in a
			 * short transaction (or a superuser by hand).  What is left of
			 * the name after it decides; wait for the deleter, even with no
			 * wait asked for, so that a free name is never reported as
			 * taken because the reaper was cleaning it up.
			 */
			WaitBusy(&t, &rows);
			continue;
		}
		if (rows.busy)
		{
			outcome = ACQUIRE_BUSY;
			break;
		}
		if (rows.head == NULL && rows.nslots == 0 &&
			req->kind == LEASE_KIND_EXCLUSIVE)
		{
			outcome = GrantNewName(&t, req, token);
			break;
		}
		if (rows.head == NULL)
		{
			if (!InsertEmptyRow(&t, req->name, 0,
								req->kind == LEASE_KIND_PERMIT ? NAME_KIND_SEMAPHORE : NAME_KIND_LOCK,
								req->permits))
			{
				outcome = ACQUIRE_BUSY;
				break;
			}
			continue;
		}
		outcome = Decide(&t, req, &rows, token, retry_at);
		if (outcome != ACQUIRE_RETRY)
			break;
	}
	StoreClose(&t);
	return outcome;
}

/* Byte order of two requests' names: the order a multi-lock takes them in. */
static int
CompareRequestNames(const void *a, const void *b)
{
	const AcquireRequest *ra = (const AcquireRequest *) a;
	const AcquireRequest *rb = (const AcquireRequest *) b;
	int			la = VARSIZE_ANY_EXHDR(ra->name);
	int			lb = VARSIZE_ANY_EXHDR(rb->name);
	int			c = memcmp(VARDATA_ANY(ra->name), VARDATA_ANY(rb->name), Min(la, lb));

	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

/*
 * One attempt at every name of a multi-lock, in name order, in a
 * subtransaction: kept when every name was granted, else rolled back, so
 * that nothing stays held.  *blocked is the name that was not granted.
 */
static AcquireOutcome
TryAcquireAll(AcquireRequest *reqs, int n, int64 *tokens, int *blocked,
			  TimestampTz *retry_at)
{
	AttemptSubxact sx;
	AcquireOutcome outcome = ACQUIRE_GRANTED;

	AttemptSubxactBegin(&sx);
	for (int i = 0; i < n && outcome == ACQUIRE_GRANTED; i++)
	{
		*retry_at = DT_NOEND;
		outcome = TryAcquire(&reqs[i], &tokens[reqs[i].position], retry_at);
		if (outcome != ACQUIRE_GRANTED)
			*blocked = i;
	}
	AttemptSubxactEnd(&sx, outcome == ACQUIRE_GRANTED);
	return outcome;
}

/*
 * Acquire what reqs ask for, waiting up to wait_usecs (-1: no limit):
 * one lease (n = 1), or exclusive leases of every name of a multi-lock,
 * all or nothing, holding none of them while it waits.  Returns whether it
 * was granted; tokens[reqs[i].position] is the token of reqs[i].
 *
 * A multi-lock takes its names in byte order; an attempt that finds one not
 * free gives back the ones it took and sleeps in the queue of that one.
 * The waiter keeps its place in line (its arrival) when it moves to another
 * name's queue, and on every name of the set it steps back only for earlier
 * waiters: the oldest waiter is never passed over, so overlapping sets
 * neither deadlock nor starve one another.
 */
static bool
AcquireWaiting(AcquireRequest *reqs, int n, int64 wait_usecs, int64 *tokens)
{
	TimestampTz deadline;
	MemoryContext attempt_context;
	MemoryContext old_context;
	LockWait	wait;
	bool		waiting = false;
	int			queued_on = -1;
	bool		granted = false;

	CheckWritable(reqs[0].funcname);
	deadline = TimestampPlus(GetCurrentTimestamp(), wait_usecs);
	for (int i = 0; i < n; i++)
	{
		WaitWakeAtTransactionEnd(VARDATA_ANY(reqs[i].name),
								 VARSIZE_ANY_EXHDR(reqs[i].name));
		reqs[i].wait = NULL;
	}

	/* each attempt's allocations go when it is over: waits can be long */
	attempt_context = AllocSetContextCreate(CurrentMemoryContext,
											"lockservice acquire attempt",
											ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		TimestampTz retry_at = DT_NOEND;
		AcquireOutcome outcome;
		TimestampTz now;
		int			blocked = 0;

		old_context = MemoryContextSwitchTo(attempt_context);
		/* one name needs no subtransaction: nothing to give back */
		if (n == 1)
			outcome = TryAcquire(&reqs[0], &tokens[reqs[0].position], &retry_at);
		else
			outcome = TryAcquireAll(reqs, n, tokens, &blocked, &retry_at);
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
		if (!waiting || blocked != queued_on)
		{
			/* from here on no wake-up of that name is missed: try again */
			const char *name = VARDATA_ANY(reqs[blocked].name);
			int			len = VARSIZE_ANY_EXHDR(reqs[blocked].name);

			if (!waiting)
			{
				WaitBegin(&wait, name, len, reqs[blocked].kind);
				StatsWaiting(true);
				for (int i = 0; i < n; i++)
					reqs[i].wait = &wait;
				waiting = true;
			}
			else
				WaitMove(&wait, name, len, reqs[blocked].kind);
			queued_on = blocked;
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
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		StatsCount(STATS_ACQUIRES);
		if (waiting)
			StatsCount(STATS_ACQUIRES_WAITED);
	}
	return true;
}

/* The token of one acquire as the SQL functions return it, or NULL. */
static Datum
AcquireResult(FunctionCallInfo fcinfo, AcquireRequest *req, int64 wait_usecs)
{
	int64		token;

	if (!AcquireWaiting(req, 1, wait_usecs, &token))
		PG_RETURN_NULL();
	PG_RETURN_INT64(token);
}

/* What a request is before its arguments are read. */
static void
RequestInit(AcquireRequest *req, char kind)
{
	memset(req, 0, sizeof(AcquireRequest));
	req->funcname = kind == LEASE_KIND_EXCLUSIVE ? "lockservice.lock_acquire()" :
		kind == LEASE_KIND_SHARED ? "lockservice.lock_acquire_shared()" :
		"lockservice.sem_acquire()";
	req->kind = kind;
	req->lock_delay = -1;
}

/* Arguments common to the acquire functions: name, holder, ttl, wait. */
static int64
AcquireArguments(FunctionCallInfo fcinfo, AcquireRequest *req, char kind,
				 int ttl_arg)
{
	RequestInit(req, kind);
	req->name = InputName(fcinfo, 0, "name");
	req->holder = InputHolder(fcinfo, 1);
	req->ttl_usecs = InputTtl(fcinfo, ttl_arg, false);
	req->ttl = PG_GETARG_INTERVAL_P(ttl_arg);
	return InputWait(fcinfo, ttl_arg + 1);
}

/*
 * A request kept by session: the session's holder, no ttl of its own.  The
 * session must be the current role's, and open.
 */
static void
RequestInSession(AcquireRequest *req, int64 session)
{
	SessionInfo info;

	SessionRequireOpen(session, &info);
	req->session = session;
	req->session_end = info.expires_at;
	req->holder = info.holder;
	req->ttl = palloc0(sizeof(Interval));
	req->ttl_usecs = 0;
}

/* Arguments of the acquires in a session: name, session, [permits,] wait. */
static int64
SessionAcquireArguments(FunctionCallInfo fcinfo, AcquireRequest *req,
						char kind, int wait_arg)
{
	int64		wait_usecs;

	RequestInit(req, kind);
	req->name = InputName(fcinfo, 0, "name");
	wait_usecs = InputWait(fcinfo, wait_arg);
	RequestInSession(req, InputSession(fcinfo, 1));
	return wait_usecs;
}

/* The permits argument of sem_acquire(), into req. */
static void
PermitsArgument(FunctionCallInfo fcinfo, int argno, AcquireRequest *req)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("permits must not be NULL")));
	req->permits = PG_GETARG_INT32(argno);
	if (req->permits <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("permits must be positive, not %d", req->permits)));
}

/* A lock acquire of kind, as the SQL functions return it. */
static Datum
AcquireLock(FunctionCallInfo fcinfo, char kind)
{
	AcquireRequest req;
	int64		wait_usecs = AcquireArguments(fcinfo, &req, kind, 2);

	return AcquireResult(fcinfo, &req, wait_usecs);
}

/*
 * SQL: lockservice.lock_acquire(name, holder, ttl, wait) returns the
 * token of an exclusive lease, or NULL when it was not granted within wait.
 */
Datum
lock_acquire(PG_FUNCTION_ARGS)
{
	return AcquireLock(fcinfo, LEASE_KIND_EXCLUSIVE);
}

/*
 * SQL: lockservice.lock_acquire_shared(name, holder, ttl, wait): a shared
 * lease, held by any number of holders at once but not with an exclusive
 * one.
 */
Datum
lock_acquire_shared(PG_FUNCTION_ARGS)
{
	return AcquireLock(fcinfo, LEASE_KIND_SHARED);
}

/*
 * SQL: lockservice.sem_acquire(name, holder, permits, ttl, wait): one of
 * at most permits leases on name.
 */
Datum
sem_acquire(PG_FUNCTION_ARGS)
{
	AcquireRequest req;
	int64		wait_usecs = AcquireArguments(fcinfo, &req, LEASE_KIND_PERMIT, 3);

	PermitsArgument(fcinfo, 2, &req);
	return AcquireResult(fcinfo, &req, wait_usecs);
}

/* An acquire of kind in a session, as the SQL functions return it. */
static Datum
AcquireLockInSession(FunctionCallInfo fcinfo, char kind)
{
	AcquireRequest req;
	int64		wait_usecs = SessionAcquireArguments(fcinfo, &req, kind, 2);

	return AcquireResult(fcinfo, &req, wait_usecs);
}

/*
 * SQL: lockservice.lock_acquire(name, session, wait): an exclusive lease
 * kept by session (lockservice.session_open()) instead of a ttl of its
 * own; its token, or NULL when not granted within wait.
 */
Datum
lock_acquire_session(PG_FUNCTION_ARGS)
{
	return AcquireLockInSession(fcinfo, LEASE_KIND_EXCLUSIVE);
}

/* SQL: lockservice.lock_acquire_shared(name, session, wait) */
Datum
lock_acquire_shared_session(PG_FUNCTION_ARGS)
{
	return AcquireLockInSession(fcinfo, LEASE_KIND_SHARED);
}

/* SQL: lockservice.sem_acquire(name, session, permits, wait) */
Datum
sem_acquire_session(PG_FUNCTION_ARGS)
{
	AcquireRequest req;
	int64		wait_usecs = SessionAcquireArguments(fcinfo, &req, LEASE_KIND_PERMIT, 3);

	PermitsArgument(fcinfo, 2, &req);
	return AcquireResult(fcinfo, &req, wait_usecs);
}

/*
 * The names of a multi-lock (argument 0) into requests of kind exclusive,
 * sorted; NULL, empty and repeated names are refused.
 */
static AcquireRequest *
MultiLockNames(FunctionCallInfo fcinfo, int *n)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *elem_nulls;
	AcquireRequest *reqs;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("names must not be NULL")));
	array = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, n);
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("names must not be empty"),
				 errhint("Give at least one lock name.")));
	reqs = palloc(sizeof(AcquireRequest) * *n);
	for (int i = 0; i < *n; i++)
	{
		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("names must not contain NULL")));
		RequestInit(&reqs[i], LEASE_KIND_EXCLUSIVE);
		reqs[i].funcname = "lockservice.lock_acquire_all()";
		reqs[i].name = CheckName(DatumGetTextPP(elems[i]), "name");
		reqs[i].position = i;
	}
	qsort(reqs, *n, sizeof(AcquireRequest), CompareRequestNames);
	for (int i = 1; i < *n; i++)
		if (CompareRequestNames(&reqs[i - 1], &reqs[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("name \"%s\" is given more than once",
							text_to_cstring(reqs[i].name))));
	return reqs;
}

/* The tokens of a multi-lock, in the order of its names, or NULL. */
static Datum
MultiLockResult(FunctionCallInfo fcinfo, AcquireRequest *reqs, int n,
				int64 wait_usecs)
{
	int64	   *tokens = palloc(sizeof(int64) * n);
	Datum	   *datums = palloc(sizeof(Datum) * n);

	if (!AcquireWaiting(reqs, n, wait_usecs, tokens))
		PG_RETURN_NULL();
	for (int i = 0; i < n; i++)
		datums[i] = Int64GetDatum(tokens[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(datums, n, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * SQL: lockservice.lock_acquire_all(names, holder, ttl, wait): exclusive
 * leases of every name, all or nothing; their tokens in the order of names,
 * or NULL when they were not all granted within wait (then none is held).
 */
Datum
lock_acquire_all(PG_FUNCTION_ARGS)
{
	int			n;
	AcquireRequest *reqs = MultiLockNames(fcinfo, &n);
	text	   *holder = InputHolder(fcinfo, 1);
	int64		ttl_usecs = InputTtl(fcinfo, 2, false);
	int64		wait_usecs = InputWait(fcinfo, 3);

	for (int i = 0; i < n; i++)
	{
		reqs[i].holder = holder;
		reqs[i].ttl = PG_GETARG_INTERVAL_P(2);
		reqs[i].ttl_usecs = ttl_usecs;
	}
	return MultiLockResult(fcinfo, reqs, n, wait_usecs);
}

/* SQL: lockservice.lock_acquire_all(names, session, wait): the same in a session. */
Datum
lock_acquire_all_session(PG_FUNCTION_ARGS)
{
	int			n;
	AcquireRequest *reqs = MultiLockNames(fcinfo, &n);
	int64		session = InputSession(fcinfo, 1);
	int64		wait_usecs = InputWait(fcinfo, 2);

	for (int i = 0; i < n; i++)
		RequestInSession(&reqs[i], session);
	return MultiLockResult(fcinfo, reqs, n, wait_usecs);
}

/*
 * Find the lease of name under token and lock its row in mode.  Unless
 * any_owner, only a live lease owned by the current role counts.  Returns
 * false, with nothing locked, when there is no such lease.  Waits for
 * transactions changing that lease.
 */
static bool
LockLease(StoreTable *t, text *name, int64 token, LockTupleMode mode,
		  bool any_owner, LeaseRow *lease)
{
	for (;;)
	{
		NameRows	rows;
		LeaseRow   *found = NULL;

		ReadName(t, name, &rows);
		for (int i = -1; i < rows.nslots && found == NULL; i++)
		{
			LeaseRow   *row = i < 0 ? rows.head : &rows.slots[i];

			if (row != NULL && row->token == token && !row->released)
				found = row;
		}
		/* a busy row still shows the last committed state of the lease */
		if (found == NULL ||
			(!any_owner && (found->owner != GetUserId() ||
							StateOf(found, GetCurrentTimestamp(), NULL) != LEASE_LIVE)))
			return false;
		if (rows.busy)
		{
			WaitBusy(t, &rows);
			continue;
		}
		if (StoreLockTid(t, &found->tid, mode, true) != STORE_LOCKED)
			continue;
		*lease = *found;
		/* the row is as read, but time went on while we waited */
		return any_owner || StateOf(lease, GetCurrentTimestamp(), NULL) == LEASE_LIVE;
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
	LeaseRow	lease;
	bool		renewed = false;

	OwnLeaseCallStart(fcinfo, "lockservice.lock_renew()", &name, &token);
	LeasesOpen(&t);
	if (LockLease(&t, name, token, LockTupleNoKeyExclusive, false, &lease))
	{
		Interval   *ttl = PG_ARGISNULL(2) ? lease.ttl : PG_GETARG_INTERVAL_P(2);
		bool	   *nulls;

		if (lease.session != 0)
			ereport(ERROR,
					(errcode(ERRCODE_LS_KEPT_BY_SESSION),
					 errmsg("the lease of \"%s\" under token " INT64_FORMAT " is kept by session " INT64_FORMAT,
							text_to_cstring(name), token, lease.session),
					 errdetail("A lock in a session has no ttl of its own: it ends with its session."),
					 errhint("Renew the session with lockservice.session_renew().")));

		if (ttl_usecs < 0)
			ttl_usecs = IntervalToMicroseconds(ttl);
		SetExpiry(StoreNewRow(&t, &nulls), ttl, ttl_usecs);
		StoreUpdate(&t);
		renewed = true;
	}
	StoreClose(&t);
	StatsCount(renewed ? STATS_RENEWALS : STATS_RENEWALS_FAILED);
	PG_RETURN_BOOL(renewed);
}

/* End the lease locked in t->row: mark it released. */
static void
EndLockedLease(StoreTable *t, text *name, const LeaseRow *lease,
			   LeaseEventKind event)
{
	bool	   *nulls;
	Datum	   *values = StoreNewRow(t, &nulls);

	values[Anum_leases_released_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	nulls[Anum_leases_released_at - 1] = false;
	NoteReleasedRow();
	StoreUpdate(t);
	LeaseEvent(event, name, lease->kind, lease->holder, lease->owner,
			   lease->token, lease->session, NULL);
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
	LeaseRow	lease;
	bool		released = false;

	OwnLeaseCallStart(fcinfo, "lockservice.lock_release()", &name, &token);
	DurabilityReleaseBegin();
	LeasesOpen(&t);
	if (LockLease(&t, name, token, LockTupleExclusive, false, &lease))
	{
		EndLockedLease(&t, name, &lease, LEASE_EVENT_RELEASED);
		released = true;
		StatsCount(STATS_RELEASES);
	}
	StoreClose(&t);
	DurabilityReleaseEnd();
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
	LeaseRow	lease;
	bool		held;

	OwnLeaseCallStart(fcinfo, "lockservice.lock_check()", &name, &token);
	LeasesOpen(&t);
	held = LockLease(&t, name, token, LockTupleKeyShare, false, &lease);
	StoreClose(&t);
	PG_RETURN_BOOL(held);
}

/*
 * SQL: lockservice.force_release(name, token DEFAULT NULL) ends the leases
 * of name (only the one under token, when given), whoever holds them, and
 * returns how many it ended.  For operators: not executable by PUBLIC.
 * Waits for lock_check transactions on those leases to end.
 */
Datum
force_release(PG_FUNCTION_ARGS)
{
	text	   *name = InputName(fcinfo, 0, "name");
	int64		token = PG_ARGISNULL(1) ? 0 : InputToken(fcinfo, 1);
	StoreTable	t;
	int32		ended = 0;

	CheckWritable("lockservice.force_release()");
	WaitWakeAtTransactionEnd(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	LeasesOpen(&t);
	for (;;)
	{
		NameRows	rows;
		LeaseRow	lease;
		int64		target = token;

		if (target == 0)
		{
			/* the next lease of the name that has not ended */
			ReadName(&t, name, &rows);
			for (int i = -1; i < rows.nslots && target == 0; i++)
			{
				LeaseRow   *row = i < 0 ? rows.head : &rows.slots[i];

				if (row != NULL && StateOf(row, GetCurrentTimestamp(), NULL) != LEASE_NONE)
					target = row->token;
			}
			if (target == 0)
				break;
		}
		if (LockLease(&t, name, target, LockTupleExclusive, true, &lease))
		{
			EndLockedLease(&t, name, &lease, LEASE_EVENT_FORCED);
			ended++;
		}
		if (token != 0)
			break;
	}
	StoreClose(&t);
	PG_RETURN_INT32(ended);
}

/*
 * SQL: lockservice.lock_holder(name) returns the live leases of name:
 * holder, owner, token, kind, granted_at, expires_at.
 */
Datum
lock_holder(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *name = InputName(fcinfo, 0, "name");
	TimestampTz now = GetCurrentTimestamp();
	StoreTable	t;
	NameRows	rows;

	InitMaterializedSRF(fcinfo, 0);
	LeasesOpen(&t);
	ReadName(&t, name, &rows);
	for (int i = -1; i < rows.nslots; i++)
	{
		LeaseRow   *row = i < 0 ? rows.head : &rows.slots[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		if (row == NULL || StateOf(row, now, NULL) != LEASE_LIVE)
			continue;
		values[0] = PointerGetDatum(row->holder);
		values[1] = ObjectIdGetDatum(row->owner);
		values[2] = Int64GetDatum(row->token);
		values[3] = CStringGetTextDatum(row->kind == LEASE_KIND_EXCLUSIVE ? "exclusive" :
										row->kind == LEASE_KIND_SHARED ? "shared" : "permit");
		values[4] = TimestampTzGetDatum(row->granted_at);
		values[5] = TimestampTzGetDatum(row->expires_at);
		/* 1.5 added the session */
		values[6] = Int64GetDatum(row->session);
		nulls[6] = (row->session == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	StoreClose(&t);
	return (Datum) 0;
}

/*
 * SQL: lockservice.set_lock_delay(name, lock_delay) sets how long name
 * stays ungranted after a lease of it expires without being released;
 * NULL goes back to lockservice.lock_delay.
 */
Datum
set_lock_delay(PG_FUNCTION_ARGS)
{
	text	   *name = InputName(fcinfo, 0, "name");
	int64		delay = -1;

	if (!PG_ARGISNULL(1))
	{
		delay = IntervalToMicroseconds(PG_GETARG_INTERVAL_P(1));
		if (delay < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lock_delay must not be negative")));
	}
	CheckWritable("lockservice.set_lock_delay()");
	ScheduleNoteDue(0);			/* a shorter delay: rows may go sooner */
	LockOptionsSetDelay(name, PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1));
	PG_RETURN_VOID();
}

/* A lease of a session: its name and token. */
typedef struct SessionLease
{
	text	   *name;
	int64		token;
} SessionLease;

/*
 * The leases of a session that have not been released, as (name, token)
 * in a palloc'd array of *n, found through leases_session_idx: those an
 * open transaction is granting in the session too.
 */
static SessionLease *
SessionLeases(StoreTable *t, int64 session, int *n)
{
	Relation	index = index_open(StoreRelationOid(LEASES_SESSION_INDEX),
								   AccessShareLock);
	ScanKeyData key;
	IndexScanDesc scan;
	StoreReadResult found;
	int			capacity = 16;
	SessionLease *leases = palloc(sizeof(SessionLease) * capacity);

	*n = 0;
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(session));
	scan = StoreRangeBeginOn(t, index, &key, 1);
	while ((found = StoreRangeNext(t, scan)) != STORE_ABSENT)
	{
		bool		isnull;
		Datum		value = slot_getattr(t->row, Anum_leases_session, &isnull);

		if (isnull || DatumGetInt64(value) != session)
			continue;
		(void) slot_getattr(t->row, Anum_leases_released_at, &isnull);
		if (!isnull && found != STORE_BUSY)
			continue;
		if (*n == capacity)
		{
			capacity *= 2;
			leases = repalloc(leases, sizeof(SessionLease) * capacity);
		}
		leases[*n].name = DatumGetTextPCopy(slot_getattr(t->row, Anum_leases_name, &isnull));
		leases[*n].token = DatumGetInt64(slot_getattr(t->row, Anum_leases_token, &isnull));
		(*n)++;
	}
	StoreRangeEnd(scan);
	index_close(index, AccessShareLock);
	return leases;
}

/*
 * SQL: lockservice.session_close(session) ends the current role's open
 * session and releases every lease in it (each with its "released" event);
 * false when it was not open (closed, expired, unknown or another role's).
 */
Datum
session_close(PG_FUNCTION_ARGS)
{
	int64		session = InputSession(fcinfo, 0);
	StoreTable	t;
	SessionLease *leases;
	int			n;

	CheckWritable("lockservice.session_close()");
	WaitNoteTransactionUse();
	if (!SessionExpireNow(session))
		PG_RETURN_BOOL(false);

	/*
	 * The session has ended (in this transaction): no lease can be granted
	 * in it any more, and one being granted is waited for by LockLease().
	 */
	LeasesOpen(&t);
	leases = SessionLeases(&t, session, &n);
	for (int i = 0; i < n; i++)
	{
		LeaseRow	lease;

		WaitWakeAtTransactionEnd(VARDATA_ANY(leases[i].name),
								 VARSIZE_ANY_EXHDR(leases[i].name));
		if (LockLease(&t, leases[i].name, leases[i].token, LockTupleExclusive,
					  true, &lease) && lease.session == session)
		{
			EndLockedLease(&t, leases[i].name, &lease, LEASE_EVENT_RELEASED);
			StatsCount(STATS_RELEASES);
		}
	}
	StoreClose(&t);
	PG_RETURN_BOOL(true);
}

/*
 * Delete the rows of the sessions that have ended and that no lease (not
 * released) refers to any more: a lease of an ended session goes first,
 * reaped like any other, so that its lock-delay counts from its session's
 * end.
 */
static void
ReapSessions(StoreTable *t, TimestampTz now, TimestampTz *next_due)
{
	int			n;
	int64	   *ended = SessionsEnded(now, next_due, &n);

	for (int i = 0; i < n; i++)
	{
		int			nleases;

		pfree(SessionLeases(t, ended[i], &nleases));
		if (nleases == 0)
			(void) SessionDeleteEnded(ended[i]);
	}
	pfree(ended);
}

/* What the reaper did with one row. */
typedef enum ReapResult
{
	REAP_KEPT,
	REAP_DELETED,				/* a released row */
	REAP_EXPIRED				/* an expired lease */
} ReapResult;

/*
 * Delete the row in t->row if it has ended, else lower *next_due to when
 * it can be reaped.
 */
static ReapResult
ReapRow(StoreTable *t, TimestampTz now, TimestampTz *next_due)
{
	LeaseRow	lease;
	bool		isnull;
	bool		is_expired;
	text	   *name;

	LeaseRowFromSlot(t, &lease);
	/* a lock whose session row is missing: left to the next acquire */
	if (lease.session != 0 && !lease.released && reap_session_ends != NULL &&
		SessionCachedMissing(lease.session, reap_session_ends))
		return REAP_KEPT;
	if (lease.released)
	{
		TimestampTz released_at = DatumGetTimestampTz(slot_getattr(t->row, Anum_leases_released_at, &isnull));

		if (released_at > now - REAP_RELEASED_AFTER_USECS)
		{
			*next_due = Min(*next_due,
							TimestampPlus(released_at, REAP_RELEASED_AFTER_USECS));
			return REAP_KEPT;
		}
		is_expired = false;
	}
	else if (lease.expires_at <= now)
		is_expired = true;
	else
	{
		*next_due = Min(*next_due, lease.expires_at);
		return REAP_KEPT;
	}

	name = DatumGetTextPCopy(slot_getattr(t->row, Anum_leases_name, &isnull));
	if (is_expired)
	{
		TimestampTz delay_end = TimestampPlus(lease.expires_at, LockOptionsDelay(name));

		if (now < delay_end)
		{
			/* keep it through its lock-delay */
			*next_due = Min(*next_due, delay_end);
			return REAP_KEPT;
		}
	}
	/* a session being renewed right now has not ended */
	if (is_expired && lease.session != 0 &&
		SessionPinEnded(lease.session) != SESSION_PIN_ENDED)
	{
		*next_due = now;		/* look again next round */
		return REAP_KEPT;
	}
	if (StoreLockTid(t, &lease.tid, LockTupleExclusive, false) != STORE_LOCKED)
	{
		*next_due = now;		/* busy: look again next round */
		return REAP_KEPT;
	}
	if (is_expired)
		LeaseEvent(LEASE_EVENT_EXPIRED, name, lease.kind, lease.holder,
				   lease.owner, lease.token, lease.session, NULL);
	StoreDelete(t);
	WaitWakeAtTransactionEnd(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	return is_expired ? REAP_EXPIRED : REAP_DELETED;
}

/*
 * Delete up to max_rows lease rows that have ended: expired leases past
 * their lock-delay, and rows released more than REAP_RELEASED_AFTER_USECS
 * ago (kept until then so that a name used again soon is a HOT update,
 * not an insert).  Rows that a transaction holds locked (a lock_check, an
 * acquire in progress) are skipped, never waited for.
 *
 * The scan starts at block *block; when the batch is full, *more is set
 * and *block says where the next batch goes on, so that a round of
 * batches reads the table once.  *next_due is lowered to the earliest time
 * a row kept can be reaped.  Returns the number of expired leases reaped;
 * *released is set to the number of released rows deleted.
 * Runs in the caller's transaction and snapshot; waiters wake when it
 * commits.
 */
int64
LeaseReapEnded(int max_rows, BlockNumber *block, bool *more,
			   TimestampTz *next_due, int64 *released)
{
	StoreTable	t;
	TableScanDesc scan;
	TimestampTz now = GetCurrentTimestamp();
	int64		expired = 0;
	int			deleted = 0;
	MemoryContext row_context;

	*more = false;
	/* what a row needs is freed before the next one: tables can be large */
	row_context = AllocSetContextCreate(CurrentMemoryContext,
										"lockservice reaper row",
										ALLOCSET_SMALL_SIZES);
	LeasesOpen(&t);
	/* each session's end is read once a batch (a pin checks it again) */
	reap_session_ends = t.natts >= Anum_leases_session ? SessionCacheCreate() : NULL;
	PG_TRY();
	{
		scan = StoreBeginScan(&t, GetActiveSnapshot(), *block);
		while (StoreScanNext(&t, scan))
		{
			MemoryContext old_context = MemoryContextSwitchTo(row_context);
			ReapResult	result = ReapRow(&t, now, next_due);

			MemoryContextSwitchTo(old_context);
			MemoryContextReset(row_context);
			if (result == REAP_KEPT)
				continue;
			if (result == REAP_EXPIRED)
				expired++;
			if (++deleted >= max_rows)
			{
				/* the rest of this row's block and the blocks after it */
				*block = ItemPointerGetBlockNumber(&t.row->tts_tid);
				*more = true;
				break;
			}
		}
		table_endscan(scan);
		if (!*more && reap_session_ends != NULL)
			ReapSessions(&t, now, next_due);
	}
	PG_FINALLY();
	{
		if (reap_session_ends != NULL)
			hash_destroy(reap_session_ends);
		reap_session_ends = NULL;
	}
	PG_END_TRY();
	StoreClose(&t);
	MemoryContextDelete(row_context);
	*released = deleted - expired;
	return expired;
}
