/*-------------------------------------------------------------------------
 *
 * schedule.h
 *	  What is due when: the earliest time a row of each database can be
 *	  reaped, kept in shared memory for the reapers and their launcher.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_SCHEDULE_H
#define LOCKSERVICE_SCHEDULE_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

/* the schedule of one database (opaque: use the functions below) */
typedef struct ScheduleEntry ScheduleEntry;

/* at load, with shared_preload_libraries */
extern void ScheduleInit(int max_databases);

/* for the leases: a row this transaction writes can go from due on */
extern void ScheduleNoteDue(TimestampTz due);

/* for the reapers and their launcher */
extern ScheduleEntry *ScheduleFor(Oid dboid, bool create);
extern void ScheduleForget(Oid dboid);
extern TimestampTz ScheduleNextDue(ScheduleEntry *entry);
extern void ScheduleSetDue(ScheduleEntry *entry, TimestampTz due);
extern void ScheduleLowerDue(ScheduleEntry *entry, TimestampTz due);
extern void ScheduleClearDue(ScheduleEntry *entry);
extern void ScheduleSetServed(ScheduleEntry *entry, bool served);
extern void ScheduleSetLauncher(Latch *latch);
extern void ScheduleWakeLauncher(void);

#endif							/* LOCKSERVICE_SCHEDULE_H */
