/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The audit history of leases (lockservice.history) and per-name
 *	  options (lockservice.lock_options).
 *
 * With lockservice.history on, every grant, release, expiry, takeover and
 * forced release adds a row to lockservice.history in the transaction
 * that made it, so a rolled-back change leaves no trace.  The reaper prunes
 * rows older than lockservice.history_retention and the oldest rows past
 * lockservice.history_max_rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "history.h"
#include "lockservice.h"
#include "store.h"

/* GUCs */
bool		lockservice_history = false;
int			lockservice_history_retention = 7 * 24 * 3600;
int			lockservice_history_max_rows = 1000000;
int			lockservice_lock_delay = 0;

/* Define the settings. */
void
HistoryInit(void)
{
	DefineCustomBoolVariable("lockservice.history",
							 "Records every grant, release, expiry, takeover and forced release in lockservice.history.",
							 NULL,
							 &lockservice_history,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("lockservice.history_retention",
							"How long rows of lockservice.history are kept.",
							NULL,
							&lockservice_history_retention,
							7 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lockservice.history_max_rows",
							"How many rows of lockservice.history are kept at most.",
							NULL,
							&lockservice_history_max_rows,
							1000000, 1, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lockservice.lock_delay",
							"How long a name stays ungranted after a lease of it expired without being released.",
							"lockservice.set_lock_delay() sets it per name.",
							&lockservice_lock_delay,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* Add a row to lockservice.history (when it is on). */
void
HistoryRecord(LeaseEventKind event, text *name, char kind, text *holder,
			  Oid owner, int64 token)
{
	StoreTable	t;
	bool	   *nulls;
	Datum	   *values;

	if (!lockservice_history)
		return;
	StoreOpen(&t, HISTORY_TABLE, HISTORY_AT_INDEX, Natts_history);
	values = StoreNewRow(&t, &nulls);
	values[Anum_history_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[Anum_history_event - 1] = CStringGetTextDatum(LeaseEventName(event));
	values[Anum_history_name - 1] = PointerGetDatum(name);
	values[Anum_history_kind - 1] = CharGetDatum(kind);
	values[Anum_history_holder - 1] = PointerGetDatum(holder);
	values[Anum_history_owner - 1] = ObjectIdGetDatum(owner);
	values[Anum_history_token - 1] = Int64GetDatum(token);
	values[Anum_history_actor - 1] = ObjectIdGetDatum(GetUserId());
	for (int i = 0; i < Natts_history; i++)
		nulls[i] = false;
	StoreAppend(&t);
	StoreClose(&t);
}

/*
 * Delete up to max_rows of the oldest history rows: those older than the
 * retention, and those past history_max_rows (by the statistics' count of
 * live rows).  Returns the number deleted; *more says whether the batch was
 * full.  Skips rows others hold locked.
 */
int64
HistoryPrune(int max_rows, bool *more)
{
	StoreTable	t;
	IndexScanDesc scan;
	PgStat_StatTabEntry *stats;
	int64		excess = 0;
	int64		deleted = 0;
	TimestampTz cutoff;

	*more = false;
	cutoff = GetCurrentTimestamp() - (int64) lockservice_history_retention * USECS_PER_SEC;
	StoreOpen(&t, HISTORY_TABLE, HISTORY_AT_INDEX, Natts_history);
	stats = pgstat_fetch_stat_tabentry(RelationGetRelid(t.rel));
	if (stats != NULL && TableLiveTuples(stats) > lockservice_history_max_rows)
		excess = TableLiveTuples(stats) - lockservice_history_max_rows;

	/* oldest first */
	scan = StoreRangeBegin(&t, NULL, 0);
	while (StoreRangeNext(&t, scan) == STORE_FOUND)
	{
		bool		isnull;
		TimestampTz at = DatumGetTimestampTz(slot_getattr(t.row, Anum_history_at, &isnull));

		if (at >= cutoff && deleted >= excess)
			break;
		if (StoreLock(&t, LockTupleExclusive, false) != STORE_LOCKED)
			continue;
		StoreDelete(&t);
		if (++deleted >= max_rows)
		{
			*more = true;
			break;
		}
	}
	StoreRangeEnd(scan);
	StoreClose(&t);
	return deleted;
}

/*
 * The lock-delay of a name in microseconds: its own (lock_options), else
 * lockservice.lock_delay.
 */
int64
LockOptionsDelay(text *name)
{
	StoreTable	t;
	ScanKeyData key;
	int64		delay = (int64) lockservice_lock_delay * 1000;

	StoreOpen(&t, LOCK_OPTIONS_TABLE, LOCK_OPTIONS_PKEY, Natts_lock_options);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(name));
	if (StoreRead(&t, &key) != STORE_ABSENT)
	{
		bool		isnull;

		delay = IntervalToMicroseconds(DatumGetIntervalP(slot_getattr(t.row,
																	  Anum_lock_options_lock_delay,
																	  &isnull)));
	}
	StoreClose(&t);
	return delay;
}

/* Set (delay NULL: remove) the lock-delay of a name. */
void
LockOptionsSetDelay(text *name, Interval *delay)
{
	StoreTable	t;
	ScanKeyData key;

	StoreOpen(&t, LOCK_OPTIONS_TABLE, LOCK_OPTIONS_PKEY, Natts_lock_options);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(name));
	for (;;)
	{
		StoreReadResult found = StoreRead(&t, &key);
		bool	   *nulls;
		Datum	   *values;

		if (found == STORE_BUSY)
		{
			StoreWaitBusy(&t);
			continue;
		}
		if (found == STORE_FOUND &&
			StoreLock(&t, LockTupleExclusive, true) != STORE_LOCKED)
			continue;
		if (delay == NULL)
		{
			if (found == STORE_FOUND)
				StoreDelete(&t);
			break;
		}
		values = StoreNewRow(&t, &nulls);
		values[Anum_lock_options_name - 1] = PointerGetDatum(name);
		values[Anum_lock_options_lock_delay - 1] = IntervalPGetDatum(delay);
		nulls[Anum_lock_options_name - 1] = false;
		nulls[Anum_lock_options_lock_delay - 1] = false;
		if (found == STORE_FOUND)
		{
			StoreUpdate(&t);
			break;
		}
		if (StoreInsert(&t))
			break;
	}
	StoreClose(&t);
}
