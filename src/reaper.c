/*-------------------------------------------------------------------------
 *
 * reaper.c
 *	  The background workers that reap expired leases: a launcher, and one
 *	  reaper per database in which lockservice is installed.
 *
 * Correctness never depends on them (acquire treats an expired lease as
 * free); they clean up, wake the waiters of expired leases and report.
 *
 * With shared_preload_libraries the launcher starts with the server (once
 * recovery has finished: nothing runs on a standby) and starts a reaper in
 * a database only while that database has work due, as autovacuum's
 * launcher does: a row that can have ended (the per-database next_due that
 * every committing grant or release lowers), events waiting to be
 * published, or a visit due (every database once at start, then at least
 * once a minute, for rows nobody announced).  At most
 * lockservice.max_reapers reapers run at once; a reaper exits once its
 * database has had nothing due for a while, or sooner when other databases
 * wait for a reaper.  Work that waits longer than two reap intervals for a
 * reaper is counted (reaper_status().times_behind) and logged with the
 * setting to raise.  The launcher cannot read other databases' catalogs, so
 * at start it visits every database that allows connections and is not a
 * template; a reaper that finds no extension marks its database as not
 * wanted and exits.  CREATE EXTENSION, CREATE DATABASE, DROP DATABASE and
 * ALTER DATABASE RENAME tell the launcher through a utility hook: those
 * last two (and CREATE DATABASE from a template with a reaper) first stop
 * the database's reaper, which would otherwise make them fail with "being
 * accessed by other users".
 *
 * Without preloading, lockservice.start_reaper() starts a reaper for the
 * current database as a dynamic background worker, and stop_reaper() stops
 * it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "events.h"
#include "history.h"
#include "lease.h"
#include "lockservice.h"
#include "reaper.h"
#include "schedule.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(start_reaper);
PG_FUNCTION_INFO_V1(stop_reaper);
PG_FUNCTION_INFO_V1(reaper_status);

#define REAPER_SHMEM_NAME		"lockservice reapers v4"
#define REAPER_LAYOUT_VERSION	4
#define REAPER_BATCH_SIZE		1000
#define REAPER_TYPE				"lockservice reaper"
#define LAUNCHER_TYPE			"lockservice launcher"
#define LAUNCHER_NAP_MS			1000
#define REAPER_RESTART_SECS		1
#define REAPER_MAX_BACKOFF_MS	(5 * 60 * 1000)
#define EVENTS_GATHER_MS		10

/*
 * Longest time between two scans of the table, whatever next_due says: a
 * safety net for changes nothing told the reaper about (a 1.0 schema, which
 * has no trigger on direct changes).
 */
#define REAPER_FULL_SCAN_SECS	60

/* GUCs */
int			lockservice_reap_interval = 1000;
static int	lockservice_max_reapers = 3;
static int	lockservice_max_databases = 1024;
static int	lockservice_reaper_idle_time = 30000;

/* at most one "falls behind" warning per this many seconds */
#define BEHIND_LOG_SECS			60

/* The reaper of one database, as the launcher and the reaper see it. */
typedef struct ReaperSlot
{
	Oid			dboid;			/* InvalidOid: slot unused */
	bool		wanted;			/* the launcher keeps a reaper running here */
	bool		paused;			/* a DROP/RENAME of the database is running */
	pid_t		pid;			/* the running reaper, or 0 */
	Latch	   *latch;			/* its latch */
	TimestampTz started_at;
	TimestampTz last_run;
	int64		reaped;			/* expired leases reaped since the server started */
	int64		deleted;		/* released rows deleted since then */
	TimestampTz last_visit;		/* the last round that read the whole table */
	TimestampTz due_since;		/* work due, no reaper to do it (0: none) */
	bool		behind;			/* due_since is over 2 reap intervals ago */
	int64		times_behind;	/* how often that happened */
	ScheduleEntry *schedule;	/* what is due when in the database */
} ReaperSlot;

typedef struct ReaperShared
{
	uint32		layout_version;
	LWLock	   *lock;			/* protects everything below */
	int			waiting;		/* databases with work due and no reaper */
	int			nslots;			/* lockservice.max_databases */
	ReaperSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} ReaperShared;

