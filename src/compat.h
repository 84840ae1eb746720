/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the PostgreSQL majors lockservice builds on
 *	  (15 to 18), in one place: the rest of the code reads as if there were
 *	  one PostgreSQL.  Each name here expands, at its use, to the call of
 *	  the major being built against.
 *
 *	  Built and tested here: 15 (Debian's packages) and 18 (Debian's source
 *	  package).  16 and 17 sit between them; their guards follow the
 *	  releases that made each change, but no 16 or 17 is built here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_COMPAT_H
#define LOCKSERVICE_COMPAT_H

#include "postgres.h"

/* 16: the varlena macros (VARDATA_ANY, ...) moved out of postgres.h */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* 18: index_beginscan takes an instrumentation struct (NULL: none) */
#if PG_VERSION_NUM >= 180000
#define IndexBeginScan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define IndexBeginScan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/*
 * 16: table_tuple_update says which indexes need new entries with an enum
 * (TU_All; TU_Summarizing only for summarizing indexes, which lockservice
 * tables have none of), no longer with a bool.
 */
#if PG_VERSION_NUM >= 160000
#define UpdateIndexes TU_UpdateIndexes
#define UpdateNeedsIndexEntries(u) ((u) == TU_All)
#else
#define UpdateIndexes bool
#define UpdateNeedsIndexEntries(u) (u)
#endif

/* 17: PGPROC lost pgprocno; this backend's number is MyProcNumber */
#if PG_VERSION_NUM >= 170000
#define MyProcIndex MyProcNumber
#else
#define MyProcIndex (MyProc->pgprocno)
#endif

/* 16: the local copy of a backend's status, by index, was renamed */
#if PG_VERSION_NUM >= 160000
#define LocalBackendStatusByIndex(i) pgstat_get_local_beentry_by_index(i)
#else
#define LocalBackendStatusByIndex(i) pgstat_fetch_stat_local_beentry(i)
#endif

/* 16: PgStat_StatTabEntry.n_live_tuples became live_tuples */
#if PG_VERSION_NUM >= 160000
#define TableLiveTuples(entry) ((entry)->live_tuples)
#else
#define TableLiveTuples(entry) ((entry)->n_live_tuples)
#endif

#endif							/* LOCKSERVICE_COMPAT_H */
