/*-------------------------------------------------------------------------
 *
 * lease.h
 *	  What the reaper needs of the leases.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_LEASE_H
#define LOCKSERVICE_LEASE_H

#include "datatype/timestamp.h"
#include "storage/block.h"

extern int64 LeaseReapEnded(int max_rows, BlockNumber *block, bool *more,
							TimestampTz *next_due, int64 *released);

#endif							/* LOCKSERVICE_LEASE_H */
