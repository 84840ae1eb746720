/*-------------------------------------------------------------------------
 *
 * durability.c
 *	  Commits that need not wait for the disk: a transaction whose only
 *	  writes are lease releases commits without waiting for its WAL flush
 *	  or for synchronous replication.
 *
 * A grant must be durable before its token is used: it is flushed (and
 * replicated) like any commit, and with lockservice.sync_grants even when
 * synchronous_commit is off.  A release need not be.  Lost in a crash or a
 * failover, it brings the lease back until its expires_at: the holder
 * already stopped using it, nobody else can have been granted the name on
 * the strength of a release that was not made durable (a grant flushes its
 * own commit record, and with it every WAL record before it, the release
 * included), and the lease ends by itself at its expiry.  So a lock cycle
 * costs one flush, not two.
 *
 * "Only releases" is told by the WAL: every record the transaction wrote
 * must have been written inside lock_release().  Anything else it wrote
 * (the protected write, an acquire, a renewal, a fence, a row pruned by a
 * read) keeps the caller's synchronous_commit for the whole transaction.
 * force_release() is not counted as a release here: an operator who ends a
 * lease by force expects it to stay ended.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "utils/guc.h"

#include "durability.h"

/* GUC: lockservice.async_releases */
bool		lockservice_async_releases = true;

/* this transaction's WAL so far was written by releases alone */
static bool releases_only = false;

/* where the WAL of this transaction ended after its last release */
static XLogRecPtr release_end = InvalidXLogRecPtr;

/* the caller's synchronous_commit while a release-only commit runs */
static int	saved_synchronous_commit = -1;

/* Transaction end: put synchronous_commit back, forget the releases. */
static void
DurabilityXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (releases_only && XactLastRecEnd == release_end &&
				lockservice_async_releases)
			{
				saved_synchronous_commit = synchronous_commit;
				synchronous_commit = SYNCHRONOUS_COMMIT_OFF;
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (saved_synchronous_commit >= 0)
				synchronous_commit = saved_synchronous_commit;
			saved_synchronous_commit = -1;
			releases_only = false;
			release_end = InvalidXLogRecPtr;
			break;
		default:
			break;
	}
}

/* Define the setting and watch transaction ends. */
void
DurabilityInit(void)
{
	DefineCustomBoolVariable("lockservice.async_releases",
							 "Commits transactions that only released leases without waiting for the disk or synchronous standbys.",
							 "A release lost in a crash or a failover brings the lease back until its expiry; it never lets two holders in.",
							 &lockservice_async_releases,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	RegisterXactCallback(DurabilityXactCallback, NULL);
}

/*
 * A release starts: the transaction stays release-only if it wrote no WAL
 * since the end of its last release (or at all, before its first).
 */
void
DurabilityReleaseBegin(void)
{
	if (release_end == InvalidXLogRecPtr)
		releases_only = (XactLastRecEnd == InvalidXLogRecPtr);
	else if (XactLastRecEnd != release_end)
		releases_only = false;
}

/* A release ended: the WAL up to here is its own. */
void
DurabilityReleaseEnd(void)
{
	release_end = XactLastRecEnd;
}
