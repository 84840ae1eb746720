/*-------------------------------------------------------------------------
 *
 * monitor.c
 *	  lockservice.lease_classes(): live leases and their waiters per name
 *	  class, for monitoring scrapes.
 *
 * A scrape reads every live lease once, in one pass over the leases table
 * without the executor, and the wait queue once: no SQL function runs per
 * row and no lock is taken per row, so its cost is a small constant per
 * row (README: "Monitoring").  The class of a name is the part before its
 * first ':' or '/' ("invoice:42" -> "invoice"), "(none)" without one; the
 * largest classes are returned one by one, the rest together as "(other)".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "lockservice.h"
#include "session.h"
#include "store.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(lease_classes);

#define NUM_KINDS		3		/* exclusive, shared, permit */

static const char *const kind_names[NUM_KINDS] = {"exclusive", "shared", "permit"};

/* a class, as a key: its bytes (in the row while looked up, then copied) */
typedef struct ClassKey
{
	const char *data;
	int			len;
} ClassKey;

typedef struct ClassEntry
{
	ClassKey	key;
	int64		live[NUM_KINDS];
	int64		waiters[NUM_KINDS];
	int64		total;
} ClassEntry;

/* a name that sessions wait for, and how many of them not yet counted */
typedef struct WaitedName
{
	uint64		hash;
	int64		waiters;
} WaitedName;

static uint32
ClassKeyHash(const void *key, Size keysize)
{
	const ClassKey *k = key;

	return hash_bytes((const unsigned char *) k->data, k->len);
}

static int
ClassKeyMatch(const void *key1, const void *key2, Size keysize)
{
	const ClassKey *a = key1;
	const ClassKey *b = key2;

	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0 ? 0 : 1;
}

/* The class of a lock name: up to its first ':' or '/'; "(none)" without. */
static ClassKey
ClassOf(const char *name, int len)
{
	ClassKey	key = {"(none)", 6};

	for (int i = 0; i < len; i++)
		if (name[i] == ':' || name[i] == '/')
		{
			key.data = name;
			key.len = i;
			break;
		}
	return key;
}

static int
KindIndex(char kind)
{
	return kind == LEASE_KIND_EXCLUSIVE ? 0 : kind == LEASE_KIND_SHARED ? 1 : 2;
}

/* Largest first, then by class. */
static int
CompareClasses(const void *a, const void *b)
{
	const ClassEntry *x = *(ClassEntry *const *) a;
	const ClassEntry *y = *(ClassEntry *const *) b;
	int			cmp;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	cmp = memcmp(x->key.data, y->key.data, Min(x->key.len, y->key.len));
	if (cmp != 0)
		return cmp;
	return x->key.len - y->key.len;
}

/* The waiting sessions per name hash, from one look at the queue. */
static HTAB *
WaitedNames(void)
{
	HASHCTL		ctl = {0};
	HTAB	   *waited;
	int			n;
	uint64	   *hashes = WaitQueuedHashes(&n);

	if (n == 0)
		return NULL;
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(WaitedName);
	ctl.hcxt = CurrentMemoryContext;
	waited = hash_create("lockservice waited names", n, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < n; i++)
	{
		bool		found;
		WaitedName *w = hash_search(waited, &hashes[i], HASH_ENTER, &found);

		w->waiters = found ? w->waiters + 1 : 1;
	}
	pfree(hashes);
	return waited;
}

/* Count one live lease of a name in its class. */
static void
CountLease(HTAB *classes, HTAB *waited, MemoryContext keep, text *name, char kind)
{
	const char *data = VARDATA_ANY(name);
	int			len = VARSIZE_ANY_EXHDR(name);
	ClassKey	key = ClassOf(data, len);
	int			k = KindIndex(kind);
	bool		found;
	ClassEntry *entry = hash_search(classes, &key, HASH_ENTER, &found);

	if (!found)
	{
		memset(entry->live, 0, sizeof(entry->live));
		memset(entry->waiters, 0, sizeof(entry->waiters));
		entry->total = 0;
		/* the key outlives the row */
		entry->key.data = memcpy(MemoryContextAlloc(keep, Max(key.len, 1)),
								 key.data, key.len);
	}
	entry->live[k]++;
	entry->total++;

	/* each waiting session counts once, with the first live lease of its name */
	if (waited != NULL)
	{
		uint64		hash = WaitNameHash(data, len);
		WaitedName *w = hash_search(waited, &hash, HASH_FIND, NULL);

		if (w != NULL)
		{
			entry->waiters[k] += w->waiters;
			w->waiters = 0;
		}
	}
}

