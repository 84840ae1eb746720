/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Live counters of what the lock service does, in shared memory (when
 *	  preloaded), shown by the view lockservice.stats.
 *
 * Counting is an atomic add per call: no table writes on the hot path.
 * Calls are counted when they return, whether or not their transaction
 * commits later.  Without shared_preload_libraries there are no counters
 * and the view shows NULLs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "lockservice.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(stats);
PG_FUNCTION_INFO_V1(reset_stats);

#define STATS_SHMEM_NAME	"lockservice stats v1"

typedef struct StatsShared
{
	uint32		layout_version;
	pg_atomic_uint64 counters[STATS_NUM_COUNTERS];
	pg_atomic_uint32 waiters;	/* sessions waiting in lock_acquire now */
	pg_atomic_uint64 reset_at;	/* TimestampTz of the last reset */
} StatsShared;

static StatsShared *stats_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* whether this backend counts as a waiter right now */
static bool counted_waiting = false;

static void
StatsShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(StatsShared));
}

static void
StatsShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct(STATS_SHMEM_NAME, sizeof(StatsShared), &found);
	if (!found)
	{
		stats_shared->layout_version = 1;
		for (int i = 0; i < STATS_NUM_COUNTERS; i++)
			pg_atomic_init_u64(&stats_shared->counters[i], 0);
		pg_atomic_init_u32(&stats_shared->waiters, 0);
		pg_atomic_init_u64(&stats_shared->reset_at, (uint64) GetCurrentTimestamp());
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Set up shared memory (when preloaded). */
void
StatsInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = StatsShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = StatsShmemStartup;
}

void
StatsAdd(StatsCounter counter, int64 n)
{
	if (stats_shared != NULL && n != 0)
		pg_atomic_fetch_add_u64(&stats_shared->counters[counter], n);
}

void
StatsCount(StatsCounter counter)
{
	StatsAdd(counter, 1);
}

/* This backend starts or stops waiting in lock_acquire. */
void
StatsWaiting(bool waiting)
{
	if (stats_shared == NULL || waiting == counted_waiting)
		return;
	if (waiting)
		pg_atomic_fetch_add_u32(&stats_shared->waiters, 1);
	else
		pg_atomic_fetch_sub_u32(&stats_shared->waiters, 1);
	counted_waiting = waiting;
}

/* A wait ended by an error (cancel, statement_timeout). Cannot fail. */
void
StatsAtAbort(void)
{
	StatsWaiting(false);
}

/* SQL: lockservice.stats() backs the view lockservice.stats. */
Datum
stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[STATS_NUM_COUNTERS + 2];
	bool		nulls[STATS_NUM_COUNTERS + 2];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (desc->natts != STATS_NUM_COUNTERS + 2)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lockservice.stats() does not have the layout this library expects"),
				 errhint("Update the extension with ALTER EXTENSION lockservice UPDATE.")));
	for (int i = 0; i < STATS_NUM_COUNTERS + 2; i++)
	{
		nulls[i] = stats_shared == NULL;
		values[i] = (Datum) 0;
	}
	if (stats_shared != NULL)
	{
		for (int i = 0; i < STATS_NUM_COUNTERS; i++)
			values[i] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->counters[i]));
		values[STATS_NUM_COUNTERS] =
			Int32GetDatum((int32) pg_atomic_read_u32(&stats_shared->waiters));
		values[STATS_NUM_COUNTERS + 1] =
			TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&stats_shared->reset_at));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* SQL: lockservice.reset_stats() sets every counter back to zero. */
Datum
reset_stats(PG_FUNCTION_ARGS)
{
	if (stats_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lockservice statistics need shared_preload_libraries = 'lockservice'")));
	for (int i = 0; i < STATS_NUM_COUNTERS; i++)
		pg_atomic_write_u64(&stats_shared->counters[i], 0);
	pg_atomic_write_u64(&stats_shared->reset_at, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}
