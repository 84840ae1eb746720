/*-------------------------------------------------------------------------
 *
 * lockservice.c
 *	  Library entry point: configuration, and the set-up of every part.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "lockservice.h"
#include "durability.h"
#include "events.h"
#include "history.h"
#include "reaper.h"
#include "stats.h"
#include "token.h"
#include "wait.h"

PG_MODULE_MAGIC;

/* GUC variables */
int			lockservice_max_ttl = 86400;
int			lockservice_max_name_length = 256;
int			lockservice_max_holder_length = 256;
int			lockservice_wait_slots = 1024;
bool		lockservice_sync_grants = true;

void		_PG_init(void);

/* Define the configuration and set up each part. */
void
_PG_init(void)
{
	DefineCustomIntVariable("lockservice.max_ttl",
							"Longest time to live a lease may ask for.",
							NULL,
							&lockservice_max_ttl,
							86400, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lockservice.max_name_length",
							"Longest lock or resource name, in bytes.",
							NULL,
							&lockservice_max_name_length,
							256, 1, 1024,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lockservice.max_holder_length",
							"Longest holder identity, in bytes.",
							NULL,
							&lockservice_max_holder_length,
							256, 1, 1024,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	/* a PGC_POSTMASTER setting can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("lockservice.wait_slots",
								"Number of buckets of the waiter queue (with shared_preload_libraries).",
								"Lock names hash to buckets; a transaction that touched a name looks for its waiters only when the bucket has some.",
								&lockservice_wait_slots,
								1024, 16, 65536,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	DefineCustomBoolVariable("lockservice.sync_grants",
							 "Flushes the commit of every transaction that takes a fencing token, even with synchronous_commit off.",
							 "Off: with synchronous_commit off, a crash may lose grants that were already acknowledged. Tokens never go backwards either way.",
							 &lockservice_sync_grants,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/*
	 * pg_upgrade starts the new cluster in binary-upgrade mode with its
	 * configuration: no workers, hooks or shared memory then.
	 */
	if (IsBinaryUpgrade)
		return;

	TokenInit();
	DurabilityInit();
	WaitInit();
	ReaperInit();
	StatsInit();
	EventsInit();
	HistoryInit();

	/* last: settings defined after this would be dropped from the config */
	MarkGUCPrefixReserved("lockservice");
}

/*
 * The error of a call that waited while DROP EXTENSION lockservice
 * committed: a waiter that woke to find the extension gone (relname NULL),
 * or a call whose lock on table relname waited for the drop.
 */
void
ErrorExtensionDropped(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("extension lockservice was dropped while this session waited for a lock"),
			 relname ? errdetail("Table \"%s.%s\" was dropped while this call waited for it.",
								 LOCKSERVICE_SCHEMA, relname) : 0,
			 errhint("Nothing was done.  Create the extension again to use locks in this database.")));
}
