/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Where waiters sleep, and who wakes them.
 *
 * With lockservice in shared_preload_libraries, shared memory holds the
 * queue of waiters: one entry per backend (the lock name's hash, the kind
 * of lease wanted, the order of arrival, a "woken" flag) and, per "wait
 * slot" a name hashes to, how many wait there, so that a name nobody waits
 * for costs one atomic read.  A waiter sleeps on its latch until the lease
 * it waits for expires, its own deadline passes, or it is woken.
 *
 * The queue is first come, first served: an attempt that could be granted
 * steps back while an earlier waiter on the same name wants a lease that
 * conflicts with it (for a shared lock: an exclusive one), and so does an
 * attempt that does not wait at all.  So only the head of a name's queue
 * can be granted next (and, when it wants a shared lock, the shared
 * waiters before the first exclusive one), and only they are woken: every
 * transaction that touched a name (acquired, renewed, released or checked
 * it) wakes them when it ends, commit or abort, and a subtransaction does
 * when it aborts: after the transaction's locks are gone, from a
 * resource-release callback that cannot fail (no allocation, one LWLock,
 * SetLatch).  A woken waiter reads the lease again.  A waiter leaves the
 * queue when it is granted, times out or fails (cancel included), and
 * wakes the name's new head as it goes.  The rest sleep: a hand-off wakes
 * one process, not every waiter of the name.
 *
 * Without shared memory, waiters sleep and retry with a short backoff, and
 * there is no queue: fairness is left to chance.
 *
 * The transaction callbacks also refuse PREPARE TRANSACTION after any
 * lockservice call: a prepared transaction would pin the lease and could
 * not wake waiters when it is finally committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "lockservice.h"
#include "stats.h"
#include "wait.h"

/* The shared-memory layout says its version in its name and its header. */
#define WAIT_SHMEM_NAME			"lockservice wait queue v2"
#define WAIT_LAYOUT_VERSION		2

/* Longest sleep between retries without shared memory. */
#define WAIT_MAX_BACKOFF_MS		20

/* longest sleep between two looks at whether the extension still exists */
#define WAIT_EXTENSION_CHECK_MS	500

/* Names one transaction remembers before it wakes every waiter instead. */
#define WAIT_MAX_TRACKED		64

/* A waiting backend, in the queue (one entry per backend). */
typedef struct WaiterEntry
{
	bool		active;
	char		kind;			/* the lease kind it waits for */
	uint64		name_hash;
	uint64		arrival;		/* order of arrival */
	pg_atomic_uint32 woken;		/* set (then the latch) by a waker */
} WaiterEntry;

/*
 * Header of the shared memory; then the number of queued waiters per
 * slot, and the queue entries.
 */
typedef struct WaitShared
{
	uint32		layout_version;
	int			nslots;
	int			nentries;
	LWLock	   *queue_lock;		/* protects the entries */
	pg_atomic_uint64 next_arrival;
} WaitShared;

/* A name whose waiters must be woken: its hash and its slot. */
typedef struct WakeName
{
	uint64		name_hash;
	int			slot;
} WakeName;

/* A name this transaction touched, and the deepest level that touched it. */
typedef struct TrackedName
{
	WakeName	name;
	int			nest_level;
} TrackedName;

static WaitShared *wait_shared = NULL;
static pg_atomic_uint32 *wait_queued = NULL;	/* queued waiters per slot */
static WaiterEntry *wait_entries = NULL;

/* this backend's place in the queue, if it has one */
static bool queued_self = false;
static WakeName queued_name;

/* an attempt runs in a subtransaction it may roll back: not an error */
static bool in_attempt_subxact = false;
static SubTransactionId attempt_subid = InvalidSubTransactionId;
static int	attempt_depth = 0;	/* attempts within attempts (a multi-lock's) */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* names touched by the current transaction */
static TrackedName tracked[WAIT_MAX_TRACKED];
static int	ntracked = 0;
static int	overflow_level = 0;	/* > 0: more names than tracked[] holds */
static bool transaction_used = false;

/* names to wake once the ending (sub)transaction's locks are released */
static WakeName pending[WAIT_MAX_TRACKED];
static int	npending = 0;
static bool pending_all = false;

