/*-------------------------------------------------------------------------
 *
 * token.h
 *	  Fencing tokens: strictly increasing, never reissued.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_TOKEN_H
#define LOCKSERVICE_TOKEN_H

/* token = timeline * 2^TOKEN_TIMELINE_SHIFT + 2 * sequence value + shared */
#define TOKEN_TIMELINE_SHIFT	47

/* whether a token is that of an exclusive lease */
#define TokenIsExclusive(token)	(((token) & 1) == 0)

extern void TokenInit(void);
extern int64 NextFencingToken(bool exclusive);
extern int64 NextSessionId(void);
extern bool LastIssuedToken(int64 *token);

#endif							/* LOCKSERVICE_TOKEN_H */
