/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  What is due when: for each database, the earliest time a row of its
 *	  leases table can be reaped (next_due), and whether a reaper serves
 *	  it.  The leases write it, the reapers and their launcher read it.
 *
 * A transaction that writes a lease row notes when the row can end (its
 * expiry, or its release plus the time released rows are kept); when it
 * commits, the database's next_due is lowered to the earliest of those.
 * A reaper skips its table scan until next_due, and sets it from the rows
 * a full scan kept; the launcher starts a reaper where next_due has come
 * and none serves.  Lowering happens after the commit is visible, so a
 * scan that does not see the commit sees the lowered next_due after it.
 *
 * It lives in shared memory, with shared_preload_libraries only: without
 * it a reaper scans every round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "events.h"
#include "schedule.h"

#define SCHEDULE_SHMEM_NAME		"lockservice schedule v1"

struct ScheduleEntry
{
	Oid			dboid;			/* InvalidOid: free; changed under the lock */
	pg_atomic_uint32 served;	/* a reaper runs in the database */

	/* no row of the database can be reaped before this (a TimestampTz) */
	pg_atomic_uint64 next_due;
};

typedef struct ScheduleShared
{
	LWLock	   *lock;			/* protects dboid and launcher_latch */
	Latch	   *launcher_latch; /* NULL until the launcher runs */
	int			nentries;		/* lockservice.max_databases */
	ScheduleEntry entries[FLEXIBLE_ARRAY_MEMBER];
} ScheduleShared;

static ScheduleShared *schedule_shared = NULL;
static int	schedule_nentries = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* earliest time a row this transaction wrote can be reaped */
static TimestampTz due_at_commit = DT_NOEND;

/* index of this database's entry, as last found */
static int	my_entry_index = -1;

static Size
ScheduleShmemSize(void)
{
	return add_size(offsetof(ScheduleShared, entries),
					mul_size(schedule_nentries, sizeof(ScheduleEntry)));
}

static void
ScheduleShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(ScheduleShmemSize());
	RequestNamedLWLockTranche("lockservice schedule", 1);
}