static Size
WaitShmemSize(void)
{
	Size		size = MAXALIGN(sizeof(WaitShared));

	size = add_size(size, MAXALIGN(mul_size(lockservice_wait_slots, sizeof(pg_atomic_uint32))));
	size = add_size(size, mul_size(MaxBackends, sizeof(WaiterEntry)));
	return size;
}

static void
WaitShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(WaitShmemSize());
	RequestNamedLWLockTranche("lockservice waits", 1);
}

static void
WaitShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wait_shared = ShmemInitStruct(WAIT_SHMEM_NAME, WaitShmemSize(), &found);
	wait_queued = (pg_atomic_uint32 *) ((char *) wait_shared + MAXALIGN(sizeof(WaitShared)));
	wait_entries = (WaiterEntry *) ((char *) wait_queued +
									MAXALIGN(lockservice_wait_slots * sizeof(pg_atomic_uint32)));
	if (!found)
	{
		wait_shared->layout_version = WAIT_LAYOUT_VERSION;
		wait_shared->nslots = lockservice_wait_slots;
		wait_shared->nentries = MaxBackends;
		wait_shared->queue_lock = &(GetNamedLWLockTranche("lockservice waits"))->lock;
		pg_atomic_init_u64(&wait_shared->next_arrival, 1);
		for (int i = 0; i < lockservice_wait_slots; i++)
			pg_atomic_init_u32(&wait_queued[i], 0);
		memset(wait_entries, 0, MaxBackends * sizeof(WaiterEntry));
		for (int i = 0; i < MaxBackends; i++)
			pg_atomic_init_u32(&wait_entries[i].woken, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Add a name to the wake-up list of the (sub)transaction that is ending. */
static void
WaitAddPending(const WakeName *name)
{
	for (int i = 0; i < npending; i++)
		if (pending[i].name_hash == name->name_hash)
			return;
	if (npending < WAIT_MAX_TRACKED)
		pending[npending++] = *name;
	else
		pending_all = true;
}

/* Set a queued backend's woken flag, then its latch. */
static void
WaitWakeEntry(int procno)
{
	pg_atomic_write_u32(&wait_entries[procno].woken, 1);
	SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/*
 * Wake the waiters of a name that may be granted next: the head of its
 * queue and, when that one wants a shared lock, every shared waiter before
 * the first one that wants anything else.  Later waiters would only step
 * back for them.  Must not fail: it runs during commit and abort.
 */
static void
WaitWakeName(const WakeName *name)
{
	uint64		head = PG_UINT64_MAX;
	uint64		first_other = PG_UINT64_MAX;

	/* the change being announced must be visible before the count is read */
	pg_memory_barrier();
	if (pg_atomic_read_u32(&wait_queued[name->slot]) == 0)
		return;
	LWLockAcquire(wait_shared->queue_lock, LW_SHARED);
	for (int i = 0; i < wait_shared->nentries; i++)
	{
		WaiterEntry *entry = &wait_entries[i];

		if (!entry->active || entry->name_hash != name->name_hash)
			continue;
		head = Min(head, entry->arrival);
		if (entry->kind != LEASE_KIND_SHARED)
			first_other = Min(first_other, entry->arrival);
	}
	for (int i = 0; i < wait_shared->nentries && head != PG_UINT64_MAX; i++)
	{
		WaiterEntry *entry = &wait_entries[i];

		if (entry->active && entry->name_hash == name->name_hash &&
			(entry->arrival == head ||
			 (entry->kind == LEASE_KIND_SHARED && entry->arrival < first_other)))
			WaitWakeEntry(i);
	}
	LWLockRelease(wait_shared->queue_lock);
}

/* Wake every waiter (a transaction touched too many names to track). */
static void
WaitWakeAll(void)
{
	LWLockAcquire(wait_shared->queue_lock, LW_SHARED);
	for (int i = 0; i < wait_shared->nentries; i++)
		if (wait_entries[i].active)
			WaitWakeEntry(i);
	LWLockRelease(wait_shared->queue_lock);
}

/* Wake the pending names.  Must not fail: it runs during commit and abort. */
static void
WaitWakePending(void)
{
	if (wait_shared == NULL)
		return;
	if (pending_all)
		WaitWakeAll();
	else
	{
		for (int i = 0; i < npending; i++)
			WaitWakeName(&pending[i]);
	}
	npending = 0;
	pending_all = false;
}

/*
 * A subtransaction at nest_level ends: on abort its slots wake; either way
 * they now belong to the parent.
 */
static void
WaitEndSubTransaction(int nest_level, bool aborted)
{
	for (int i = 0; i < ntracked; i++)
	{
		if (tracked[i].nest_level < nest_level)
			continue;
		if (aborted)
			WaitAddPending(&tracked[i].name);
		tracked[i].nest_level = nest_level - 1;
	}
	if (overflow_level >= nest_level)
	{
		if (aborted)
			pending_all = true;
		overflow_level = nest_level - 1;
	}
}

/* Leave the queue, if in it, and let the next waiter go.  Cannot fail. */
static void
WaitLeaveQueue(void)
{
	if (!queued_self)
		return;
	LWLockAcquire(wait_shared->queue_lock, LW_EXCLUSIVE);
	wait_entries[MyProcIndex].active = false;
	LWLockRelease(wait_shared->queue_lock);
	pg_atomic_fetch_sub_u32(&wait_queued[queued_name.slot], 1);
	queued_self = false;
	WaitWakeName(&queued_name);
}

static void
WaitXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (transaction_used)
				ereport(ERROR,
						(errcode(ERRCODE_LS_PREPARE_REFUSED),
						 errmsg("cannot PREPARE a transaction that called lockservice functions"),
						 errdetail("A prepared transaction would pin its leases and could not wake their waiters."),
						 errhint("Commit or roll back the transaction instead.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			StatsAtAbort();
			/* FALLTHROUGH */
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* no waiter outlives its transaction (an error caught mid-wait) */
			WaitLeaveQueue();
			in_attempt_subxact = false;
			attempt_depth = 0;
			for (int i = 0; i < ntracked; i++)
				WaitAddPending(&tracked[i].name);
			if (overflow_level > 0)
				pending_all = true;
			ntracked = 0;
			overflow_level = 0;
			transaction_used = false;
			break;
		default:
			break;
	}
}

static void
WaitSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		if (in_attempt_subxact && mySubid > attempt_subid)
		{
			/* a subtransaction within the attempt's: the attempt goes on */
		}
		else if (in_attempt_subxact && mySubid == attempt_subid)
		{
			/*
			 * The attempt's own subtransaction: rolled back by the attempt
			 * (the waiter waits on), or by an error that leaves the attempt
			 * (then the enclosing (sub)transaction's abort, or its commit
			 * if the error is caught, takes the waiter out of the queue).
			 */
			in_attempt_subxact = false;
			attempt_depth = 0;
		}
		else
		{
			StatsAtAbort();
			WaitLeaveQueue();
		}
		WaitEndSubTransaction(GetCurrentTransactionNestLevel(), true);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		WaitEndSubTransaction(GetCurrentTransactionNestLevel(), false);
}

/*
 * Wake waiters once the ending transaction's locks are released, so that a
 * woken waiter finds the row free rather than still locked.
 */
static void
WaitResourceReleaseCallback(ResourceReleasePhase phase, bool isCommit,
							bool isTopLevel, void *arg)
{
	if (phase == RESOURCE_RELEASE_AFTER_LOCKS &&
		(npending > 0 || pending_all))
		WaitWakePending();
}

/* Set up shared memory (when preloaded) and the transaction callbacks. */
void
WaitInit(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = WaitShmemRequest;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = WaitShmemStartup;
	}
	RegisterXactCallback(WaitXactCallback, NULL);
	RegisterSubXactCallback(WaitSubXactCallback, NULL);
	RegisterResourceReleaseCallback(WaitResourceReleaseCallback, NULL);
}

/* Whether waits sleep on condition variables. */
bool
WaitUsesSharedMemory(void)
{
	return wait_shared != NULL;
}

/* A lock name's 64-bit hash, and the slot that hash falls in. */
static WakeName
WaitNameOf(const char *name, int len)
{
	WakeName	result;

	result.name_hash = WaitNameHash(name, len);
	result.slot = (int) (result.name_hash % (uint64) wait_shared->nslots);
	return result;
}

/*
 * Note that the current transaction touched a lock name: when it ends (or
 * the current subtransaction aborts), waiters on that name wake.  Also
 * marks the transaction as one that cannot be prepared.
 */
void
WaitWakeAtTransactionEnd(const char *name, int len)
{
	WakeName	wake;
	int			nest_level = GetCurrentTransactionNestLevel();

	transaction_used = true;
	if (wait_shared == NULL)
		return;
	wake = WaitNameOf(name, len);
	for (int i = 0; i < ntracked; i++)
	{
		if (tracked[i].name.name_hash == wake.name_hash)
		{
			tracked[i].nest_level = Max(tracked[i].nest_level, nest_level);
			return;
		}
	}
	if (ntracked < WAIT_MAX_TRACKED)
	{
		tracked[ntracked].name = wake;
		tracked[ntracked].nest_level = nest_level;
		ntracked++;
	}
	else
		overflow_level = Max(overflow_level, nest_level);
}

/* Mark the transaction as one that used lockservice (it cannot be prepared). */
void
WaitNoteTransactionUse(void)
{
	transaction_used = true;
}

/*
 * Start waiting for a lease of kind on a lock name, and take a place in
 * its queue.  From here on a wake-up is not missed, even one that comes
 * before WaitSleep().
 */
void
WaitBegin(LockWait *w, const char *name, int len, char kind)
{
	w->backoff_ms = 1;
	w->slot = -1;
	w->arrival = PG_UINT64_MAX;
	if (wait_shared == NULL || MyProc == NULL ||
		MyProcIndex >= wait_shared->nentries)
		return;
	queued_name = WaitNameOf(name, len);
	w->slot = queued_name.slot;

	/* counted first: a waker that sees no count may skip the queue */
	pg_atomic_fetch_add_u32(&wait_queued[w->slot], 1);
	LWLockAcquire(wait_shared->queue_lock, LW_EXCLUSIVE);
	w->arrival = pg_atomic_fetch_add_u64(&wait_shared->next_arrival, 1);
	pg_atomic_write_u32(&wait_entries[MyProcIndex].woken, 0);
	wait_entries[MyProcIndex].kind = kind;
	wait_entries[MyProcIndex].name_hash = queued_name.name_hash;
	wait_entries[MyProcIndex].arrival = w->arrival;
	wait_entries[MyProcIndex].active = true;
	LWLockRelease(wait_shared->queue_lock);
	queued_self = true;
}

/*
 * Move to the queue of another name, keeping the place in line (the
 * arrival): a multi-lock waits for one name at a time.  As after
 * WaitBegin(), no wake-up of the new name is missed from here on.
 */
void
WaitMove(LockWait *w, const char *name, int len, char kind)
{
	WakeName	old_name = queued_name;

	if (w->slot < 0 || !queued_self)
		return;
	queued_name = WaitNameOf(name, len);
	w->slot = queued_name.slot;
	pg_atomic_fetch_add_u32(&wait_queued[w->slot], 1);
	LWLockAcquire(wait_shared->queue_lock, LW_EXCLUSIVE);
	wait_entries[MyProcIndex].kind = kind;
	wait_entries[MyProcIndex].name_hash = queued_name.name_hash;
	LWLockRelease(wait_shared->queue_lock);
	pg_atomic_fetch_sub_u32(&wait_queued[old_name.slot], 1);
	/* whoever is now first in the old queue may go */
	WaitWakeName(&old_name);
}

/*
 * Whether an attempt for a lease of kind on name must step back for an
 * earlier waiter (w: the caller's own wait, or NULL when it is not
 * waiting: then every waiter is earlier).
 */
bool
WaitMustYield(LockWait *w, const char *name, int len, char kind)
{
	WakeName	wake;
	uint64		arrival = (w != NULL) ? w->arrival : PG_UINT64_MAX;
	bool		yield = false;

	if (wait_shared == NULL)
		return false;
	wake = WaitNameOf(name, len);
	if (pg_atomic_read_u32(&wait_queued[wake.slot]) == 0)
		return false;
	LWLockAcquire(wait_shared->queue_lock, LW_SHARED);
	for (int i = 0; i < wait_shared->nentries && !yield; i++)
	{
		WaiterEntry *entry = &wait_entries[i];

		yield = entry->active && entry->name_hash == wake.name_hash &&
			entry->arrival < arrival &&
			(kind != LEASE_KIND_SHARED || entry->kind != LEASE_KIND_SHARED);
	}
	LWLockRelease(wait_shared->queue_lock);
	return yield;
}

/* SQL: lockservice.lock_waiters(name) */
PG_FUNCTION_INFO_V1(lock_waiters);

Datum
lock_waiters(PG_FUNCTION_ARGS)
{
	text	   *name = InputLookupName(fcinfo, 0);

	PG_RETURN_INT32(WaitersOf(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)));
}

/* How many sessions wait for a lock name (0 without shared memory). */
int
WaitersOf(const char *name, int len)
{
	WakeName	wake;
	int			count = 0;

	if (wait_shared == NULL)
		return 0;
	wake = WaitNameOf(name, len);
	if (pg_atomic_read_u32(&wait_queued[wake.slot]) == 0)
		return 0;
	LWLockAcquire(wait_shared->queue_lock, LW_SHARED);
	for (int i = 0; i < wait_shared->nentries; i++)
		if (wait_entries[i].active && wait_entries[i].name_hash == wake.name_hash)
			count++;
	LWLockRelease(wait_shared->queue_lock);
	return count;
}

/* A lock name's hash, as the queue knows the names waited for. */
uint64
WaitNameHash(const char *name, int len)
{
	return hash_bytes_extended((const unsigned char *) name, len, 0);
}

/*
 * The hashes of the names that sessions wait for now, one per waiting
 * session, in a palloc'd array of *n (NULL without shared memory): one look
 * at the queue, however many names are then looked up in it.
 */
uint64 *
WaitQueuedHashes(int *n)
{
	uint64	   *hashes;

	*n = 0;
	if (wait_shared == NULL)
		return NULL;
	hashes = palloc(sizeof(uint64) * wait_shared->nentries);
	LWLockAcquire(wait_shared->queue_lock, LW_SHARED);
	for (int i = 0; i < wait_shared->nentries; i++)
		if (wait_entries[i].active)
			hashes[(*n)++] = wait_entries[i].name_hash;
	LWLockRelease(wait_shared->queue_lock);
	return hashes;
}

/*
 * Raise an error when the extension was dropped while this backend slept:
 * DROP EXTENSION never waits for waiters (they hold no lock), so they must
 * notice by themselves that what they wait for is gone.
 */
static void
WaitCheckExtension(void)
{
	AcceptInvalidationMessages();
	if (!OidIsValid(get_extension_oid("lockservice", true)))
		ErrorExtensionDropped(NULL);
}

/*
 * Sleep until woken or until (DT_NOEND: no limit).  A wake-up that came
 * since the last sleep ends this one at once.  Cancel and
 * statement_timeout interrupt the sleep with an error as usual, and so
 * does a DROP EXTENSION (within WAIT_EXTENSION_CHECK_MS).
 */
void
WaitSleep(LockWait *w, TimestampTz until)
{
	for (;;)
	{
		long		timeout_ms = -1;

		if (w->slot >= 0 &&
			pg_atomic_exchange_u32(&wait_entries[MyProcIndex].woken, 0) != 0)
			return;
		if (until != DT_NOEND)
		{
			TimestampTz now = GetCurrentTimestamp();

			if (until <= now)
				return;
			timeout_ms = (long) ((until - now + 999) / 1000);
		}
		if (w->slot < 0 && (timeout_ms < 0 || timeout_ms > w->backoff_ms))
			timeout_ms = w->backoff_ms;
		if (timeout_ms < 0 || timeout_ms > WAIT_EXTENSION_CHECK_MS)
			timeout_ms = WAIT_EXTENSION_CHECK_MS;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		WaitCheckExtension();
		if (w->slot < 0)
		{
			/* without shared memory: retry after a growing backoff */
			w->backoff_ms = Min(w->backoff_ms * 2, WAIT_MAX_BACKOFF_MS);
			return;
		}
		/* the latch is set for other reasons too: sleep on unless woken */
	}
}

/*
 * An acquire attempt starts (or ends) a subtransaction of its own, which it
 * may roll back without the waiter leaving the queue.
 */
void
WaitAttemptSubtransaction(bool active)
{
	if (active)
	{
		/* the outermost attempt's subtransaction is the one that counts */
		if (attempt_depth++ == 0)
		{
			in_attempt_subxact = true;
			attempt_subid = GetCurrentSubTransactionId();
		}
		return;
	}
	if (attempt_depth > 0 && --attempt_depth > 0)
		return;
	in_attempt_subxact = false;
	attempt_subid = InvalidSubTransactionId;
}

/* Stop waiting, and leave the queue. */
void
WaitEnd(LockWait *w)
{
	if (w->slot >= 0)
		WaitLeaveQueue();
}
