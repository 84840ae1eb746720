/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Where waiters sleep, and who wakes them.
 *
 * With lockservice in shared_preload_libraries, shared memory holds a
 * fixed array of condition variables ("wait slots"); a lock name hashes to
 * one.  A waiter sleeps on its name's slot until the lease it waits for
 * expires, its own deadline passes, or it is woken.  Every transaction
 * that touched a name (acquired, renewed, released or checked it) wakes
 * that name's slot when it ends, commit or abort, and a subtransaction
 * does when it aborts: after the transaction's locks are gone, from a
 * resource-release callback that cannot fail (no allocation, a spinlock
 * and SetLatch per slot).  A woken waiter reads the lease again.
 *
 * Without shared memory, waiters sleep and retry with a short backoff.
 *
 * The transaction callbacks also refuse PREPARE TRANSACTION after any
 * lockservice call: a prepared transaction would pin the lease and could
 * not wake waiters when it is finally committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "lockservice.h"
#include "stats.h"
#include "wait.h"

/* The shared-memory layout says its version in its name and its header. */
#define WAIT_SHMEM_NAME			"lockservice wait slots v1"
#define WAIT_LAYOUT_VERSION		1

/* Longest sleep between retries without shared memory. */
#define WAIT_MAX_BACKOFF_MS		20

/* Slots one transaction remembers before it wakes every slot instead. */
#define WAIT_MAX_TRACKED		64

typedef struct WaitShared
{
	uint32		layout_version;
	int			nslots;
	ConditionVariable slots[FLEXIBLE_ARRAY_MEMBER];
} WaitShared;

/* A slot this transaction must wake, and the deepest level that touched it. */
typedef struct TrackedSlot
{
	int			slot;
	int			nest_level;
} TrackedSlot;

static WaitShared *wait_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* slots touched by the current transaction */
static TrackedSlot tracked[WAIT_MAX_TRACKED];
static int	ntracked = 0;
static int	overflow_level = 0;	/* > 0: more slots than tracked[] holds */
static bool transaction_used = false;

/* slots to wake once the ending (sub)transaction's locks are released */
static int	pending[WAIT_MAX_TRACKED];
static int	npending = 0;
static bool pending_all = false;

static Size
WaitShmemSize(void)
{
	return add_size(offsetof(WaitShared, slots),
					mul_size(lockservice_wait_slots, sizeof(ConditionVariable)));
}

static void
WaitShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(WaitShmemSize());
}

static void
WaitShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wait_shared = ShmemInitStruct(WAIT_SHMEM_NAME, WaitShmemSize(), &found);
	if (!found)
	{
		wait_shared->layout_version = WAIT_LAYOUT_VERSION;
		wait_shared->nslots = lockservice_wait_slots;
		for (int i = 0; i < lockservice_wait_slots; i++)
			ConditionVariableInit(&wait_shared->slots[i]);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Add a slot to the wake-up list of the (sub)transaction that is ending. */
static void
WaitAddPending(int slot)
{
	for (int i = 0; i < npending; i++)
		if (pending[i] == slot)
			return;
	if (npending < WAIT_MAX_TRACKED)
		pending[npending++] = slot;
	else
		pending_all = true;
}

/* Wake the pending slots.  Must not fail: it runs during commit and abort. */
static void
WaitWakePending(void)
{
	if (wait_shared == NULL)
		return;
	if (pending_all)
	{
		for (int i = 0; i < wait_shared->nslots; i++)
			ConditionVariableBroadcast(&wait_shared->slots[i]);
	}
	else
	{
		for (int i = 0; i < npending; i++)
			ConditionVariableBroadcast(&wait_shared->slots[pending[i]]);
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
			WaitAddPending(tracked[i].slot);
		tracked[i].nest_level = nest_level - 1;
	}
	if (overflow_level >= nest_level)
	{
		if (aborted)
			pending_all = true;
		overflow_level = nest_level - 1;
	}
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
			for (int i = 0; i < ntracked; i++)
				WaitAddPending(tracked[i].slot);
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
		StatsAtAbort();
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

static int
WaitSlotOf(const char *name, int len)
{
	return (int) (hash_bytes((const unsigned char *) name, len) %
				   (uint32) wait_shared->nslots);
}

/*
 * Note that the current transaction touched a lock name: when it ends (or
 * the current subtransaction aborts), waiters on that name wake.  Also
 * marks the transaction as one that cannot be prepared.
 */
void
WaitWakeAtTransactionEnd(const char *name, int len)
{
	int			slot;
	int			nest_level = GetCurrentTransactionNestLevel();

	transaction_used = true;
	if (wait_shared == NULL)
		return;
	slot = WaitSlotOf(name, len);
	for (int i = 0; i < ntracked; i++)
	{
		if (tracked[i].slot == slot)
		{
			tracked[i].nest_level = Max(tracked[i].nest_level, nest_level);
			return;
		}
	}
	if (ntracked < WAIT_MAX_TRACKED)
	{
		tracked[ntracked].slot = slot;
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
 * Start waiting for a lock name.  From here on a wake-up is not missed,
 * even one that comes before WaitSleep().
 */
void
WaitBegin(LockWait *w, const char *name, int len)
{
	w->backoff_ms = 1;
	w->slot = -1;
	if (wait_shared != NULL)
	{
		w->slot = WaitSlotOf(name, len);
		ConditionVariablePrepareToSleep(&wait_shared->slots[w->slot]);
	}
}

/*
 * Sleep until woken or until (DT_NOEND: no limit).  Cancel and
 * statement_timeout interrupt the sleep with an error as usual.
 */
void
WaitSleep(LockWait *w, TimestampTz until)
{
	long		timeout_ms = -1;

	if (until != DT_NOEND)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (until <= now)
			return;
		timeout_ms = (long) ((until - now + 999) / 1000);
	}

	if (w->slot >= 0)
		ConditionVariableTimedSleep(&wait_shared->slots[w->slot], timeout_ms,
									PG_WAIT_EXTENSION);
	else
	{
		if (timeout_ms < 0 || timeout_ms > w->backoff_ms)
			timeout_ms = w->backoff_ms;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		w->backoff_ms = Min(w->backoff_ms * 2, WAIT_MAX_BACKOFF_MS);
	}
}

/* Stop waiting. */
void
WaitEnd(LockWait *w)
{
	if (w->slot >= 0)
		ConditionVariableCancelSleep();
}
