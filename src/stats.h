/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Live counters of what the lock service does.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_STATS_H
#define LOCKSERVICE_STATS_H

typedef enum StatsCounter
{
	STATS_ACQUIRES,				/* grants, re-acquires included */
	STATS_ACQUIRES_WAITED,		/* grants that had to wait */
	STATS_ACQUIRE_TIMEOUTS,		/* acquires that returned NULL */
	STATS_RENEWALS,
	STATS_RENEWALS_FAILED,
	STATS_RELEASES,
	STATS_EXPIRATIONS_REAPED,
	STATS_TAKEOVERS,			/* grants of a lease that had expired */
	STATS_FENCE_REFUSALS,
	STATS_EVENTS_DROPPED,		/* events lost to a full queue */
	STATS_NUM_COUNTERS
} StatsCounter;

extern void StatsInit(void);
extern void StatsCount(StatsCounter counter);
extern void StatsAdd(StatsCounter counter, int64 n);
extern void StatsWaiting(bool waiting);
extern void StatsAtAbort(void);

#endif							/* LOCKSERVICE_STATS_H */
