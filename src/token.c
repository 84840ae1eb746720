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
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "tcop/utility.h"
#include "common/hashfn.h"
#include "commands/dbcommands.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
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

/*
 * The history a database's tokens come from
 *
 * The sequence and the timeline keep tokens increasing within one copy of
 * the data.  A copy that starts a new life elsewhere needs more: pg_upgrade
 * and a restore of a dump carry the sequence into a cluster that starts at
 * timeline 1 again, and a base backup started as a primary (or a restore
 * of a dump) continues from where the copy was taken while the original
 * may have issued more tokens since.  So each database records, in two
 * sequences that pg_dump and pg_upgrade carry with the counter:
 *
 *	fencing_timeline	the timeline the counter was last used on;
 *	fencing_era			which copy of the data used it: a hash of the
 *						system identifier, the database's OID and the start
 *						of the base backup the server was started from
 *						(0: unknown, for counters used before 1.2).
 *
 * Before a server first draws a token for a database, it compares them
 * with its own (EraGaps).  A later timeline lifts every token by itself.
 * Otherwise the counter moves up by one timeline's worth of tokens
 * (ERA_GAP sequence values) for every timeline it lost (pg_upgrade of a
 * cluster on timeline 2 into one on timeline 1) and once more when the
 * copy changed, as if a new timeline had begun: that covers up to 2^46
 * tokens issued by the original after the copy was taken.  Sequences, not
 * a table: the move and the record must survive the rollback of the
 * transaction that made them, or a repeated rollback would move the
 * counter again each time.
 */

/* sequence values in one timeline's worth of tokens */
#define ERA_GAP					(INT64CONST(1) << (TOKEN_TIMELINE_SHIFT - 1))

/* What a database's sequences say about where its tokens come from. */
typedef struct TokenHistory
{
	Oid			timeline_seq;	/* InvalidOid: a schema before 1.2 */
	Oid			era_seq;
	bool		counter_used;	/* fencing_seq has issued a value */
	bool		timeline_known;
	int64		timeline;
	bool		era_known;
	int64		era;
} TokenHistory;

/* this backend checked the history for this timeline and counter */
static TimeLineID history_checked_tli = 0;
static Oid	history_checked_seq = InvalidOid;

/* Whether this backend already checked the history of the counter seqid. */
static bool
HistoryChecked(Oid seqid, TimeLineID tli)
{
	return tli == history_checked_tli && seqid == history_checked_seq;
}

/* gaps timelines' worth of sequence values */
static int64
GapValues(int64 gaps)
{
	int64		values;

	if (pg_mul_s64_overflow(gaps, ERA_GAP, &values))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("fencing token counter out of range")));
	return values;
}

