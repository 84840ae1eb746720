/*-------------------------------------------------------------------------
 *
 * session.h
 *	  Lock sessions: one lease that many locks are kept by.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_SESSION_H
#define LOCKSERVICE_SESSION_H

#include "datatype/timestamp.h"
#include "storage/itemptr.h"
#include "utils/hsearch.h"

/* A session row, as last committed. */
typedef struct SessionInfo
{
	int64		id;
	ItemPointerData tid;
	text	   *holder;
	Oid			owner;
	TimestampTz expires_at;
	bool		busy;			/* an open transaction is changing it */
} SessionInfo;

/* What pinning an expired session came to. */
typedef enum SessionPinResult
{
	SESSION_PIN_ENDED,			/* it stays ended until this transaction ends */
	SESSION_PIN_LIVE,			/* renewed meanwhile: read again */
	SESSION_PIN_BUSY			/* an open transaction is changing it */
} SessionPinResult;

extern bool SessionRead(int64 id, SessionInfo *info);
extern void SessionRequireOpen(int64 id, SessionInfo *info);
extern TimestampTz SessionEndOf(int64 id, TimestampTz granted_at, HTAB *cache);
extern HTAB *SessionCacheCreate(void);
extern bool SessionCachedMissing(int64 id, HTAB *cache);
extern SessionPinResult SessionPinEnded(int64 id);
extern bool SessionExpireNow(int64 id);
extern int64 *SessionsEnded(TimestampTz now, TimestampTz *next_due, int *n);
extern bool SessionDeleteEnded(int64 id);

#endif							/* LOCKSERVICE_SESSION_H */
