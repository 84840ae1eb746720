/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Fencing tokens: strictly increasing across all lock names, never
 *	  reissued after a crash, a restart, point-in-time recovery or the
 *	  promotion of any standby.
 *
 * A token is
 *
 *		timeline * 2^47 + 2 * nextval('lockservice.fencing_seq') + shared
 *
 * where shared is 1 for a shared lease or a semaphore permit and 0 for an
 * exclusive lease, so that fence() can tell the tokens it may compare.
 * The sequence alone survives crashes and restarts: PostgreSQL logs a
 * sequence 32 values ahead, and the transaction that makes it log flushes
 * that record at once, even with synchronous_commit = off, so no token a
 * client has seen can be handed out again.  With lockservice.sync_grants
 * (the default) a transaction that takes a token also flushes its commit
 * record (ForceSyncCommit), so an acknowledged grant survives a crash.  What the sequence cannot survive is losing WAL: an
 * asynchronous standby promoted before it received the last sequence
 * records, or recovery to a point in time, continues from an older value.
 * Both start a new, higher timeline, so the timeline in the high bits makes
 * every later token larger, as long as fewer than 2^46 tokens were lost.
 * The low 47 bits last 44 years at 50,000 grants per second; past that
 * they carry into the timeline part, which keeps tokens increasing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "lockservice.h"
#include "store.h"
#include "token.h"

PG_FUNCTION_INFO_V1(last_issued_token);
PG_FUNCTION_INFO_V1(advance_token_counter);

/* The timeline this server writes (a standby: the one it replays). */
static TimeLineID
CurrentTimeLine(void)
{
	TimeLineID	replay_tli;

	if (!RecoveryInProgress())
		return GetWALInsertionTimeLine();
	(void) GetXLogReplayRecPtr(&replay_tli);
	return replay_tli;
}

/* The token for a sequence value on the current timeline. */
static int64
ComposeToken(int64 value, bool exclusive)
{
	int64		token;

	if (pg_mul_s64_overflow((int64) CurrentTimeLine(),
							INT64CONST(1) << TOKEN_TIMELINE_SHIFT, &token) ||
		pg_add_s64_overflow(token, value, &token) ||
		pg_add_s64_overflow(token, value, &token) ||
		pg_add_s64_overflow(token, exclusive ? 0 : 1, &token))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("fencing token out of range"),
				 errdetail("Timeline %u, sequence value " INT64_FORMAT ".",
						   CurrentTimeLine(), value)));
	return token;
}

/* The sequence value that a token on the current timeline stands for. */
static int64
DecomposeToken(int64 token)
{
	return (token - ((int64) CurrentTimeLine() << TOKEN_TIMELINE_SHIFT)) / 2;
}

/*
 * Draw a new token.  Call only while holding the lock name exclusively, so
 * that grants of one name are always in token order.
 */
int64
NextFencingToken(bool exclusive)
{
	Oid			seqid = StoreRelationOid(FENCING_SEQUENCE);
	XLogRecPtr	logged_before = XactLastRecEnd;
	int64		value;

	value = nextval_internal(seqid, false);

	/*
	 * When nextval logged the sequence ahead, make that record durable now:
	 * the token may leave this server before the transaction commits.
	 */
	if (XactLastRecEnd != logged_before)
		XLogFlush(XactLastRecEnd);
	if (lockservice_sync_grants)
		ForceSyncCommit();
	return ComposeToken(value, exclusive);
}

/* The role that owns a relation. */
static Oid
RelationOwner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Run fn on the fencing sequence as its owner: callers have no privileges
 * on the sequence, on purpose.
 */
static Datum
CallOnSequenceAsOwner(PGFunction fn, Oid seqid, Datum arg, int nargs,
					  bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 2);
	Oid			save_userid;
	int			save_sec_context;
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqid);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = arg;
	fcinfo->args[1].isnull = false;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(RelationOwner(seqid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	result = fn(fcinfo);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	*isnull = fcinfo->isnull;
	return result;
}

/* The highest token this server can have issued; false before the first. */
bool
LastIssuedToken(int64 *token)
{
	bool		isnull;
	Datum		value;

	value = CallOnSequenceAsOwner(pg_sequence_last_value,
								  StoreRelationOid(FENCING_SEQUENCE),
								  (Datum) 0, 1, &isnull);
	if (isnull)
		return false;
	*token = ComposeToken(DatumGetInt64(value), false);
	return true;
}

/* SQL: lockservice.last_issued_token() */
Datum
last_issued_token(PG_FUNCTION_ARGS)
{
	int64		token;

	if (!LastIssuedToken(&token))
		PG_RETURN_NULL();
	PG_RETURN_INT64(token);
}

/*
 * SQL: lockservice.advance_token_counter(at_least) makes every later token
 * greater than at_least, for example after restoring a dump into a new
 * cluster (which starts again at timeline 1).  Returns the new highest
 * issued token.
 */
Datum
advance_token_counter(PG_FUNCTION_ARGS)
{
	int64		at_least;
	int64		last;
	int64		target;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at_least must not be NULL")));
	at_least = PG_GETARG_INT64(0);
	CheckWritable("lockservice.advance_token_counter()");

	target = DecomposeToken(at_least);
	if (target >= 1 && (!LastIssuedToken(&last) || last < at_least))
	{
		CallOnSequenceAsOwner(setval_oid, StoreRelationOid(FENCING_SEQUENCE),
							  Int64GetDatum(target), 2, &isnull);
		ForceSyncCommit();
	}
	if (!LastIssuedToken(&last))
		PG_RETURN_NULL();
	PG_RETURN_INT64(last);
}
