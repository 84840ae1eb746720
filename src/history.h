/*-------------------------------------------------------------------------
 *
 * history.h
 *	  The audit history of leases, and per-name options.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_HISTORY_H
#define LOCKSERVICE_HISTORY_H

#include "events.h"

extern bool lockservice_history;
extern int	lockservice_history_retention;
extern int	lockservice_history_max_rows;
extern int	lockservice_lock_delay;

extern void HistoryInit(void);
extern void HistoryRecord(LeaseEventKind event, text *name, char kind,
						  text *holder, Oid owner, int64 token);
extern int64 HistoryPrune(int max_rows, bool *more);
extern int64 LockOptionsDelay(text *name);
extern void LockOptionsSetDelay(text *name, Interval *delay);

#endif							/* LOCKSERVICE_HISTORY_H */
