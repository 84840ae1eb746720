/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  Where waiters sleep, and who wakes them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_WAIT_H
#define LOCKSERVICE_WAIT_H

#include "datatype/timestamp.h"

/* Sleeping for a lock name; see wait.c. */
typedef struct LockWait
{
	int			slot;			/* wait slot of the name, -1 without the queue */
	long		backoff_ms;		/* next sleep without shared memory */
	uint64		arrival;		/* place in the queue */
} LockWait;

extern void WaitInit(void);
extern void WaitBegin(LockWait *w, const char *name, int len, char kind);
extern void WaitMove(LockWait *w, const char *name, int len, char kind);
extern bool WaitMustYield(LockWait *w, const char *name, int len, char kind);
extern int	WaitersOf(const char *name, int len);
extern uint64 WaitNameHash(const char *name, int len);
extern uint64 *WaitQueuedHashes(int *n);
extern void WaitSleep(LockWait *w, TimestampTz until);
extern void WaitEnd(LockWait *w);
extern void WaitAttemptSubtransaction(bool active);
extern void WaitWakeAtTransactionEnd(const char *name, int len);
extern bool WaitUsesSharedMemory(void);
extern void WaitNoteTransactionUse(void);

#endif							/* LOCKSERVICE_WAIT_H */
