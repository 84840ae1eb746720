/*-------------------------------------------------------------------------
 *
 * durability.h
 *	  Commits that need not wait for the disk: transactions that only
 *	  released leases.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_DURABILITY_H
#define LOCKSERVICE_DURABILITY_H

extern bool lockservice_async_releases;

extern void DurabilityInit(void);
extern void DurabilityReleaseBegin(void);
extern void DurabilityReleaseEnd(void);

#endif							/* LOCKSERVICE_DURABILITY_H */