static ReaperShared *reaper_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* set by SIGUSR2: stop_reaper() asked this reaper to exit for good */
static volatile sig_atomic_t stop_requested = false;

static Size
ReaperShmemSize(void)
{
	return add_size(offsetof(ReaperShared, slots),
					mul_size(lockservice_max_databases, sizeof(ReaperSlot)));
}

static void
ReaperShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(ReaperShmemSize());
	RequestNamedLWLockTranche("lockservice reapers", 1);
}

static void
ReaperShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	reaper_shared = ShmemInitStruct(REAPER_SHMEM_NAME, ReaperShmemSize(), &found);
	if (!found)
	{
		memset(reaper_shared, 0, ReaperShmemSize());
		reaper_shared->layout_version = REAPER_LAYOUT_VERSION;
		reaper_shared->nslots = lockservice_max_databases;
		reaper_shared->lock = &(GetNamedLWLockTranche("lockservice reapers"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The slot of a database, optionally claiming a free one; caller locks. */
static ReaperSlot *
ReaperSlotFor(Oid dboid, bool create)
{
	ReaperSlot *free_slot = NULL;

	for (int i = 0; i < reaper_shared->nslots; i++)
	{
		ReaperSlot *slot = &reaper_shared->slots[i];

		if (slot->dboid == dboid)
			return slot;
		if (slot->dboid == InvalidOid && free_slot == NULL)
			free_slot = slot;
	}
	if (create && free_slot != NULL)
	{
		ScheduleEntry *schedule = ScheduleFor(dboid, true);

		if (schedule == NULL)
			return NULL;
		memset(free_slot, 0, sizeof(ReaperSlot));
		free_slot->dboid = dboid;
		free_slot->schedule = schedule;
	}
	return create ? free_slot : NULL;
}

/* Mark a database as one that should have a reaper, and tell the launcher. */
static void
WantReaper(Oid dboid)
{
	ReaperSlot *slot;

	LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
	slot = ReaperSlotFor(dboid, true);
	if (slot)
	{
		slot->wanted = true;
		ScheduleSetDue(slot->schedule, 0);	/* look at it now */
	}
	LWLockRelease(reaper_shared->lock);
	if (slot == NULL)
		ereport(WARNING,
				(errmsg("lockservice: no reaper slot free for database %u", dboid),
				 errhint("At most lockservice.max_databases (%d) databases get a reaper; raise it (a restart is needed).",
						 reaper_shared->nslots)));
	ScheduleWakeLauncher();
}

/* databases to tell the launcher about when the transaction commits */
static Oid	wanted_at_commit[2];
static int	nwanted_at_commit = 0;

static void
WantReaperAtCommit(Oid dboid)
{
	if (OidIsValid(dboid) && nwanted_at_commit < (int) lengthof(wanted_at_commit))
		wanted_at_commit[nwanted_at_commit++] = dboid;
}

static void
ReaperXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
		for (int i = 0; i < nwanted_at_commit; i++)
			WantReaper(wanted_at_commit[i]);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		nwanted_at_commit = 0;
}

/*
 * Stop the reaper of a database for the length of a statement that needs
 * the database to itself (or let it run again).
 */
static void
PauseReaper(Oid dboid, bool pause)
{
	ReaperSlot *slot;
	Latch	   *latch = NULL;

	if (!OidIsValid(dboid))
		return;
	LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
	slot = ReaperSlotFor(dboid, false);
	if (slot)
	{
		slot->paused = pause;
		latch = slot->latch;
		if (!pause)
			ScheduleSetDue(slot->schedule, 0);	/* look at it again now */
	}
	LWLockRelease(reaper_shared->lock);
	if (latch)
		SetLatch(latch);
	if (!pause)
		ScheduleWakeLauncher();
}

/*
 * Utility hook: keep reapers out of the way of statements that need a
 * database to themselves, and tell the launcher about new databases and
 * new installations of the extension.
 */
static void
ReaperProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	volatile Oid paused_db = InvalidOid;
	char	   *volatile created_db = NULL;
	volatile bool created_extension = false;

	if (IsA(parsetree, DropdbStmt))
		paused_db = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		paused_db = get_database_oid(((RenameStmt *) parsetree)->subname, true);
	else if (IsA(parsetree, CreatedbStmt))
	{
		CreatedbStmt *stmt = (CreatedbStmt *) parsetree;
		ListCell   *lc;

		created_db = stmt->dbname;
		foreach(lc, stmt->options)
		{
			DefElem    *opt = lfirst(lc);

			if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
				paused_db = get_database_oid(defGetString(opt), true);
		}
	}
	else if (IsA(parsetree, CreateExtensionStmt) &&
			 strcmp(((CreateExtensionStmt *) parsetree)->extname, "lockservice") == 0)
		created_extension = true;

	PauseReaper(paused_db, true);
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		PauseReaper(paused_db, false);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * A dropped database's slot stays paused until the launcher sees the
	 * database gone (the drop commits after this returns).
	 */
	if (!IsA(parsetree, DropdbStmt))
		PauseReaper(paused_db, false);

	/* the launcher hears of it once the transaction has committed */
	if (created_extension)
		WantReaperAtCommit(MyDatabaseId);
	if (created_db != NULL)
		WantReaperAtCommit(get_database_oid(created_db, true));
}

/* Register the launcher, shared memory and the utility hook (preloaded). */
void
ReaperInit(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("lockservice.reap_interval",
							"Time between two runs of the reaper.",
							NULL,
							&lockservice_reap_interval,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockservice.max_reapers",
							"Most reapers running at once, over all databases (with shared_preload_libraries).",
							"Each is a background worker: keep max_worker_processes above this plus what else needs workers.",
							&lockservice_max_reapers,
							3, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockservice.reaper_idle_time",
							"How long a reaper stays in a database that has nothing due (with shared_preload_libraries).",
							"Then it exits, and the launcher starts one again when something is due.",
							&lockservice_reaper_idle_time,
							30000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("lockservice.max_databases",
							"Most databases the launcher keeps track of (with shared_preload_libraries).",
							NULL,
							&lockservice_max_databases,
							1024, 1, 65536,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	ScheduleInit(lockservice_max_databases);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ReaperShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ReaperShmemStartup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ReaperProcessUtility;
	RegisterXactCallback(ReaperXactCallback, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = REAPER_RESTART_SECS;
	strlcpy(worker.bgw_library_name, "lockservice", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "lockservice_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, LAUNCHER_TYPE, BGW_MAXLEN);
	strlcpy(worker.bgw_type, LAUNCHER_TYPE, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Start a reaper for a database; NULL when no worker slot is free. */
static BackgroundWorkerHandle *
StartReaperWorker(Oid dboid, pid_t notify_pid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = REAPER_RESTART_SECS;
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = notify_pid;
	strlcpy(worker.bgw_library_name, "lockservice", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "lockservice_reaper_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "lockservice reaper for database %u", dboid);
	strlcpy(worker.bgw_type, REAPER_TYPE, BGW_MAXLEN);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * Launcher: note the databases that exist, forget the ones that are gone,
 * and return a bitmap-like array of which slots still have a database.
 */
static void
LauncherScanDatabases(bool first)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	bool	   *exists = palloc0(sizeof(bool) * reaper_shared->nslots);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		ReaperSlot *slot;

		if (!db->datallowconn || db->datistemplate)
			continue;
		/* at start every database is probed; later only the ones known */
		slot = ReaperSlotFor(db->oid, first);
		if (slot == NULL)
			continue;
		if (first)
			slot->wanted = true;
		exists[slot - reaper_shared->slots] = true;
	}
	for (int i = 0; i < reaper_shared->nslots; i++)
	{
		ReaperSlot *slot = &reaper_shared->slots[i];

		if (slot->dboid != InvalidOid && !exists[i] && slot->pid == 0)
		{
			ScheduleForget(slot->dboid);
			slot->dboid = InvalidOid;
		}
	}
	LWLockRelease(reaper_shared->lock);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pfree(exists);
}

/* Whether a database without a reaper has work due now. */
static bool
WorkDue(ReaperSlot *slot, TimestampTz now)
{
	return ScheduleNextDue(slot->schedule) <= now ||
		EventsPending(slot->dboid) ||
		TimestampDifferenceExceeds(slot->last_visit, now, REAPER_FULL_SCAN_SECS * 1000);
}

/*
 * Work due in a database has waited for a reaper (the cap, or no free
 * background worker slot): note since when, count it once it is over two
 * reap intervals, and say in the log what to raise.  Caller holds the lock.
 */
static void
NoteBehind(ReaperSlot *slot, TimestampTz now, bool no_worker_slot)
{
	static TimestampTz last_logged = 0;

	if (slot->due_since == 0)
		slot->due_since = now;
	if (slot->behind ||
		!TimestampDifferenceExceeds(slot->due_since, now, 2 * lockservice_reap_interval))
		return;
	slot->behind = true;
	slot->times_behind++;
	if (!TimestampDifferenceExceeds(last_logged, now, BEHIND_LOG_SECS * 1000))
		return;
	last_logged = now;
	if (no_worker_slot)
		ereport(WARNING,
				(errmsg("lockservice: reaping in database %u falls behind: no background worker slot is free",
						slot->dboid),
				 errhint("Raise max_worker_processes (a restart is needed).")));
	else
		ereport(WARNING,
				(errmsg("lockservice: reaping in database %u falls behind: %d reapers already run",
						slot->dboid, lockservice_max_reapers),
				 errhint("Raise lockservice.max_reapers (a reload is enough), and max_worker_processes with it.")));
}

/* Launcher main loop. */
PGDLLEXPORT void lockservice_launcher_main(Datum main_arg);

void
lockservice_launcher_main(Datum main_arg)
{
	int			nslots = reaper_shared->nslots;
	BackgroundWorkerHandle **handles = palloc0(sizeof(BackgroundWorkerHandle *) * nslots);
	Oid		   *handle_db = palloc0(sizeof(Oid) * nslots);
	bool		first = true;
	int			next = 0;		/* where the next look starts: turns */
	TimestampTz last_db_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	ScheduleSetLauncher(MyLatch);

	for (;;)
	{
		TimestampTz now;
		int			running = 0;
		int			waiting = 0;
		long		nap_ms = Min(LAUNCHER_NAP_MS, lockservice_reap_interval);

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* databases come and go: look at pg_database every few seconds */
		now = GetCurrentTimestamp();
		if (first || TimestampDifferenceExceeds(last_db_scan, now, 5000))
		{
			LauncherScanDatabases(first);
			last_db_scan = now;
		}
		first = false;

		/* forget handles of reapers that are gone; count those that run */
		for (int i = 0; i < nslots; i++)
		{
			pid_t		pid;

			if (handles[i] != NULL &&
				(GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED ||
				 handle_db[i] != reaper_shared->slots[i].dboid))
			{
				pfree(handles[i]);
				handles[i] = NULL;
			}
			if (handles[i] != NULL || reaper_shared->slots[i].pid != 0)
				running++;
		}

		/* start reapers where work is due, in turns, up to the cap */
		now = GetCurrentTimestamp();
		for (int k = 0; k < nslots; k++)
		{
			int			i = (next + k) % nslots;
			ReaperSlot *slot = &reaper_shared->slots[i];
			Oid			dboid;
			bool		due;

			LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
			dboid = slot->dboid;
			due = dboid != InvalidOid && slot->wanted && !slot->paused &&
				slot->pid == 0 && handles[i] == NULL && WorkDue(slot, now);
			if (!due && slot->pid != 0)
			{
				slot->due_since = 0;
				slot->behind = false;
			}
			if (due && running >= lockservice_max_reapers)
			{
				NoteBehind(slot, now, false);
				waiting++;
				due = false;
			}
			LWLockRelease(reaper_shared->lock);
			if (!due)
				continue;

			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				handles[i] = StartReaperWorker(dboid, MyProcPid);
				handle_db[i] = dboid;
				MemoryContextSwitchTo(old);
			}
			LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
			if (handles[i] == NULL)
			{
				NoteBehind(slot, now, true);
				waiting++;
				nap_ms = Min(nap_ms, 100);	/* a slot may free up soon */
			}
			else
			{
				running++;
				slot->due_since = 0;
				slot->behind = false;
				next = (i + 1) % nslots;
			}
			LWLockRelease(reaper_shared->lock);
		}
		LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
		reaper_shared->waiting = waiting;
		LWLockRelease(reaper_shared->lock);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 nap_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static void
ReaperSigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	stop_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* on exit: the slot no longer has a running reaper */
static void
ReaperDetach(int code, Datum arg)
{
	ReaperSlot *slot = (ReaperSlot *) DatumGetPointer(arg);

	LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
		ScheduleSetServed(slot->schedule, false);
	}
	LWLockRelease(reaper_shared->lock);
	ScheduleWakeLauncher();
}

/*
 * Claim the slot of the database for this reaper; NULL when this reaper
 * should not run (no slot, not wanted, paused, or another one runs).
 */
static ReaperSlot *
ReaperClaimSlot(Oid dboid)
{
	ReaperSlot *slot;

	LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
	slot = ReaperSlotFor(dboid, false);
	if (slot && (!slot->wanted || slot->paused ||
				 (slot->pid != 0 && kill(slot->pid, 0) == 0)))
		slot = NULL;
	if (slot)
	{
		slot->pid = MyProcPid;
		slot->latch = MyLatch;
		slot->started_at = GetCurrentTimestamp();
		ScheduleSetDue(slot->schedule, 0);
		ScheduleSetServed(slot->schedule, true);
	}
	LWLockRelease(reaper_shared->lock);
	return slot;
}

/* Whether this reaper should stop for good. */
static bool
ReaperShouldExit(ReaperSlot *slot)
{
	bool		exit_now = stop_requested;

	if (slot)
	{
		LWLockAcquire(reaper_shared->lock, LW_SHARED);
		exit_now |= slot->paused || !slot->wanted;
		LWLockRelease(reaper_shared->lock);
	}
	return exit_now;
}

/*
 * Whether the extension is installed, and if so keep it from being dropped
 * until the transaction ends (a DROP EXTENSION waits for the batch).
 */
static bool
ReaperLockExtension(void)
{
	Oid			extoid = get_extension_oid("lockservice", true);

	if (!OidIsValid(extoid))
		return false;
	LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessShareLock);
	/* it may have been dropped while we waited for the lock */
	return OidIsValid(get_extension_oid("lockservice", true));
}

/*
 * One reaping round: batches of up to REAPER_BATCH_SIZE rows, each in its
 * own transaction, until none is full.  The batches of a round go through
 * the leases table once, each going on where the last one stopped.
 * Returns false when the extension is gone from the database.
 */
static bool
ReaperRunBatches(ReaperSlot *slot)
{
	static TimestampTz last_full_scan = 0;
	bool		scan_leases = true;
	bool		more = true;
	BlockNumber block = 0;		/* where the next batch's scan starts */
	TimestampTz next_due = DT_NOEND;	/* of the rows the round kept */

	/*
	 * Nothing can have ended before next_due: skip the scan.  Else clear it
	 * before the first batch's snapshot is taken: a commit that a batch does
	 * not see lowers it again afterwards.
	 */
	if (slot)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now < ScheduleNextDue(slot->schedule) &&
			!TimestampDifferenceExceeds(last_full_scan, now,
										REAPER_FULL_SCAN_SECS * 1000))
			scan_leases = false;
		else
			ScheduleClearDue(slot->schedule);
	}

	while (more)
	{
		int64		reaped = 0;
		int64		deleted = 0;
		bool		installed;
		bool		scanned = false;
		bool		more_leases = false;
		bool		more_history = false;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		installed = ReaperLockExtension();
		if (installed && !RecoveryInProgress())
		{
			pgstat_report_activity(STATE_RUNNING, "reaping expired leases");
			if (scan_leases)
			{
				reaped = LeaseReapEnded(REAPER_BATCH_SIZE, &block, &more_leases,
										&next_due, &deleted);
				scanned = !more_leases;
			}
			HistoryPrune(REAPER_BATCH_SIZE, &more_history);
		}
		more = more_leases || more_history;
		PopActiveSnapshot();
		CommitTransactionCommand();
		if (scan_leases && !more_leases)
		{
			/*
			 * The round saw every row: nothing it kept ends before next_due.
			 * A round that could not scan decides nothing.
			 */
			if (scanned)
			{
				last_full_scan = GetCurrentTimestamp();
				if (slot)
				{
					LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
					slot->last_visit = last_full_scan;
					LWLockRelease(reaper_shared->lock);
				}
			}
			if (slot && scanned)
				ScheduleLowerDue(slot->schedule, next_due);
			else if (slot)
				ScheduleSetDue(slot->schedule, 0);
			scan_leases = false;
		}
		/* a worker reports its table statistics itself (autovacuum needs them) */
		pgstat_report_stat(true);
		pgstat_report_activity(STATE_IDLE, NULL);
		if (!installed)
			return false;
		StatsAdd(STATS_EXPIRATIONS_REAPED, reaped);
		if (slot)
		{
			LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
			slot->last_run = GetCurrentTimestamp();
			slot->reaped += reaped;
			slot->deleted += deleted;
			LWLockRelease(reaper_shared->lock);
		}
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/* on exit: stop publishing events */
static void
ReaperStopPublishing(int code, Datum arg)
{
	EventsUnregisterReader(DatumGetInt32(arg));
}

/*
 * A reaping round that survives errors (a table the library does not know,
 * say): the error is logged, the transaction rolled back, and the next
 * round waits longer, up to REAPER_MAX_BACKOFF_MS, so that a lasting
 * problem neither crash-loops the worker nor floods the log.
 */
static bool
ReaperRun(ReaperSlot *slot, long *backoff_ms)
{
	MemoryContext context = CurrentMemoryContext;
	volatile bool installed = true;

	PG_TRY();
	{
		installed = ReaperRunBatches(slot);
		*backoff_ms = 0;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		if (*backoff_ms == 0)
			EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (slot)
			ScheduleSetDue(slot->schedule, 0);
		*backoff_ms = Min(Max(*backoff_ms * 2, (long) lockservice_reap_interval),
						  REAPER_MAX_BACKOFF_MS);
	}
	PG_END_TRY();
	return installed;
}

/*
 * Whether a reaper the launcher started can go: nothing was due in its
 * database since busy_at for lockservice.reaper_idle_time, or other databases wait for a
 * reaper and nothing is due here now.  The launcher starts one again when
 * something is due.  (Without shared memory a reaper runs until stopped.)
 */
static bool
ReaperIdle(ReaperSlot *slot, Oid dboid, TimestampTz busy_at)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		others_wait;

	if (slot == NULL || EventsPending(dboid) ||
		ScheduleNextDue(slot->schedule) <= now)
		return false;
	LWLockAcquire(reaper_shared->lock, LW_SHARED);
	others_wait = reaper_shared->waiting > 0;
	LWLockRelease(reaper_shared->lock);
	return others_wait ||
		TimestampDifferenceExceeds(busy_at, now, lockservice_reaper_idle_time);
}

/* Reaper main loop. */
PGDLLEXPORT void lockservice_reaper_main(Datum main_arg);

void
lockservice_reaper_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	ReaperSlot *slot = NULL;
	int			reader;
	uint64		event_position;
	TimestampTz next_reap = 0;
	TimestampTz last_round = 0;
	TimestampTz busy_at;		/* when this reaper last had work */
	long		backoff_ms = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGUSR2, ReaperSigusr2);
	BackgroundWorkerUnblockSignals();

	if (reaper_shared != NULL)
	{
		slot = ReaperClaimSlot(dboid);
		if (slot == NULL)
			proc_exit(0);
		before_shmem_exit(ReaperDetach, PointerGetDatum(slot));
	}
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	/*
	 * Its transactions only delete ended leases and publish events: losing
	 * the last of them in a crash is harmless, waiting for their flush is not.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	reader = EventsRegisterReader(dboid, &event_position);
	before_shmem_exit(ReaperStopPublishing, Int32GetDatum(reader));
	busy_at = GetCurrentTimestamp();

	for (;;)
	{
		long		timeout_ms;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a shorter interval counts from the last round, not the next */
			next_reap = Min(next_reap,
							TimestampTzPlusMilliseconds(last_round, lockservice_reap_interval));
			/* lockservice.lock_delay may have changed: look at every row */
			if (slot)
				ScheduleSetDue(slot->schedule, 0);
		}
		if (ReaperShouldExit(slot))
			break;
		if (ReaperIdle(slot, dboid, busy_at))
			break;
		if (reader >= 0 && EventsCurrentPosition() != event_position)
		{
			/* let a burst of commits add to one publishing transaction */
			(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 EVENTS_GATHER_MS, PG_WAIT_EXTENSION);
			if (EventsPublish(dboid, &event_position) > 0)
				busy_at = GetCurrentTimestamp();
		}
		now = GetCurrentTimestamp();
		if (slot && ScheduleNextDue(slot->schedule) <= now)
			busy_at = now;
		if (now >= next_reap)
		{
			last_round = now;
			if (!ReaperRun(slot, &backoff_ms))
			{
				/* the extension is not (or no longer) installed here */
				if (slot)
				{
					LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
					slot->wanted = false;
					LWLockRelease(reaper_shared->lock);
				}
				break;
			}
			/* publish what this round reaped without waiting a round */
			if (reader >= 0)
				EventsPublish(dboid, &event_position);
			next_reap = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													Max(backoff_ms, lockservice_reap_interval));
		}

		/* sleep until the next round, or until an event comes */
		timeout_ms = (long) ((next_reap - GetCurrentTimestamp() + 999) / 1000);
		if (timeout_ms > 0 && EventsPrepareToSleep(reader, event_position))
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/* The pid of the reaper of the current database, or 0. */
static pid_t
CurrentDatabaseReaper(void)
{
	pid_t		pid = 0;

	if (reaper_shared != NULL)
	{
		ReaperSlot *slot;

		LWLockAcquire(reaper_shared->lock, LW_SHARED);
		slot = ReaperSlotFor(MyDatabaseId, false);
		if (slot)
			pid = slot->pid;
		LWLockRelease(reaper_shared->lock);
		return pid;
	}

	/* without shared memory, look for it among the backends */
	for (int i = 1; i <= pgstat_fetch_stat_numbackends(); i++)
	{
		LocalPgBackendStatus *local = LocalBackendStatusByIndex(i);
		PgBackendStatus *be = &local->backendStatus;

		if (be->st_databaseid == MyDatabaseId && be->st_backendType == B_BG_WORKER &&
			strcmp(GetBackgroundWorkerTypeByPid(be->st_procpid) ?
				   GetBackgroundWorkerTypeByPid(be->st_procpid) : "", REAPER_TYPE) == 0)
			pid = be->st_procpid;
	}
	return pid;
}

/*
 * SQL: lockservice.start_reaper() starts the reaper of the current database
 * and returns its pid.  With shared_preload_libraries the launcher runs it
 * (this only makes sure it is wanted).
 */
Datum
start_reaper(PG_FUNCTION_ARGS)
{
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	CheckWritable("lockservice.start_reaper()");
	if (reaper_shared != NULL)
	{
		WantReaper(MyDatabaseId);
		PG_RETURN_NULL();
	}
	/* one start_reaper() at a time per database, until commit */
	LockDatabaseObject(ExtensionRelationId, get_extension_oid("lockservice", false),
					   0, ShareUpdateExclusiveLock);
	if ((pid = CurrentDatabaseReaper()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a lockservice reaper already runs in this database (pid %d)", (int) pid)));
	handle = StartReaperWorker(MyDatabaseId, MyProcPid);
	if (handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a lockservice reaper: no background worker slot is free"),
				 errhint("Raise max_worker_processes (a restart is needed), or stop another background worker.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("the lockservice reaper did not start"),
				 errhint("See the server log.")));

	/* return once it is connected, so that a second call sees it */
	for (int i = 0; i < 100; i++)
	{
		pgstat_clear_snapshot();
		if (CurrentDatabaseReaper() == pid)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_INT32((int32) pid);
}

/*
 * SQL: lockservice.stop_reaper() stops the reaper of the current database
 * for good (until start_reaper() or, when preloaded, a restart).  Returns
 * whether one was running.
 */
Datum
stop_reaper(PG_FUNCTION_ARGS)
{
	pid_t		pid;

	if (reaper_shared != NULL)
	{
		ReaperSlot *slot;

		LWLockAcquire(reaper_shared->lock, LW_EXCLUSIVE);
		slot = ReaperSlotFor(MyDatabaseId, false);
		if (slot)
			slot->wanted = false;
		LWLockRelease(reaper_shared->lock);
	}
	pid = CurrentDatabaseReaper();
	if (pid == 0)
		PG_RETURN_BOOL(false);
	if (kill(pid, SIGUSR2) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not signal the lockservice reaper (pid %d): %m", (int) pid)));
	PG_RETURN_BOOL(true);
}

/*
 * SQL: lockservice.reaper_status() lists, with shared_preload_libraries,
 * every database the launcher looks after: its running reaper (pid NULL
 * when none runs: nothing is due there), its last round, leases reaped,
 * the last round that read the whole table, whether work waits for a
 * reaper (due_since, behind, times_behind) and, from 1.3, released rows
 * deleted.  A 1.0 or 1.1 schema (five columns) gets the running reapers
 * only, as before; a 1.2 schema has no deleted column.  Without
 * shared_preload_libraries only the current database's reaper is known,
 * without its counts.
 */
#define REAPER_STATUS_COLUMNS	10	/* of the 1.3 schema; older ones have fewer */

Datum
reaper_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			natts;

	InitMaterializedSRF(fcinfo, 0);
	natts = Min(rsinfo->setDesc->natts, REAPER_STATUS_COLUMNS);
	if (reaper_shared != NULL)
	{
		int			nslots = reaper_shared->nslots;
		ReaperSlot *copy = palloc(sizeof(ReaperSlot) * nslots);

		LWLockAcquire(reaper_shared->lock, LW_SHARED);
		memcpy(copy, reaper_shared->slots, sizeof(ReaperSlot) * nslots);
		LWLockRelease(reaper_shared->lock);
		for (int i = 0; i < nslots; i++)
		{
			ReaperSlot *slot = &copy[i];
			Datum		values[REAPER_STATUS_COLUMNS];
			bool		nulls[REAPER_STATUS_COLUMNS] = {0};

			if (slot->dboid == InvalidOid ||
				(slot->pid == 0 && (natts < 9 || !slot->wanted || slot->paused)))
				continue;
			values[0] = ObjectIdGetDatum(slot->dboid);
			values[1] = Int32GetDatum((int32) slot->pid);
			nulls[1] = slot->pid == 0;
			values[2] = TimestampTzGetDatum(slot->started_at);
			nulls[2] = slot->pid == 0;
			values[3] = TimestampTzGetDatum(slot->last_run);
			nulls[3] = slot->last_run == 0;
			values[4] = Int64GetDatum(slot->reaped);
			values[5] = TimestampTzGetDatum(slot->last_visit);
			nulls[5] = slot->last_visit == 0;
			values[6] = TimestampTzGetDatum(slot->due_since);
			nulls[6] = slot->due_since == 0;
			values[7] = BoolGetDatum(slot->behind);
			values[8] = Int64GetDatum(slot->times_behind);
			values[9] = Int64GetDatum(slot->deleted);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		pfree(copy);
	}
	else
	{
		pid_t		pid = CurrentDatabaseReaper();

		if (pid != 0)
		{
			Datum		values[REAPER_STATUS_COLUMNS] = {0};
			bool		nulls[REAPER_STATUS_COLUMNS];

			for (int i = 0; i < REAPER_STATUS_COLUMNS; i++)
				nulls[i] = i > 1;
			values[0] = ObjectIdGetDatum(MyDatabaseId);
			values[1] = Int32GetDatum((int32) pid);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
