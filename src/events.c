/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Lease events (acquired, released, expired, taken_over) published on
 *	  the LISTEN channel "lockservice" after commit.
 *
 * A transaction that called NOTIFY holds a cluster-wide lock through its
 * commit (the fsync and the synchronous-replication wait included), which
 * would serialize every acquire; and a listener that stops reading fills
 * the notification queue until notifying commits fail.  So lockservice
 * calls never notify themselves.  They note their events, and once their
 * transaction has committed they copy them into a ring in shared memory
 * (dropping nothing of theirs on abort, and an aborted subtransaction's
 * events with it).  Each database's reaper drains the ring and notifies in
 * its own transactions: a full notification queue costs events (counted
 * in lockservice.stats), never an acquire.  A reader that falls more than
 * the ring's size behind loses the oldest events, counted too.
 *
 * Committing transactions copy their events under the ring's lock held
 * shared: each reserves its positions with an atomic add and writes its
 * own slots, so commits do not queue behind one another.  The reaper reads
 * the ring (and reader entries are created or reused) under the lock held
 * exclusively, when no copy is half done.
 *
 * Events need shared_preload_libraries; lockservice.events = off turns
 * them off.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "events.h"
#include "lockservice.h"
#include "stats.h"

#define EVENTS_SHMEM_NAME		"lockservice events v4"
#define EVENTS_RING_SIZE		1024
#define EVENTS_MAX_READERS		256
#define EVENTS_TEXT_MAX			1024	/* max of the name/holder GUCs */
#define EVENTS_PUBLISH_BATCH	256
#define EVENTS_CHANNEL			"lockservice"
#define NOTIFY_PAYLOAD_LIMIT	(BLCKSZ - NAMEDATALEN - 128)	/* as async.c */

/* GUC */
bool		lockservice_events = true;

typedef struct EventData
{
	uint64		seq;			/* 1, 2, ...: position in the stream */
	Oid			dboid;
	LeaseEventKind kind;
	int64		token;
	int64		previous_token;
	int64		session;		/* 0: none */
	Oid			actor;			/* the role that made it happen */
	TimestampTz at;
	int			name_len;
	int			holder_len;
	int			previous_holder_len;
	/* name, holder and previous holder, one after the other */
	char		text[3 * EVENTS_TEXT_MAX];
} EventData;

#define EventName(e)			((e)->text)
#define EventHolder(e)			((e)->text + (e)->name_len)
#define EventPreviousHolder(e)	((e)->text + (e)->name_len + (e)->holder_len)

/* The bytes of an event that are in use: only those are copied. */
#define EventSize(e) \
	(offsetof(EventData, text) + (e)->name_len + (e)->holder_len + \
	 (e)->previous_holder_len)

/* A reaper that publishes the events of its database. */
typedef struct EventReader
{
	Oid			dboid;
	Latch	   *latch;			/* NULL while no reaper runs there */
	uint64		position;		/* next event to publish (kept across restarts) */
	pg_atomic_uint64 last_event;	/* the database's newest event in the ring */
	pg_atomic_uint32 sleeping;	/* set: wake it when an event comes */
} EventReader;

typedef struct EventsShared
{
	uint32		layout_version;
	LWLock	   *lock;			/* shared: copying events in; exclusive: reading
								 * the ring, changing reader entries */
	pg_atomic_uint64 next_seq;	/* the next position to hand out */
	EventReader readers[EVENTS_MAX_READERS];
	slock_t		slot_locks[EVENTS_RING_SIZE];	/* writers of one slot */
	EventData	ring[EVENTS_RING_SIZE];
} EventsShared;

/* An event noted by this backend, waiting for its transaction to commit. */
typedef struct PendingEvent
{
	int			nest_level;
	EventData	data;
} PendingEvent;

static EventsShared *events_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static List *pending_events = NIL;	/* in TopTransactionContext */

static void
EventsShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(EventsShared));
	RequestNamedLWLockTranche("lockservice events", 1);
}

