/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Row access to lockservice's tables without the executor.
 *
 * Every lockservice function finds its row through the primary key with a
 * dirty snapshot (the latest state, committed or in progress), then locks
 * exactly the version it read.  Reading this way, rather than through SPI
 * and the caller's snapshot, is what lets the functions act on the latest
 * committed lease state in REPEATABLE READ and SERIALIZABLE transactions
 * without serialization failures, lets waiters give up a row instead of
 * blocking on it, and keeps the hot path to one index probe and one HOT
 * update.  Locking the version that was read (never following its update
 * chain) means a caller only ever holds a row lock on a row whose state it
 * has seen: a failed attempt leaves no lock behind.
 *
 * The tables are written only here; callers check ownership themselves, so
 * no table privileges are needed (or granted).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "nodes/primnodes.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "lockservice.h"
#include "store.h"

/* Look up one of lockservice's relations by name. */
Oid
StoreRelationOid(const char *relname)
{
	Oid			nspid;
	Oid			relid = InvalidOid;

	/* a DROP EXTENSION since the last call must not leave stale OIDs */
	AcceptInvalidationMessages();
	nspid = get_namespace_oid(LOCKSERVICE_SCHEMA, true);

	if (OidIsValid(nspid))
		relid = get_relname_relid(relname, nspid);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("lockservice is not installed in this database"),
				 errdetail("Relation \"%s.%s\" does not exist.",
						   LOCKSERVICE_SCHEMA, relname),
				 errhint("Run CREATE EXTENSION lockservice.")));
	return relid;
}

/*
 * Open one of lockservice's tables, locked in mode.  A DROP EXTENSION that
 * commits between the lookup and the lock (the lock waits for it) leaves
 * no table to open.
 */
static Relation
StoreOpenTable(const char *relname, LOCKMODE mode)
{
	Relation	rel = try_table_open(StoreRelationOid(relname), mode);

	if (rel == NULL)
		ErrorExtensionDropped(relname);
	return rel;
}

/* Open a table and its primary key for reading and writing. */
void
StoreOpen(StoreTable *t, const char *relname, const char *pkeyname, int natts)
{
	StoreOpenLayouts(t, relname, pkeyname, natts, natts);
}

/*
 * Open a table that has between min_natts and max_natts columns: the
 * layouts of the versions this library serves (a newer library runs the
 * older version's tables until ALTER EXTENSION UPDATE).  t->natts says
 * which one it is.
 */
void
StoreOpenLayouts(StoreTable *t, const char *relname, const char *pkeyname,
				 int min_natts, int max_natts)
{
	TupleDesc	desc;

	t->rel = StoreOpenTable(relname, RowExclusiveLock);
	desc = RelationGetDescr(t->rel);
	if (desc->natts < min_natts || desc->natts > max_natts)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s.%s\" does not have the layout this library expects",
						LOCKSERVICE_SCHEMA, relname),
				 errhint("Update the extension with ALTER EXTENSION lockservice UPDATE, or restart the server after installing a new version.")));
	t->natts = desc->natts;
	t->pkey = index_open(StoreRelationOid(pkeyname), RowExclusiveLock);
	t->nkeys = IndexRelationGetNumberOfKeyAttributes(t->pkey);
	t->row = table_slot_create(t->rel, NULL);
	t->newrow = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	InitDirtySnapshot(t->dirty);
	t->busy_xid = InvalidTransactionId;
	t->wrote = false;
}

/*
 * Close a table.  Unless the caller wrote or locked a row, the relation
 * locks go too: a waiter must not hold anything that would queue DROP
 * EXTENSION or VACUUM FULL behind it while it sleeps.
 */
void
StoreClose(StoreTable *t)
{
	LOCKMODE	release = t->wrote ? NoLock : RowExclusiveLock;

	ExecDropSingleTupleTableSlot(t->row);
	ExecDropSingleTupleTableSlot(t->newrow);
	index_close(t->pkey, release);
	table_close(t->rel, release);
}

