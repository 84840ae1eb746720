/*-------------------------------------------------------------------------
 *
 * lockctl.h
 *	  Declarations shared by the parts of the lockctl command: exit codes,
 *	  messages, connection and option helpers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKCTL_H
#define LOCKCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "lockservice_client.h"

/*
 * Exit codes of lockctl itself.  run and elect exit with the command's own
 * status instead when the command ran and the lease was kept to its end.
 */
#define LC_EXIT_OK			0	/* success; check: the lease is held */
#define LC_EXIT_ERROR		1	/* bad usage, or an error reported by the
								 * server or the system */
#define LC_EXIT_NO			2	/* not acquired within --wait; renew,
								 * release, check: that lease is not held;
								 * leader: nobody holds it */
#define LC_EXIT_LOST		3	/* run, elect: the lease was lost while the
								 * command ran; the command was stopped */
#define LC_EXIT_CONNECTION	4	/* could not reach the server, or the
								 * connection failed with the outcome
								 * unknown */
#define LC_EXIT_NOT_FOUND	127 /* run, elect: the command was not found */
#define LC_EXIT_NOT_EXEC	126 /* run, elect: the command could not be run */

/* default lease length */
#define LC_DEFAULT_TTL_MS	30000
/* default time between SIGTERM and SIGKILL */
#define LC_DEFAULT_GRACE_MS 10000

/* options every subcommand takes */
typedef struct LcCommon
{
	const char *conninfo;		/* -d; NULL: PG* environment */
	int			verbose;		/* -v, repeatable */
} LcCommon;

extern LcCommon lc_common;

/* an error message on stderr, prefixed "lockctl: " */
extern void lc_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
/* a progress message on stderr when --verbose */
extern void lc_info(const char *fmt,...) __attribute__((format(printf, 1, 2)));
/* a usage error: message, a pointer to --help, returns LC_EXIT_ERROR */
extern int	lc_usage_error(const char *subcommand, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* after getopt printed an error: a pointer to --help, returns LC_EXIT_ERROR */
extern int	lc_try_help(const char *subcommand);

/*
 * Handles the options every subcommand takes, inside a getopt loop: returns
 * true when opt was one of them (-d, -v).
 */
extern bool lc_common_option(int opt, const char *arg);

/* parses a duration option; prints the error and returns false when bad */
extern bool lc_duration_arg(const char *subcommand, const char *option,
							const char *text, int64_t *ms, bool allow_forever);

/* a new client for lc_common.conninfo, connected; NULL after printing why */
extern LsClient *lc_connect(void);

/* exit code and message for a failed library call */
extern int	lc_failure(LsClient *client, LsStatus st, const char *what);

/* prints who holds name, if anyone, as the reason it was not acquired */
extern void lc_report_holder(LsClient *client, const char *name);

/* subcommands in other files */
extern int	lc_run_main(int argc, char **argv, bool elect);
extern int	lc_watch_main(int argc, char **argv);

#endif							/* LOCKCTL_H */