/* The start LSN of the base backup this server started from, or 0. */
static uint64
BackupOrigin(void)
{
	static bool known = false;
	static uint64 origin = 0;
	FILE	   *file;
	char		line[MAXPGPATH];

	if (known)
		return origin;
	file = AllocateFile(BACKUP_LABEL_OLD, "r");
	if (file != NULL)
	{
		while (fgets(line, sizeof(line), file) != NULL)
		{
			uint32		hi,
						lo;

			if (sscanf(line, "START WAL LOCATION: %X/%X", &hi, &lo) == 2)
			{
				origin = ((uint64) hi << 32) | lo;
				break;
			}
		}
		FreeFile(file);
	}
	else if (errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", BACKUP_LABEL_OLD)));
	known = true;
	return origin;
}

/* The era of this copy of the database: never 0, which means unknown. */
static int64
ThisEra(void)
{
	struct
	{
		uint64		system_identifier;
		uint64		backup_origin;
		Oid			database;
	}			id;
	int64		era;

	memset(&id, 0, sizeof(id));
	id.system_identifier = GetSystemIdentifier();
	id.backup_origin = BackupOrigin();
	id.database = MyDatabaseId;
	era = (int64) (hash_bytes_extended((const unsigned char *) &id,
									   sizeof(id), 0) &
				   UINT64CONST(0x3FFFFFFFFFFFFFFF));
	return era == 0 ? 1 : era;
}

/* Read the sequences that tell where this database's tokens come from. */
static void
ReadTokenHistory(TokenHistory *h, Oid seqid)
{
	Oid			nspid = get_namespace_oid(LOCKSERVICE_SCHEMA, false);
	bool		isnull;
	Datum		value;

	memset(h, 0, sizeof(*h));
	h->timeline_seq = get_relname_relid(FENCING_TIMELINE_SEQUENCE, nspid);
	h->era_seq = get_relname_relid(FENCING_ERA_SEQUENCE, nspid);
	if (!OidIsValid(h->timeline_seq) || !OidIsValid(h->era_seq))
	{
		h->timeline_seq = InvalidOid;
		return;
	}
	(void) CallOnSequenceAsOwner(pg_sequence_last_value, seqid, (Datum) 0, 1,
								 &isnull);
	h->counter_used = !isnull;
	value = CallOnSequenceAsOwner(pg_sequence_last_value, h->timeline_seq,
								  (Datum) 0, 1, &isnull);
	h->timeline_known = !isnull;
	h->timeline = isnull ? 0 : DatumGetInt64(value);
	value = CallOnSequenceAsOwner(pg_sequence_last_value, h->era_seq,
								  (Datum) 0, 1, &isnull);
	h->era_known = !isnull;
	h->era = isnull ? 0 : DatumGetInt64(value);
}

/*
 * How many timelines' worth of tokens the counter must move up before this
 * server draws from it (see above); *record: the sequences need this
 * server's timeline and era.
 */
static int64
EraGaps(const TokenHistory *h, TimeLineID tli, int64 era, bool *record)
{
	int64		last_tli = h->timeline;
	bool		same_copy = h->era_known && h->era == era;

	*record = !(h->timeline_known && last_tli == (int64) tli && same_copy);
	if (!h->counter_used)
		return 0;				/* nothing issued yet: nothing to stay above */
	if (!h->timeline_known)
		last_tli = tli;			/* used before 1.2: assume this timeline */
	if ((int64) tli > last_tli)
		return 0;
	return (last_tli - (int64) tli) + (same_copy ? 0 : 1);
}

/*
 * Make sure the counter is above every token of the history it comes from
 * before this backend draws a token from it.
 */
static void
CheckTokenHistory(Oid seqid)
{
	TimeLineID	tli = CurrentTimeLine();
	TokenHistory h;
	bool		record;
	int64		gaps;
	int64		era;
	bool		isnull;

	if (HistoryChecked(seqid, tli))
		return;
	ReadTokenHistory(&h, seqid);
	if (!OidIsValid(h.timeline_seq))
		return;					/* a schema before 1.2: the timeline alone */
	era = ThisEra();
	(void) EraGaps(&h, tli, era, &record);
	if (record)
	{
		/* one backend at a time: the others then find it recorded */
		LockRelationOid(h.timeline_seq, ShareUpdateExclusiveLock);
		ReadTokenHistory(&h, seqid);
		gaps = EraGaps(&h, tli, era, &record);
		if (gaps > 0)
		{
			Datum		last = CallOnSequenceAsOwner(pg_sequence_last_value,
													 seqid, (Datum) 0, 1,
													 &isnull);
			int64		target;

			if (pg_add_s64_overflow(GapValues(gaps), DatumGetInt64(last), &target))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("fencing token counter out of range")));
			CallOnSequenceAsOwner(setval_oid, seqid, Int64GetDatum(target),
								  2, &isnull);
			ereport(LOG,
					(errmsg("lockservice: fencing tokens of database \"%s\" continue above those of the copy they were restored, upgraded or cloned from",
							get_database_name(MyDatabaseId)),
					 errdetail("The token counter moved up by " INT64_FORMAT " timelines' worth of tokens (recorded timeline " INT64_FORMAT ", this server's %u).",
							   gaps, h.timeline, tli)));
		}
		if (record)
		{
			CallOnSequenceAsOwner(setval_oid, h.timeline_seq,
								  Int64GetDatum((int64) tli), 2, &isnull);
			CallOnSequenceAsOwner(setval_oid, h.era_seq, Int64GetDatum(era),
								  2, &isnull);
			/* durable before a token drawn after it can leave this server */
			XLogFlush(XactLastRecEnd);
		}
		UnlockRelationOid(h.timeline_seq, ShareUpdateExclusiveLock);
	}
	history_checked_tli = tli;
	history_checked_seq = seqid;
}