/* Classify the row just fetched under the dirty snapshot. */
static StoreReadResult
StoreClassify(StoreTable *t)
{
	TransactionId xwait = TransactionIdIsValid(t->dirty.xmin) ?
	t->dirty.xmin : t->dirty.xmax;

	t->busy_xid = xwait;
	return TransactionIdIsValid(xwait) ? STORE_BUSY : STORE_FOUND;
}

/*
 * Scan the rows whose leading primary key columns equal keys, in key
 * order, in their latest state (see StoreRangeNext).
 */
IndexScanDesc
StoreRangeBegin(StoreTable *t, ScanKey keys, int nkeys)
{
	IndexScanDesc scan = IndexBeginScan(t->rel, t->pkey, &t->dirty, nkeys, 0);

	index_rescan(scan, keys, nkeys, NULL, 0);
	return scan;
}

/*
 * The same through another index of the table (opened by the caller),
 * whose leading columns equal keys.
 */
IndexScanDesc
StoreRangeBeginOn(StoreTable *t, Relation index, ScanKey keys, int nkeys)
{
	IndexScanDesc scan = IndexBeginScan(t->rel, index, &t->dirty, nkeys, 0);

	index_rescan(scan, keys, nkeys, NULL, 0);
	return scan;
}

/*
 * The next row of a range scan into t->row: STORE_FOUND, STORE_BUSY (an
 * open transaction is changing it; t->busy_xid says which), or
 * STORE_ABSENT at the end.  A row being changed can come twice: as its
 * last committed version and as the new one.
 */
StoreReadResult
StoreRangeNext(StoreTable *t, IndexScanDesc scan)
{
	if (!index_getnext_slot(scan, ForwardScanDirection, t->row))
		return STORE_ABSENT;
	return StoreClassify(t);
}

void
StoreRangeEnd(IndexScanDesc scan)
{
	index_endscan(scan);
}

/*
 * Read the latest version of the row with the given primary key.  A row
 * that an open transaction is inserting, updating or deleting is busy:
 * t->busy_xid says which transaction.
 */
StoreReadResult
StoreRead(StoreTable *t, ScanKey keys)
{
	IndexScanDesc scan;
	StoreReadResult result = STORE_ABSENT;

	t->busy_xid = InvalidTransactionId;
	scan = StoreRangeBegin(t, keys, t->nkeys);
	result = StoreRangeNext(t, scan);
	StoreRangeEnd(scan);
	return result;
}

/*
 * Whether the row version last read points to no newer version: a row an
 * open transaction is deleting, not updating.  (Its deleter set t_ctid and
 * xmax together, under the buffer lock, before the read saw xmax; an
 * updater points t_ctid to the new version before the new index entry
 * exists, so this tells a delete from an update a range scan has not seen
 * the rest of.)
 */
bool
StoreRowHasNoSuccessor(StoreTable *t)
{
	bool		should_free;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(t->row, false, &should_free);
	bool		result = ItemPointerEquals(&tuple->t_self, &tuple->t_data->t_ctid);

	if (should_free)
		heap_freetuple(tuple);
	return result;
}

/* Wait until the transaction that made the last read busy has ended. */
void
StoreWaitBusy(StoreTable *t)
{
	Assert(TransactionIdIsValid(t->busy_xid));
	XactLockTableWait(t->busy_xid, t->rel, NULL, XLTW_Lock);
}

/*
 * Lock the row last read, in the version that was read.  With wait, block
 * until conflicting lockers end (a heavyweight wait the deadlock detector
 * sees); without, give up at once.
 */
StoreLockResult
StoreLock(StoreTable *t, LockTupleMode mode, bool wait)
{
	ItemPointerData tid = t->row->tts_tid;

	return StoreLockTid(t, &tid, mode, wait);
}

/* Lock the row version at tid, as StoreLock() does, and read it into t->row. */
StoreLockResult
StoreLockTid(StoreTable *t, ItemPointer row_tid, LockTupleMode mode, bool wait)
{
	ItemPointerData tid = *row_tid;
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(t->rel, &tid, &t->dirty, t->row,
							  GetCurrentCommandId(true), mode,
							  wait ? LockWaitBlock : LockWaitSkip, 0, &tmfd);
	switch (result)
	{
		case TM_Ok:
			t->wrote = true;
			return STORE_LOCKED;
		case TM_WouldBlock:
			return STORE_WOULD_BLOCK;
		default:
			/* updated, deleted or otherwise moved on since the read */
			return STORE_CHANGED;
	}
}

