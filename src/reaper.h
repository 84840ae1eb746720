/*-------------------------------------------------------------------------
 *
 * reaper.h
 *	  The background workers that reap expired leases.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_REAPER_H
#define LOCKSERVICE_REAPER_H

#include "datatype/timestamp.h"

extern int	lockservice_reap_interval;

extern void ReaperInit(void);

#endif							/* LOCKSERVICE_REAPER_H */