static void
EventsShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	events_shared = ShmemInitStruct(EVENTS_SHMEM_NAME, sizeof(EventsShared), &found);
	if (!found)
	{
		memset(events_shared, 0, sizeof(EventsShared));
		events_shared->layout_version = 4;
		events_shared->lock = &(GetNamedLWLockTranche("lockservice events"))->lock;
		pg_atomic_init_u64(&events_shared->next_seq, 1);
		for (int i = 0; i < EVENTS_MAX_READERS; i++)
		{
			pg_atomic_init_u32(&events_shared->readers[i].sleeping, 0);
			pg_atomic_init_u64(&events_shared->readers[i].last_event, 0);
		}
		for (int i = 0; i < EVENTS_RING_SIZE; i++)
			SpinLockInit(&events_shared->slot_locks[i]);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The reader entry of a database, or with create a new one starting at
 * position: a free entry, else one of a database whose every event was
 * published and whose reaper is not running.  NULL when none is left.
 * Caller holds the lock exclusively (shared is enough without create).
 */
static EventReader *
EventsReaderFor(Oid dboid, bool create, uint64 position)
{
	EventReader *reusable = NULL;

	for (int i = 0; i < EVENTS_MAX_READERS; i++)
	{
		EventReader *reader = &events_shared->readers[i];

		if (reader->dboid == dboid)
			return reader;
		if (reusable == NULL &&
			(reader->dboid == InvalidOid ||
			 (reader->latch == NULL &&
			  reader->position > pg_atomic_read_u64(&reader->last_event))))
			reusable = reader;
	}
	if (!create || reusable == NULL)
		return NULL;
	reusable->dboid = dboid;
	reusable->latch = NULL;
	reusable->position = position;
	pg_atomic_write_u64(&reusable->last_event, 0);
	pg_atomic_write_u32(&reusable->sleeping, 0);
	return reusable;
}

/*
 * Copy the committed transaction's events into the ring, and make sure its
 * database has a reader entry from its first event on (a reaper that starts
 * later publishes from there).  Cannot fail.
 */
static void
EventsFlushPending(void)
{
	ListCell   *lc;
	EventReader *reader;
	Latch	   *wake = NULL;
	uint64		seq;
	uint64		last;
	uint64		seen;

	if (pending_events == NIL || events_shared == NULL)
		return;
	LWLockAcquire(events_shared->lock, LW_SHARED);
	reader = EventsReaderFor(MyDatabaseId, false, 0);
	if (reader == NULL)
	{
		/* the database's first events: create its entry (rare) */
		LWLockRelease(events_shared->lock);
		LWLockAcquire(events_shared->lock, LW_EXCLUSIVE);
		reader = EventsReaderFor(MyDatabaseId, true,
								 pg_atomic_read_u64(&events_shared->next_seq));
	}
	seq = pg_atomic_fetch_add_u64(&events_shared->next_seq,
								  list_length(pending_events));
	foreach(lc, pending_events)
	{
		PendingEvent *pending = lfirst(lc);
		EventData  *slot = &events_shared->ring[seq % EVENTS_RING_SIZE];
		slock_t    *slot_lock = &events_shared->slot_locks[seq % EVENTS_RING_SIZE];

		/*
		 * A copy that was slow while others went round the whole ring
		 * meets a newer event in its slot: its own is lost, never mixed
		 * with the newer one.
		 */
		SpinLockAcquire(slot_lock);
		if (slot->seq < seq)
		{
			memcpy(slot, &pending->data, EventSize(&pending->data));
			slot->seq = seq;
		}
		SpinLockRelease(slot_lock);
		seq++;
	}
	if (reader != NULL)
	{
		/* the newest event of the database: other commits raise it too */
		last = seq - 1;
		seen = pg_atomic_read_u64(&reader->last_event);
		while (seen < last &&
			   !pg_atomic_compare_exchange_u64(&reader->last_event, &seen, last))
			;
		if (reader->latch != NULL && pg_atomic_exchange_u32(&reader->sleeping, 0) != 0)
			wake = reader->latch;
	}
	LWLockRelease(events_shared->lock);
	if (reader == NULL)			/* more databases with events than entries */
		StatsAdd(STATS_EVENTS_DROPPED, list_length(pending_events));
	if (wake != NULL)
		SetLatch(wake);
}

/* Whether events of a database wait in the ring to be published. */
bool
EventsPending(Oid dboid)
{
	EventReader *reader;
	bool		pending = false;

	if (events_shared == NULL)
		return false;
	LWLockAcquire(events_shared->lock, LW_SHARED);
	reader = EventsReaderFor(dboid, false, 0);
	if (reader != NULL)
		pending = reader->position <= pg_atomic_read_u64(&reader->last_event);
	LWLockRelease(events_shared->lock);
	return pending;
}

static void
EventsXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			EventsFlushPending();
			pending_events = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			pending_events = NIL;	/* freed with TopTransactionContext */
			break;
		default:
			break;
	}
}

static void
EventsSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			nest_level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	foreach(lc, pending_events)
	{
		PendingEvent *pending = lfirst(lc);

		if (pending->nest_level < nest_level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			pending_events = foreach_delete_current(pending_events, lc);
		else
			pending->nest_level = nest_level - 1;
	}
}