/*
 * Start the row to write: a copy of the row last read (or all NULL when
 * none was read).  The caller sets the columns it changes.
 */
Datum *
StoreNewRow(StoreTable *t, bool **nulls)
{
	TupleTableSlot *newrow = t->newrow;
	int			natts = newrow->tts_tupleDescriptor->natts;

	ExecClearTuple(newrow);
	if (!TTS_EMPTY(t->row))
	{
		ExecMaterializeSlot(t->row);
		slot_getallattrs(t->row);
		memcpy(newrow->tts_values, t->row->tts_values, natts * sizeof(Datum));
		memcpy(newrow->tts_isnull, t->row->tts_isnull, natts * sizeof(bool));
	}
	else
		memset(newrow->tts_isnull, true, natts * sizeof(bool));
	*nulls = newrow->tts_isnull;
	return newrow->tts_values;
}

/*
 * Partial indexes: only "WHERE column IS NOT NULL [AND ...]" predicates,
 * which need no executor to evaluate (lockservice's own
 * leases_session_idx is one).
 */
static bool
StoreNotNullPredicateKnown(IndexInfo *info)
{
	ListCell   *lc;

	foreach(lc, info->ii_Predicate)
	{
		NullTest   *test = (NullTest *) lfirst(lc);

		if (!IsA(test, NullTest) || test->nulltesttype != IS_NOT_NULL ||
			test->argisrow || !IsA(test->arg, Var))
			return false;
	}
	return true;
}

/* Whether row belongs in a partial index of StoreNotNullPredicateKnown(). */
static bool
StoreNotNullPredicateHolds(IndexInfo *info, TupleTableSlot *row)
{
	ListCell   *lc;

	foreach(lc, info->ii_Predicate)
	{
		NullTest   *test = (NullTest *) lfirst(lc);

		if (slot_attisnull(row, ((Var *) test->arg)->varattno))
			return false;
	}
	return true;
}

/*
 * Insert index entries for t->newrow, checking unique indexes with
 * unique_check: UNIQUE_CHECK_PARTIAL only reports a possible conflict
 * (returning false) without waiting or raising an error.  unchanged says
 * that an update left the key as it was.
 */
static bool
StoreInsertIndexes(StoreTable *t, IndexUniqueCheck unique_check, bool unchanged)
{
	List	   *indexes = RelationGetIndexList(t->rel);
	ListCell   *lc;
	bool		unique_ok = true;

	foreach(lc, indexes)
	{
		Oid			indexid = lfirst_oid(lc);
		Relation	index;
		IndexInfo  *info;
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];
		IndexUniqueCheck check = UNIQUE_CHECK_NO;

		index = (indexid == RelationGetRelid(t->pkey)) ? t->pkey :
			index_open(indexid, RowExclusiveLock);
		info = BuildIndexInfo(index);
		if (info->ii_Expressions != NIL || info->ii_ExclusionOps != NULL ||
			!StoreNotNullPredicateKnown(info))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" on a lockservice table is not supported",
							RelationGetRelationName(index)),
					 errhint("Drop it: lockservice tables take only plain column indexes (partial ones only WHERE column IS NOT NULL).")));
		if (!StoreNotNullPredicateHolds(info, t->newrow))
		{
			if (index != t->pkey)
				index_close(index, NoLock);
			continue;
		}
		FormIndexDatum(info, t->newrow, NULL, values, isnull);
		if (info->ii_Unique)
			check = unique_check;
		if (!index_insert(index, values, isnull, &t->newrow->tts_tid, t->rel,
						  check, unchanged, info) &&
			check == UNIQUE_CHECK_PARTIAL)
			unique_ok = false;
		if (index != t->pkey)
			index_close(index, NoLock);
	}
	list_free(indexes);
	return unique_ok;
}

