/*-------------------------------------------------------------------------
 *
 * token.h
 *	  Fencing tokens: strictly increasing, never reissued.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_TOKEN_H
#define LOCKSERVICE_TOKEN_H

/* token = timeline * 2^TOKEN_TIMELINE_SHIFT + sequence value */
#define TOKEN_TIMELINE_SHIFT	47

extern int64 NextFencingToken(void);
extern bool LastIssuedToken(int64 *token);

#endif							/* LOCKSERVICE_TOKEN_H */