/*
 * The sequence values the counter will move up before the next token (see
 * CheckTokenHistory), without moving it.  A standby reports what it
 * replayed: it is another copy of the same history.
 */
static int64
PendingTokenGap(Oid seqid)
{
	TimeLineID	tli = CurrentTimeLine();
	TokenHistory h;
	bool		record;

	if (RecoveryInProgress() || HistoryChecked(seqid, tli))
		return 0;
	ReadTokenHistory(&h, seqid);
	if (!OidIsValid(h.timeline_seq))
		return 0;
	return GapValues(EraGaps(&h, tli, ThisEra(), &record));
}

/*
 * Draw a new token.  Call only while holding the lock name exclusively, so
 * that grants of one name are always in token order.
 */
int64
NextFencingToken(bool exclusive)
{
	Oid			seqid = StoreRelationOid(FENCING_SEQUENCE);
	XLogRecPtr	logged_before;
	int64		value;

	CheckTokenHistory(seqid);
	logged_before = XactLastRecEnd;
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

/*
 * A new lock session id.  Ids are drawn from the fencing token counter so
 * that none is ever handed out twice, for the same reasons no token is:
 * not after a crash, the promotion of a standby that missed the last WAL,
 * recovery to a point in time, or a restore or clone of the database.  A
 * client still holding the id of a session lost with such WAL then finds
 * that session ended, instead of renewing, closing or acquiring in another
 * process's session that happens to have the same id (an acquire there
 * would even return that process's token: two holders, one token).
 */
int64
NextSessionId(void)
{
	return NextFencingToken(true);
}

/* The highest token this server can have issued; false before the first. */
bool
LastIssuedToken(int64 *token)
{
	Oid			seqid = StoreRelationOid(FENCING_SEQUENCE);
	bool		isnull;
	Datum		value;
	int64		last;

	value = CallOnSequenceAsOwner(pg_sequence_last_value, seqid, (Datum) 0, 1,
								  &isnull);
	if (isnull)
		return false;
	if (pg_add_s64_overflow(DatumGetInt64(value), PendingTokenGap(seqid), &last))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("fencing token counter out of range")));
	*token = ComposeToken(last, false);
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

/* ---------------------------------------------------------------------
 * DROP EXTENSION: the counter goes with it
 * ---------------------------------------------------------------------
 */

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Whether a utility statement drops the extension lockservice. */
static bool
DropsLockservice(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "lockservice") == 0)
			return true;
	}
	return false;
}

/*
 * Nothing can carry the token counter past DROP EXTENSION: say, before it
 * goes, which token a new installation must be moved above, and how.
 */
static void
TokenProcessUtility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	int64		last;

	if (DropsLockservice(pstmt->utilityStmt) &&
		OidIsValid(get_extension_oid("lockservice", true)) &&
		OidIsValid(get_namespace_oid(LOCKSERVICE_SCHEMA, true)) &&
		OidIsValid(get_relname_relid(FENCING_SEQUENCE,
									 get_namespace_oid(LOCKSERVICE_SCHEMA, true))) &&
		LastIssuedToken(&last))
		ereport(NOTICE,
				(errmsg("lockservice: dropping the fencing token counter of this database at token " INT64_FORMAT, last),
				 errdetail("A new installation starts again from the lowest token; resources that saw tokens of this one would refuse its tokens."),
				 errhint("After CREATE EXTENSION lockservice, run SELECT lockservice.advance_token_counter(" INT64_FORMAT ") before the first grant.", last)));

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* Install the utility hook. */
void
TokenInit(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = TokenProcessUtility;
}