/*
 * Insert t->newrow unless a row with the same key exists or is being
 * inserted.  Returns false, leaving nothing behind, in that case.  This is
 * a speculative insertion, as INSERT ... ON CONFLICT DO NOTHING does it,
 * except that it never waits for the other inserter.
 */
bool
StoreInsert(StoreTable *t)
{
	TransactionId xid = GetCurrentTransactionId();
	uint32		spec_token;
	bool		inserted;

	ExecStoreVirtualTuple(t->newrow);
	spec_token = SpeculativeInsertionLockAcquire(xid);
	table_tuple_insert_speculative(t->rel, t->newrow, GetCurrentCommandId(true),
								   0, NULL, spec_token);
	inserted = StoreInsertIndexes(t, UNIQUE_CHECK_PARTIAL, false);
	table_tuple_complete_speculative(t->rel, t->newrow, spec_token, inserted);
	SpeculativeInsertionLockRelease(xid);
	t->wrote = true;
	CommandCounterIncrement();
	return inserted;
}

/* Insert t->newrow into a table without unique keys to worry about. */
void
StoreAppend(StoreTable *t)
{
	ExecStoreVirtualTuple(t->newrow);
	table_tuple_insert(t->rel, t->newrow, GetCurrentCommandId(true), 0, NULL);
	StoreInsertIndexes(t, UNIQUE_CHECK_YES, false);
	t->wrote = true;
	CommandCounterIncrement();
}

/* Replace the row locked by StoreLock() with t->newrow. */
void
StoreUpdate(StoreTable *t)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	UpdateIndexes update_indexes;
	TM_Result	result;

	ExecStoreVirtualTuple(t->newrow);
	result = table_tuple_update(t->rel, &t->row->tts_tid, t->newrow,
								GetCurrentCommandId(true), InvalidSnapshot,
								InvalidSnapshot, true, &tmfd, &lockmode,
								&update_indexes);
	if (result != TM_Ok)
		elog(ERROR, "lockservice: locked row of \"%s\" changed under its lock (%d)",
			 RelationGetRelationName(t->rel), (int) result);
	if (UpdateNeedsIndexEntries(update_indexes))
		StoreInsertIndexes(t, UNIQUE_CHECK_YES, true);
	t->wrote = true;
	CommandCounterIncrement();
}

/*
 * Start a sequential scan of the table with a snapshot of the caller's,
 * from the first row of block start on.  Starting further on lets a
 * caller that works through the table in batches go on where its last
 * batch stopped instead of reading the rows before it again.  Never a
 * synchronized scan: it starts where it is asked to, always.
 */
TableScanDesc
StoreBeginScan(StoreTable *t, Snapshot snapshot, BlockNumber start)
{
	TableScanDesc scan = table_beginscan_strat(t->rel, snapshot, 0, NULL,
											   true, false);

	/* only the heap can start further on; another access method reads all */
	if (start > 0 && t->rel->rd_tableam == GetHeapamTableAmRoutine())
	{
		BlockNumber nblocks = ((HeapScanDesc) scan)->rs_nblocks;

		if (start < nblocks)
			heap_setscanlimits(scan, start, nblocks - start);
		else
			heap_setscanlimits(scan, 0, 0);
	}
	return scan;
}

/* The next row of a scan into t->row; false at the end. */
bool
StoreScanNext(StoreTable *t, TableScanDesc scan)
{
	return table_scan_getnextslot(scan, ForwardScanDirection, t->row);
}

/* Delete the row locked by StoreLock(). */
void
StoreDelete(StoreTable *t)
{
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_delete(t->rel, &t->row->tts_tid,
								GetCurrentCommandId(true), InvalidSnapshot,
								InvalidSnapshot, true, &tmfd, false);
	if (result != TM_Ok)
		elog(ERROR, "lockservice: locked row of \"%s\" changed under its lock (%d)",
			 RelationGetRelationName(t->rel), (int) result);
	t->wrote = true;
	CommandCounterIncrement();
}