/* Emit a class's rows: one per kind it has live leases of. */
static void
EmitClass(ReturnSetInfo *rsinfo, const char *class, int64 *live, int64 *waiters)
{
	for (int k = 0; k < NUM_KINDS; k++)
	{
		Datum		values[4];
		bool		nulls[4] = {0};

		if (live[k] == 0)
			continue;
		values[0] = CStringGetTextDatum(class);
		values[1] = CStringGetTextDatum(kind_names[k]);
		values[2] = Int64GetDatum(live[k]);
		values[3] = Int64GetDatum(waiters[k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * SQL: lockservice.lease_classes(top integer DEFAULT 20) returns, per name
 * class and kind, the leases held now and the sessions waiting for names
 * of the class that are held now; the top largest classes, then the rest
 * as "(other)".
 */
Datum
lease_classes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		top;
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext context;
	MemoryContext old_context;
	MemoryContext row_context;
	HASHCTL		ctl = {0};
	HTAB	   *classes;
	HTAB	   *waited;
	HTAB	   *session_ends;
	HASH_SEQ_STATUS seq;
	ClassEntry *entry;
	ClassEntry **sorted;
	int64		other_live[NUM_KINDS] = {0};
	int64		other_waiters[NUM_KINDS] = {0};
	long		n = 0;
	StoreTable	t;
	TableScanDesc scan;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("top must not be NULL")));
	top = PG_GETARG_INT32(0);
	if (top < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top must not be negative"),
				 errhint("Give the number of classes to return one by one (0: all as \"(other)\").")));
	InitMaterializedSRF(fcinfo, 0);

	/* everything but the result goes with this context */
	context = AllocSetContextCreate(CurrentMemoryContext, "lockservice lease_classes",
									ALLOCSET_DEFAULT_SIZES);
	old_context = MemoryContextSwitchTo(context);
	row_context = AllocSetContextCreate(context, "lockservice lease_classes row",
										ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(ClassKey);
	ctl.entrysize = sizeof(ClassEntry);
	ctl.hash = ClassKeyHash;
	ctl.match = ClassKeyMatch;
	ctl.hcxt = context;
	classes = hash_create("lockservice name classes", 64, &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	waited = WaitedNames();

	StoreOpenLayouts(&t, LEASES_TABLE, LEASES_PKEY, Natts_leases_1_4, Natts_leases);
	/* a lock in a session ends with it: each session is read once */
	session_ends = t.natts >= Anum_leases_session ? SessionCacheCreate() : NULL;
	scan = StoreBeginScan(&t, GetActiveSnapshot(), 0);
	while (StoreScanNext(&t, scan))
	{
		bool		isnull;
		TimestampTz expires_at;
		char		kind;

		(void) slot_getattr(t.row, Anum_leases_released_at, &isnull);
		if (!isnull)
			continue;
		expires_at = DatumGetTimestampTz(slot_getattr(t.row, Anum_leases_expires_at, &isnull));
		if (session_ends != NULL)
		{
			Datum		session = slot_getattr(t.row, Anum_leases_session, &isnull);

			if (!isnull)
				expires_at = SessionEndOf(DatumGetInt64(session),
										  DatumGetTimestampTz(slot_getattr(t.row, Anum_leases_granted_at, &isnull)),
										  session_ends);
		}
		if (expires_at <= now)
			continue;
		kind = DatumGetChar(slot_getattr(t.row, Anum_leases_kind, &isnull));
		MemoryContextSwitchTo(row_context);
		CountLease(classes, waited, context,
				   DatumGetTextPP(slot_getattr(t.row, Anum_leases_name, &isnull)), kind);
		MemoryContextSwitchTo(context);
		MemoryContextReset(row_context);
	}
	table_endscan(scan);
	StoreClose(&t);

	/* the largest classes one by one, the rest together */
	sorted = palloc(sizeof(ClassEntry *) * Max(hash_get_num_entries(classes), 1));
	hash_seq_init(&seq, classes);
	while ((entry = hash_seq_search(&seq)) != NULL)
		sorted[n++] = entry;
	qsort(sorted, n, sizeof(ClassEntry *), CompareClasses);
	MemoryContextSwitchTo(old_context);
	for (long i = 0; i < n; i++)
	{
		if (i < top)
		{
			char	   *class = pnstrdup(sorted[i]->key.data, sorted[i]->key.len);

			EmitClass(rsinfo, class, sorted[i]->live, sorted[i]->waiters);
			pfree(class);
			continue;
		}
		for (int k = 0; k < NUM_KINDS; k++)
		{
			other_live[k] += sorted[i]->live[k];
			other_waiters[k] += sorted[i]->waiters[k];
		}
	}
	EmitClass(rsinfo, "(other)", other_live, other_waiters);
	MemoryContextDelete(context);
	return (Datum) 0;
}
