/*-------------------------------------------------------------------------
 *
 * fence.c
 *	  fence(): the fencing-token check at the protected resource.
 *
 * lockservice.fences keeps the highest token accepted per resource.  A
 * writer calls fence(resource, token) in the transaction that writes the
 * resource: a lower token than one already accepted is refused (LS001), so
 * a holder that lost its lease while paused cannot overwrite the work of
 * the holder that came after it.  The fence row stays locked until the
 * writer's transaction ends, so writers of one resource take turns and a
 * refused writer sees the token of every committed later writer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"

#include "lockservice.h"
#include "stats.h"
#include "store.h"
#include "token.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(fence);

/* Write the fence row: insert when new (false if another is inserting it). */
static bool
FenceWrite(StoreTable *t, text *resource, int64 token, bool insert)
{
	bool	   *nulls;
	Datum	   *values = StoreNewRow(t, &nulls);

	values[Anum_fences_resource - 1] = PointerGetDatum(resource);
	values[Anum_fences_token - 1] = Int64GetDatum(token);
	values[Anum_fences_fenced_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	for (int i = 0; i < Natts_fences; i++)
		nulls[i] = false;
	if (insert)
		return StoreInsert(t);
	StoreUpdate(t);
	return true;
}

static void
RefuseStaleToken(text *resource, int64 token, int64 highest)
{
	StatsCount(STATS_FENCE_REFUSALS);
	ereport(ERROR,
			(errcode(ERRCODE_LS_STALE_TOKEN),
			 errmsg("fencing token " INT64_FORMAT " for resource \"%s\" is stale",
					token, text_to_cstring(resource)),
			 errdetail("Token " INT64_FORMAT " has already been accepted for this resource.",
					   highest),
			 errhint("The lease behind this token was lost: stop writing, acquire the lock again and start over.")));
}

/*
 * SQL: lockservice.fence(resource, token) records token for resource, or
 * raises LS001 when a higher token was already recorded.
 */
Datum
fence(PG_FUNCTION_ARGS)
{
	text	   *resource = InputName(fcinfo, 0, "resource");
	int64		token = InputToken(fcinfo, 1);
	int64		last_issued;
	StoreTable	t;
	ScanKeyData key;

	CheckWritable("lockservice.fence()");
	WaitNoteTransactionUse();

	if (!LastIssuedToken(&last_issued) || token > last_issued)
		ereport(ERROR,
				(errcode(ERRCODE_LS_TOKEN_NOT_ISSUED),
				 errmsg("fencing token " INT64_FORMAT " was never issued", token),
				 errhint("Pass the token that lockservice.lock_acquire() returned.")));

	if (!TokenIsExclusive(token))
		ereport(ERROR,
				(errcode(ERRCODE_LS_NOT_EXCLUSIVE),
				 errmsg("fencing token " INT64_FORMAT " is not the token of an exclusive lease", token),
				 errdetail("Shared locks and semaphore permits have several holders at once, whose tokens cannot fence each other out."),
				 errhint("Guard writes under a shared lease or a permit with lockservice.lock_check() in the writing transaction.")));

	StoreOpen(&t, FENCES_TABLE, FENCES_PKEY, Natts_fences);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(resource));
	for (;;)
	{
		StoreReadResult found = StoreRead(&t, &key);
		bool		isnull;
		int64		highest;

		if (found == STORE_ABSENT)
		{
			if (FenceWrite(&t, resource, token, true))
				break;
			continue;			/* someone else is inserting it: wait for them */
		}
		if (found == STORE_BUSY)
		{
			StoreWaitBusy(&t);
			continue;
		}
		highest = DatumGetInt64(slot_getattr(t.row, Anum_fences_token, &isnull));
		if (token < highest)
			RefuseStaleToken(resource, token, highest);
		if (StoreLock(&t, LockTupleNoKeyExclusive, true) != STORE_LOCKED)
			continue;
		if (token > highest)
			FenceWrite(&t, resource, token, false);
		break;
	}
	StoreClose(&t);
	PG_RETURN_VOID();
}