/* Set up shared memory (when preloaded) and the transaction callbacks. */
void
EventsInit(void)
{
	DefineCustomBoolVariable("lockservice.events",
							 "Publishes lease events on the LISTEN channel \"lockservice\".",
							 "Needs shared_preload_libraries.",
							 &lockservice_events,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = EventsShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = EventsShmemStartup;
	RegisterXactCallback(EventsXactCallback, NULL);
	RegisterSubXactCallback(EventsSubXactCallback, NULL);
}



/*
 * Note an event of the current transaction; it is published if and when
 * the transaction commits.
 */
void
EventNote(LeaseEventKind kind, const char *name, int name_len,
		  const char *holder, int holder_len, int64 token, int64 session,
		  const char *previous_holder, int previous_holder_len,
		  int64 previous_token)
{
	MemoryContext old;
	PendingEvent *pending;
	EventData  *data;

	if (events_shared == NULL || !lockservice_events)
		return;
	name_len = Min(name_len, EVENTS_TEXT_MAX);
	holder_len = Min(holder_len, EVENTS_TEXT_MAX);
	previous_holder_len = previous_holder ? Min(previous_holder_len, EVENTS_TEXT_MAX) : 0;
	old = MemoryContextSwitchTo(TopTransactionContext);
	pending = palloc(offsetof(PendingEvent, data) + offsetof(EventData, text) +
					 name_len + holder_len + previous_holder_len);
	data = &pending->data;
	data->seq = 0;
	pending->nest_level = GetCurrentTransactionNestLevel();
	pending->data.dboid = MyDatabaseId;
	pending->data.kind = kind;
	pending->data.token = token;
	pending->data.previous_token = previous_token;
	pending->data.session = session;
	pending->data.actor = GetUserId();
	pending->data.at = GetCurrentTimestamp();
	data->name_len = name_len;
	data->holder_len = holder_len;
	data->previous_holder_len = previous_holder_len;
	memcpy(EventName(data), name, name_len);
	memcpy(EventHolder(data), holder, holder_len);
	if (previous_holder_len > 0)
		memcpy(EventPreviousHolder(data), previous_holder, previous_holder_len);
	pending_events = lappend(pending_events, pending);
	MemoryContextSwitchTo(old);
}

/*
 * Register a database's reader; returns its index, or -1.  *position is
 * where it starts: where the database's previous reader stopped (a
 * restarted reaper loses nothing), else at the events still to come.
 */
int
EventsRegisterReader(Oid dboid, uint64 *position)
{
	EventReader *reader;
	int			found = -1;

	*position = 0;
	if (events_shared == NULL)
		return -1;
	LWLockAcquire(events_shared->lock, LW_EXCLUSIVE);
	reader = EventsReaderFor(dboid, true, pg_atomic_read_u64(&events_shared->next_seq));
	if (reader != NULL)
	{
		reader->latch = MyLatch;
		pg_atomic_write_u32(&reader->sleeping, 0);
		*position = reader->position;
		found = reader - events_shared->readers;
	}
	LWLockRelease(events_shared->lock);
	return found;
}

/* Remember how far a reader has published. */
static void
EventsSavePosition(Oid dboid, uint64 position)
{
	for (int i = 0; i < EVENTS_MAX_READERS; i++)
		if (events_shared->readers[i].dboid == dboid)
			events_shared->readers[i].position = position;
}

/* A reader stops (reaper exit); its position stays for the next one. */
void
EventsUnregisterReader(int reader)
{
	if (events_shared == NULL || reader < 0)
		return;
	LWLockAcquire(events_shared->lock, LW_EXCLUSIVE);
	events_shared->readers[reader].latch = NULL;
	LWLockRelease(events_shared->lock);
}

/* The position a new reader starts from: only events still to come. */
uint64
EventsCurrentPosition(void)
{
	uint64		seq;

	if (events_shared == NULL)
		return 0;
	LWLockAcquire(events_shared->lock, LW_SHARED);
	seq = pg_atomic_read_u64(&events_shared->next_seq);
	LWLockRelease(events_shared->lock);
	return seq;
}

/*
 * A reader is about to sleep: ask writers to wake it.  Returns false when
 * events came in meanwhile (then do not sleep).
 */
bool
EventsPrepareToSleep(int reader, uint64 position)
{
	if (events_shared == NULL || reader < 0)
		return true;
	pg_atomic_write_u32(&events_shared->readers[reader].sleeping, 1);
	return EventsCurrentPosition() == position;
}

/* The name of an event, in payloads and in lockservice.history. */
const char *
LeaseEventName(LeaseEventKind kind)
{
	switch (kind)
	{
		case LEASE_EVENT_ACQUIRED:
			return "acquired";
		case LEASE_EVENT_RELEASED:
			return "released";
		case LEASE_EVENT_EXPIRED:
			return "expired";
		case LEASE_EVENT_TAKEN_OVER:
			return "taken_over";
		case LEASE_EVENT_FORCED:
			return "forced_release";
	}
	return "unknown";
}

/* Append "key":"text" to a JSON object. */
static void
JsonText(StringInfo buf, const char *key, const char *text, int len)
{
	char	   *copy = pnstrdup(text, len);

	appendStringInfo(buf, ",\"%s\":", key);
	escape_json(buf, copy);
	pfree(copy);
}

/* The JSON payload of an event. */
static void
EventPayload(StringInfo buf, const EventData *event)
{
	resetStringInfo(buf);
	appendStringInfo(buf, "{\"event\":\"%s\"", LeaseEventName(event->kind));
	JsonText(buf, "name", EventName(event), event->name_len);
	JsonText(buf, "holder", EventHolder(event), event->holder_len);
	appendStringInfo(buf, ",\"token\":" INT64_FORMAT, event->token);
	if (event->session != 0)
		appendStringInfo(buf, ",\"session\":" INT64_FORMAT, event->session);
	if (event->kind == LEASE_EVENT_TAKEN_OVER)
	{
		JsonText(buf, "previous_holder", EventPreviousHolder(event),
				 event->previous_holder_len);
		appendStringInfo(buf, ",\"previous_token\":" INT64_FORMAT,
						 event->previous_token);
	}
	if (event->kind == LEASE_EVENT_FORCED)
	{
		const char *actor = GetUserNameFromId(event->actor, true);

		appendStringInfoString(buf, ",\"by\":");
		escape_json(buf, actor ? actor : "");
	}
	appendStringInfo(buf, ",\"at\":\"%s\"}", timestamptz_to_str(event->at));
}

/*
 * Publish the events of database dboid after *position: NOTIFY them in
 * transactions of up to EVENTS_PUBLISH_BATCH.  Runs in the reaper, outside
 * any transaction.  Returns the number published.
 */
int64
EventsPublish(Oid dboid, uint64 *position)
{
	static EventData *batch = NULL;
	StringInfoData payload;
	volatile int64 published = 0;

	if (events_shared == NULL)
		return 0;
	if (batch == NULL)
		batch = MemoryContextAlloc(TopMemoryContext,
								   sizeof(EventData) * EVENTS_PUBLISH_BATCH);
	initStringInfo(&payload);
	for (;;)
	{
		int			n = 0;
		uint64		lost = 0;
		MemoryContext old = CurrentMemoryContext;
		uint64		next_seq;

		/* exclusively: every copy into the ring is complete */
		LWLockAcquire(events_shared->lock, LW_EXCLUSIVE);
		next_seq = pg_atomic_read_u64(&events_shared->next_seq);
		if (next_seq - *position > EVENTS_RING_SIZE)
		{
			lost = next_seq - EVENTS_RING_SIZE - *position;
			*position = next_seq - EVENTS_RING_SIZE;
		}
		while (*position < next_seq && n < EVENTS_PUBLISH_BATCH)
		{
			EventData  *event = &events_shared->ring[*position % EVENTS_RING_SIZE];

			if (event->seq != *position)
				lost++;			/* a newer event took its slot */
			else if (event->dboid == dboid)
				memcpy(&batch[n++], event, EventSize(event));
			(*position)++;
		}
		EventsSavePosition(dboid, *position);
		LWLockRelease(events_shared->lock);
		StatsAdd(STATS_EVENTS_DROPPED, (int64) lost);
		if (n == 0)
			break;

		PG_TRY();
		{
			StartTransactionCommand();
			for (int i = 0; i < n; i++)
			{
				EventPayload(&payload, &batch[i]);
				if (payload.len >= NOTIFY_PAYLOAD_LIMIT)
					StatsCount(STATS_EVENTS_DROPPED);	/* over NOTIFY's limit */
				else
					Async_Notify(EVENTS_CHANNEL, payload.data);
			}
			CommitTransactionCommand();
			published += n;
		}
		PG_CATCH();
		{
			/* most likely a full notification queue: drop, never block */
			MemoryContextSwitchTo(old);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			StatsAdd(STATS_EVENTS_DROPPED, n);
		}
		PG_END_TRY();
	}
	pfree(payload.data);
	return published;
}
