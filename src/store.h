/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Row access to lockservice's tables without the executor.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_STORE_H
#define LOCKSERVICE_STORE_H

#include "access/genam.h"
#include "access/skey.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "nodes/lockoptions.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/* An open table, its primary key and the row last read or locked. */
typedef struct StoreTable
{
	Relation	rel;
	Relation	pkey;
	int			nkeys;			/* number of primary key columns */
	int			natts;			/* number of columns the table has */
	TupleTableSlot *row;		/* the row read or locked */
	TupleTableSlot *newrow;		/* the row to write */
	SnapshotData dirty;			/* latest state, committed or not */
	TransactionId busy_xid;		/* transaction that keeps the row busy */
	bool		wrote;			/* keep the locks until transaction end */
} StoreTable;

typedef enum StoreReadResult
{
	STORE_ABSENT,				/* no row with that key */
	STORE_FOUND,				/* t->row holds the latest committed row */
	STORE_BUSY					/* an open transaction is changing it */
} StoreReadResult;

typedef enum StoreLockResult
{
	STORE_LOCKED,				/* row locked, unchanged since it was read */
	STORE_CHANGED,				/* row changed since it was read: read again */
	STORE_WOULD_BLOCK			/* another transaction holds a conflicting lock */
} StoreLockResult;

extern void StoreOpen(StoreTable *t, const char *relname, const char *pkeyname,
					  int natts);
extern void StoreOpenLayouts(StoreTable *t, const char *relname,
							 const char *pkeyname, int min_natts, int max_natts);
extern void StoreClose(StoreTable *t);
extern StoreReadResult StoreRead(StoreTable *t, ScanKey keys);
extern void StoreWaitBusy(StoreTable *t);
extern bool StoreRowHasNoSuccessor(StoreTable *t);
extern StoreLockResult StoreLock(StoreTable *t, LockTupleMode mode, bool wait);
extern StoreLockResult StoreLockTid(StoreTable *t, ItemPointer tid,
									LockTupleMode mode, bool wait);
extern IndexScanDesc StoreRangeBegin(StoreTable *t, ScanKey keys, int nkeys);
extern IndexScanDesc StoreRangeBeginOn(StoreTable *t, Relation index,
										ScanKey keys, int nkeys);
extern StoreReadResult StoreRangeNext(StoreTable *t, IndexScanDesc scan);
extern void StoreRangeEnd(IndexScanDesc scan);
extern void StoreAppend(StoreTable *t);
extern Datum *StoreNewRow(StoreTable *t, bool **nulls);
extern bool StoreInsert(StoreTable *t);
extern void StoreUpdate(StoreTable *t);
extern Oid	StoreRelationOid(const char *relname);
extern TableScanDesc StoreBeginScan(StoreTable *t, Snapshot snapshot,
									 BlockNumber start);
extern bool StoreScanNext(StoreTable *t, TableScanDesc scan);
extern void StoreDelete(StoreTable *t);

#endif							/* LOCKSERVICE_STORE_H */
