/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Lease events published on the LISTEN channel "lockservice".
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_EVENTS_H
#define LOCKSERVICE_EVENTS_H

typedef enum LeaseEventKind
{
	LEASE_EVENT_ACQUIRED,
	LEASE_EVENT_RELEASED,
	LEASE_EVENT_EXPIRED,
	LEASE_EVENT_TAKEN_OVER,
	LEASE_EVENT_FORCED
} LeaseEventKind;

extern bool lockservice_events;

extern void EventsInit(void);
extern const char *LeaseEventName(LeaseEventKind kind);
extern void EventNote(LeaseEventKind kind, const char *name, int name_len,
					  const char *holder, int holder_len, int64 token,
					  int64 session, const char *previous_holder, int previous_holder_len,
					  int64 previous_token);
extern int	EventsRegisterReader(Oid dboid, uint64 *position);
extern void EventsUnregisterReader(int reader);
extern uint64 EventsCurrentPosition(void);
extern bool EventsPending(Oid dboid);
extern bool EventsPrepareToSleep(int reader, uint64 position);
extern int64 EventsPublish(Oid dboid, uint64 *position);

#endif							/* LOCKSERVICE_EVENTS_H */