static void
ScheduleShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	schedule_shared = ShmemInitStruct(SCHEDULE_SHMEM_NAME, ScheduleShmemSize(), &found);
	if (!found)
	{
		memset(schedule_shared, 0, ScheduleShmemSize());
		schedule_shared->nentries = schedule_nentries;
		schedule_shared->lock = &(GetNamedLWLockTranche("lockservice schedule"))->lock;
		for (int i = 0; i < schedule_nentries; i++)
		{
			pg_atomic_init_u32(&schedule_shared->entries[i].served, 0);
			pg_atomic_init_u64(&schedule_shared->entries[i].next_due, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Note that a row the current transaction writes may be reaped from due on.
 * The database's schedule learns it when the transaction commits.
 */
void
ScheduleNoteDue(TimestampTz due)
{
	if (schedule_shared != NULL && due < due_at_commit)
		due_at_commit = due;
}

/* The entry of the current database, or NULL when it has none. */
static ScheduleEntry *
MyEntry(void)
{
	int			i = my_entry_index;

	/* an entry changes hands only when its database goes; check, else look */
	if (i < 0 || schedule_shared->entries[i].dboid != MyDatabaseId)
	{
		LWLockAcquire(schedule_shared->lock, LW_SHARED);
		for (i = 0; i < schedule_shared->nentries; i++)
			if (schedule_shared->entries[i].dboid == MyDatabaseId)
				break;
		LWLockRelease(schedule_shared->lock);
		my_entry_index = i < schedule_shared->nentries ? i : -1;
	}
	return my_entry_index >= 0 ? &schedule_shared->entries[my_entry_index] : NULL;
}

/* At commit: lower the database's next_due.  Must not fail. */
static void
SchedulePublishDue(void)
{
	ScheduleEntry *entry = MyEntry();

	if (entry == NULL)
		return;					/* not known yet: the launcher visits it at start */
	ScheduleLowerDue(entry, due_at_commit);

	/*
	 * No reaper runs here: the launcher starts one when the row can end, or
	 * at once when this transaction left events to publish.
	 */
	if (pg_atomic_read_u32(&entry->served) == 0)
	{
		if (lockservice_events)
			ScheduleLowerDue(entry, GetCurrentTimestamp());
		ScheduleWakeLauncher();
	}
}

static void
ScheduleXactCallback(XactEvent event, void *arg)
{
	/* after the commit is visible, so a scan that misses it sees this */
	if (event == XACT_EVENT_COMMIT && due_at_commit != DT_NOEND &&
		schedule_shared != NULL)
		SchedulePublishDue();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		due_at_commit = DT_NOEND;
}

/*
 * The entry of a database, optionally claiming a free one (its next_due
 * then says "now"); NULL when it has none.
 */
ScheduleEntry *
ScheduleFor(Oid dboid, bool create)
{
	ScheduleEntry *found = NULL;
	ScheduleEntry *free_entry = NULL;

	LWLockAcquire(schedule_shared->lock, create ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < schedule_shared->nentries && found == NULL; i++)
	{
		ScheduleEntry *entry = &schedule_shared->entries[i];

		if (entry->dboid == dboid)
			found = entry;
		else if (entry->dboid == InvalidOid && free_entry == NULL)
			free_entry = entry;
	}
	if (found == NULL && create && free_entry != NULL)
	{
		pg_atomic_write_u32(&free_entry->served, 0);
		pg_atomic_write_u64(&free_entry->next_due, 0);
		free_entry->dboid = dboid;
		found = free_entry;
	}
	LWLockRelease(schedule_shared->lock);
	return found;
}

/* Forget a database that is gone; its entry is free again. */
void
ScheduleForget(Oid dboid)
{
	LWLockAcquire(schedule_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < schedule_shared->nentries; i++)
		if (schedule_shared->entries[i].dboid == dboid)
			schedule_shared->entries[i].dboid = InvalidOid;
	LWLockRelease(schedule_shared->lock);
}

/* The earliest time a row of the entry's database can be reaped. */
TimestampTz
ScheduleNextDue(ScheduleEntry *entry)
{
	return (TimestampTz) pg_atomic_read_u64(&entry->next_due);
}

/* Set next_due (0: look now). */
void
ScheduleSetDue(ScheduleEntry *entry, TimestampTz due)
{
	pg_atomic_write_u64(&entry->next_due, (uint64) due);
}

/* Lower next_due to due, unless it is earlier already. */
void
ScheduleLowerDue(ScheduleEntry *entry, TimestampTz due)
{
	uint64		current = pg_atomic_read_u64(&entry->next_due);

	while ((TimestampTz) current > due &&
		   !pg_atomic_compare_exchange_u64(&entry->next_due, &current, (uint64) due))
		;
}

/*
 * Nothing is due (a full scan starts): a commit the scan does not see
 * lowers it again afterwards.
 */
void
ScheduleClearDue(ScheduleEntry *entry)
{
	(void) pg_atomic_exchange_u64(&entry->next_due, (uint64) DT_NOEND);
}

/* A reaper serves the entry's database (or no longer does). */
void
ScheduleSetServed(ScheduleEntry *entry, bool served)
{
	pg_atomic_write_u32(&entry->served, served ? 1 : 0);
}

/* The launcher's latch, set when work comes due where no reaper runs. */
void
ScheduleSetLauncher(Latch *latch)
{
	LWLockAcquire(schedule_shared->lock, LW_EXCLUSIVE);
	schedule_shared->launcher_latch = latch;
	LWLockRelease(schedule_shared->lock);
}

/* Ask the launcher to look again at once. */
void
ScheduleWakeLauncher(void)
{
	Latch	   *latch;

	LWLockAcquire(schedule_shared->lock, LW_SHARED);
	latch = schedule_shared->launcher_latch;
	LWLockRelease(schedule_shared->lock);
	if (latch)
		SetLatch(latch);
}

/* Set up the schedule of up to max_databases databases (preloading). */
void
ScheduleInit(int max_databases)
{
	schedule_nentries = max_databases;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ScheduleShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ScheduleShmemStartup;
	RegisterXactCallback(ScheduleXactCallback, NULL);
}

/*
 * SQL: trigger lockservice.leases_changed(), after any statement that
 * changes lockservice.leases or lockservice.sessions by hand (lockservice's
 * own functions write the tables directly and fire no trigger): nobody can
 * know when the rows changed can end, so at commit the reaper is told to
 * look at every row.
 */
PG_FUNCTION_INFO_V1(leases_changed);

Datum
leases_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lockservice.leases_changed() can only be called as a trigger")));
	ScheduleNoteDue(0);
	return PointerGetDatum(NULL);
}
