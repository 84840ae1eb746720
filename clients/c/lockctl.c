/*-------------------------------------------------------------------------
 *
 * lockctl.c
 *	  The lockctl command: argument handling, help texts, and the
 *	  one-shot subcommands (acquire, renew, release, check, list, leader).
 *	  run and elect are in lockctl_run.c, watch in lockctl_watch.c.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockctl.h"

#ifndef LOCKCTL_VERSION
#define LOCKCTL_VERSION LS_CLIENT_VERSION_STRING
#endif

/* ---- exported variables ---- */

LcCommon	lc_common;

/* ---- help texts ---- */

static const char *const main_help =
"lockctl: distributed locks and leases with fencing tokens (lockservice)\n"
"\n"
"Usage: lockctl [-d CONNINFO] [-v] SUBCOMMAND [ARGS...]\n"
"\n"
"Subcommands:\n"
"  acquire NAME...         take a lease (several: all or none) and print its\n"
"                          fencing token\n"
"  renew NAME TOKEN        extend a lease\n"
"  release NAME TOKEN      end a lease\n"
"  check NAME TOKEN        exit 0 when the lease is live\n"
"  list                    show live leases\n"
"  leader NAME             show who holds NAME\n"
"  watch [NAME]            follow lease events\n"
"  session open|renew|close  a session: one renewal keeps all its locks\n"
"  run NAME... -- COMMAND  run COMMAND while holding NAME (several: all, kept\n"
"                          by one session), renewing the lease\n"
"  elect NAME... -- COMMAND  wait until elected leader of NAME, then run\n"
"                          COMMAND\n"
"\n"
"Options for every subcommand:\n"
"  -d, --dbname=CONNINFO   libpq connection string or URI, or a database name\n"
"                          (default: the PG* environment variables, .pgpass)\n"
"  -v, --verbose           progress messages on stderr (twice: each renewal)\n"
"  -h, --help              help; 'lockctl SUBCOMMAND --help' (or 'lockctl help\n"
"                          SUBCOMMAND') for one subcommand\n"
"      --version           print the version\n"
"\n"
"Unless the connection string or PGTARGETSESSIONATTRS says otherwise,\n"
"lockctl connects with target_session_attrs=read-write, so a standby in a\n"
"multi-host list is skipped.\n"
"\n"
"Durations: 500ms, 30s, 5m, 1h, 1m30s, 1.5s (a bare number is seconds).\n"
"\n"
"Exit status:\n"
"  0  success (check: the lease is held)\n"
"  1  bad usage, or an error reported by the server or the system\n"
"  2  not acquired within --wait; renew/release/check: the lease is not held;\n"
"     leader: nobody holds the lock\n"
"  3  run, elect: the lease was lost while the command ran (it was stopped)\n"
"  4  connection failed (server unreachable, or the connection broke and the\n"
"     outcome is unknown)\n"
"  run, elect: otherwise the command's own status; 128+N when it was killed\n"
"  by signal N; 126 when it could not be executed, 127 when not found.\n";

static const char *const acquire_help =
"Usage: lockctl acquire NAME... [--ttl D] [--wait D] [--holder ID]\n"
"       lockctl acquire NAME... --session ID [--wait D]\n"
"\n"
"Takes the lease NAME and prints its fencing token.  The lease ends by itself\n"
"after the ttl unless renewed ('lockctl renew NAME TOKEN').  With several\n"
"names, takes all of them or none (waiting, it holds none, so overlapping\n"
"sets never deadlock) and prints their tokens one per line in the order of\n"
"the names; each is a lease of its own.\n"
"\n"
"  --ttl=D        lease length (default 30s)\n"
"  --wait=D       how long to wait for the lease (default 0: try once;\n"
"                 'forever' waits without limit)\n"
"  --holder=ID    holder id (default: host:pid:random).  The same holder\n"
"                 acquiring its live lease again gets the same token back.\n"
"  --session=ID   the locks are kept by the session ID ('lockctl session\n"
"                 open'): no ttl of their own, they end with the session.\n"
"                 Acquiring again in the same session gives the same token.\n"
"\n"
"Exit status: 0 acquired, 2 not acquired (the current holder is named on\n"
"stderr), 1 error (a session that has ended: SQLSTATE LS006), 4 connection\n"
"failed.\n";

static const char *const session_help =
"Usage: lockctl session open [--ttl D] [--holder ID]\n"
"       lockctl session renew ID [--ttl D]\n"
"       lockctl session close ID\n"
"\n"
"A session keeps any number of locks with one renewal ('lockctl acquire NAME\n"
"--session ID').  open prints the new session's id; the session and every lock\n"
"in it end after the ttl (default 30s) unless renewed.  renew extends it to\n"
"now + ttl (default: its own); close ends it and releases every lock in it.\n"
"\n"
"Exit status: 0 done, 2 renew/close: the session has already ended (expired\n"
"or closed), 1 error, 4 connection failed.\n";

static const char *const renew_help =
"Usage: lockctl renew NAME TOKEN [--ttl D]\n"
"\n"
"Extends the lease NAME held under TOKEN to now + ttl (default: the lease's\n"
"own ttl).  Exit status: 0 renewed, 2 not held (expired, released or taken\n"
"over), 1 error, 4 connection failed.\n";

static const char *const release_help =
"Usage: lockctl release NAME TOKEN\n"
"\n"
"Ends the lease NAME held under TOKEN.  Exit status: 0 released, 2 it was not\n"
"held under that token (already released, expired or taken over), 1 error,\n"
"4 connection failed.\n";

static const char *const check_help =
"Usage: lockctl check NAME TOKEN\n"
"\n"
"Exit status 0 when TOKEN is the live lease of NAME (owned by the connecting\n"
"role), 2 when not, 1 error, 4 connection failed.\n";

static const char *const list_help =
"Usage: lockctl list [--json]\n"
"\n"
"Prints the live leases (lockservice.leases_live) as a table, or with --json\n"
"as a JSON array of objects: the view's columns (name, holder, owner, token,\n"
"granted_at, expires_at, kind, waiters, session...) with remaining as\n"
"remaining_seconds.  SESSION is the session that keeps a lock ('-': a lease\n"
"with its own ttl); its expiry is the session's.\n";

static const char *const leader_help =
"Usage: lockctl leader NAME [--json]\n"
"\n"
"Prints the holder and token of the live lease NAME, separated by a tab (or\n"
"a JSON object with --json).  Exit status 2 when nobody holds it.\n";

/* ---- messages ---- */

void
lc_error(const char *fmt,...)
{
	va_list		ap;

	fputs("lockctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
lc_info(const char *fmt,...)
{
	va_list		ap;

	if (lc_common.verbose == 0)
		return;
	fputs("lockctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
lc_usage_error(const char *subcommand, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "lockctl%s%s: ", subcommand ? " " : "",
			subcommand ? subcommand : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'lockctl%s%s --help'.\n", subcommand ? " " : "",
			subcommand ? subcommand : "");
	return LC_EXIT_ERROR;
}

int
lc_try_help(const char *subcommand)
{
	fprintf(stderr, "Try 'lockctl %s --help'.\n", subcommand);
	return LC_EXIT_ERROR;
}

/* ---- shared helpers ---- */

bool
lc_common_option(int opt, const char *arg)
{
	switch (opt)
	{
		case 'd':
			lc_common.conninfo = arg;
			return true;
		case 'v':
			lc_common.verbose++;
			return true;
		default:
			return false;
	}
}

bool
lc_duration_arg(const char *subcommand, const char *option, const char *text,
				int64_t *ms, bool allow_forever)
{
	if (allow_forever &&
		(strcmp(text, "forever") == 0 || strcmp(text, "infinity") == 0))
	{
		*ms = LS_WAIT_FOREVER;
		return true;
	}
	if (ls_parse_duration(text, ms) == 0)
		return true;
	lc_usage_error(subcommand,
				   "invalid duration for --%s: \"%s\" (examples: 500ms, 30s, 5m, 1h%s)",
				   option, text, allow_forever ? ", forever" : "");
	return false;
}

LsClient *
lc_connect(void)
{
	LsClient   *client = ls_client_new(lc_common.conninfo);

	if (client == NULL)
	{
		lc_error("out of memory");
		return NULL;
	}
	if (ls_connect(client, 0) != LS_OK)
	{
		lc_error("could not connect to the server: %s", ls_error(client));
		lc_error("set the connection with -d CONNINFO or the PG* environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER)");
		ls_client_free(client);
		return NULL;
	}
	lc_info("connected to %s:%s, database %s",
			PQhost(ls_conn(client)), PQport(ls_conn(client)),
			PQdb(ls_conn(client)));
	return client;
}

int
lc_failure(LsClient *client, LsStatus st, const char *what)
{
	switch (st)
	{
		case LS_NOT_CONNECTED:
			lc_error("%s: %s (nothing was done)", what, ls_error(client));
			return LC_EXIT_CONNECTION;
		case LS_UNCONFIRMED:
			lc_error("%s: outcome unknown: %s", what, ls_error(client));
			return LC_EXIT_CONNECTION;
		case LS_SERVER_ERROR:
			if (strcmp(ls_sqlstate(client), "3F000") == 0 ||
				strcmp(ls_sqlstate(client), "42883") == 0)
				lc_error("%s: %s (is the lockservice extension installed in this database? CREATE EXTENSION lockservice)",
						 what, ls_error(client));
			else
				lc_error("%s: %s [SQLSTATE %s]", what, ls_error(client),
						 ls_sqlstate(client));
			return LC_EXIT_ERROR;
		case LS_BAD_ARGUMENT:
			lc_error("%s: %s", what, ls_error(client));
			return LC_EXIT_ERROR;
		case LS_OK:
		case LS_NO:
			break;
	}
	return LC_EXIT_ERROR;
}

void
lc_report_holder(LsClient *client, const char *name)
{
	const char *params[1] = {name};
	PGresult   *res;

	if (ls_conn(client) == NULL)
		return;
	res = PQexecParams(ls_conn(client),
					   "SELECT holder, token, "
					   "pg_catalog.round(pg_catalog.date_part('epoch', remaining)::pg_catalog.numeric, 1) "
					   "FROM lockservice.leases_live WHERE name = $1 "
					   "ORDER BY token LIMIT 1",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		lc_error("%s is held by %s (token %s, %ss left)", name,
				 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
				 PQgetvalue(res, 0, 2));
	PQclear(res);
}

/* ---- one-shot subcommands ---- */

/*
 * A row l of lockservice.leases_live as a JSON object: every column the
 * installed version has, with remaining as remaining_seconds.
 */
#define LEASE_JSON \
	"((pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.-) 'remaining'::pg_catalog.text) " \
	"OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('remaining_seconds', " \
	"pg_catalog.round(pg_catalog.date_part('epoch', l.remaining)::pg_catalog.numeric, 3)))"

static const struct option common_long_options[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}
};

/*
 * parses a positive integer argument: what ("token", "session id") as
 * printed by source
 */
static bool
PositiveIdArg(const char *subcommand, const char *text, const char *what,
			  const char *source, int64_t *id)
{
	char	   *end;

	errno = 0;
	*id = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || *id <= 0)
	{
		lc_usage_error(subcommand, "invalid %s \"%s\": a %s is a positive integer, as printed by '%s'",
					   what, text, what, source);
		return false;
	}
	return true;
}

/* parses a TOKEN argument */
static bool
TokenArg(const char *subcommand, const char *text, int64_t *token)
{
	return PositiveIdArg(subcommand, text, "token", "lockctl acquire", token);
}

/* parses a --ttl argument: a positive duration */
static bool
TtlArg(const char *subcommand, const char *text, int64_t *ttl)
{
	if (!lc_duration_arg(subcommand, "ttl", text, ttl, false))
		return false;
	if (*ttl <= 0)
	{
		lc_usage_error(subcommand, "--ttl must be positive");
		return false;
	}
	return true;
}

/* parses a session ID argument */
static bool
SessionArg(const char *subcommand, const char *text, int64_t *session)
{
	return PositiveIdArg(subcommand, text, "session id", "lockctl session open",
						 session);
}

/*
 * acquire NAME... [--ttl D] [--wait D] [--holder ID]
 * acquire NAME... --session ID [--wait D]
 */
static int
AcquireMain(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"ttl", required_argument, NULL, 't'},
		{"wait", required_argument, NULL, 'w'},
		{"holder", required_argument, NULL, 'H'},
		{"session", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0}
	};
	int64_t		ttl = LC_DEFAULT_TTL_MS;
	bool		ttl_given = false;
	int64_t		wait = 0;
	int64_t		session = 0;
	char	   *holder = NULL;
	const char *holder_arg = NULL;
	const char *const *names;
	int			nnames;
	int			opt;
	LsClient   *client;
	LsStatus	st;
	int64_t    *tokens;
	int			rc;

	while ((opt = getopt_long(argc, argv, "d:vh", long_options, NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 'h':
				fputs(acquire_help, stdout);
				return LC_EXIT_OK;
			case 't':
				if (!TtlArg("acquire", optarg, &ttl))
					return LC_EXIT_ERROR;
				ttl_given = true;
				break;
			case 'w':
				if (!lc_duration_arg("acquire", "wait", optarg, &wait, true))
					return LC_EXIT_ERROR;
				break;
			case 'H':
				holder_arg = optarg;
				break;
			case 'S':
				if (!SessionArg("acquire", optarg, &session))
					return LC_EXIT_ERROR;
				break;
			default:
				return lc_try_help("acquire");
		}
	}
	if (optind >= argc)
		return lc_usage_error("acquire", "missing NAME");
	if (holder_arg != NULL && holder_arg[0] == '\0')
		return lc_usage_error("acquire", "--holder must not be empty");
	if (session != 0 && (ttl_given || holder_arg != NULL))
		return lc_usage_error("acquire", "locks in a session have the session's ttl and holder: --session does not go with --ttl or --holder");
	names = (const char *const *) argv + optind;
	nnames = argc - optind;
	for (int i = 0; i < nnames; i++)
		if (names[i][0] == '\0')
			return lc_usage_error("acquire", "NAME must not be empty");

	tokens = calloc(nnames, sizeof(int64_t));
	holder = holder_arg ? strdup(holder_arg) : ls_default_holder();
	if (tokens == NULL || holder == NULL)
	{
		free(tokens);
		free(holder);
		lc_error("out of memory");
		return LC_EXIT_ERROR;
	}
	client = lc_connect();
	if (client == NULL)
	{
		free(tokens);
		free(holder);
		return LC_EXIT_CONNECTION;
	}
	if (session != 0)
		st = ls_acquire_all_in_session(client, names, nnames, session, wait,
									   tokens);
	else if (nnames == 1)
		st = ls_acquire(client, names[0], holder, ttl, wait, tokens, NULL);
	else
		st = ls_acquire_all(client, names, nnames, holder, ttl, wait, tokens,
							NULL);
	if (st == LS_OK)
	{
		for (int i = 0; i < nnames; i++)
		{
			if (session != 0)
				lc_info("acquired %s in session %" PRId64, names[i], session);
			else
				lc_info("acquired %s as %s", names[i], holder);
			printf("%" PRId64 "\n", tokens[i]);
		}
		rc = LC_EXIT_OK;
	}
	else if (st == LS_NO)
	{
		for (int i = 0; i < nnames; i++)
			lc_report_holder(client, names[i]);
		if (nnames == 1)
			lc_error("%s was not acquired", names[0]);
		else
			lc_error("the %d names were not all free: none was acquired",
					 nnames);
		rc = LC_EXIT_NO;
	}
	else if (st == LS_SERVER_ERROR && strcmp(ls_sqlstate(client), "LS006") == 0)
	{
		lc_error("acquire: session %" PRId64 " has ended (expired or closed), or is not yours: nothing was acquired",
				 session);
		rc = LC_EXIT_ERROR;
	}
	else
		rc = lc_failure(client, st, "acquire");
	free(tokens);
	free(holder);
	ls_client_free(client);
	return rc;
}

/* session open [--ttl D] [--holder ID] | renew ID [--ttl D] | close ID */
static int
SessionMain(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"ttl", required_argument, NULL, 't'},
		{"holder", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0}
	};
	int64_t		ttl = 0;
	const char *holder_arg = NULL;
	const char *action;
	int64_t		session = 0;
	char	   *holder = NULL;
	int			opt;
	LsClient   *client;
	LsStatus	st;
	int			rc;

	while ((opt = getopt_long(argc, argv, "d:vh", long_options, NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 'h':
				fputs(session_help, stdout);
				return LC_EXIT_OK;
			case 't':
				if (!TtlArg("session", optarg, &ttl))
					return LC_EXIT_ERROR;
				break;
			case 'H':
				if (optarg[0] == '\0')
					return lc_usage_error("session", "--holder must not be empty");
				holder_arg = optarg;
				break;
			default:
				return lc_try_help("session");
		}
	}
	if (optind >= argc)
		return lc_usage_error("session", "missing open, renew or close");
	action = argv[optind];
	if (strcmp(action, "open") == 0)
	{
		if (optind + 1 != argc)
			return lc_usage_error("session", "too many arguments");
	}
	else if (strcmp(action, "renew") == 0 || strcmp(action, "close") == 0)
	{
		if (optind + 2 != argc)
			return lc_usage_error("session", optind + 2 > argc ?
								  "missing the session ID" :
								  "too many arguments");
		if (!SessionArg("session", argv[optind + 1], &session))
			return LC_EXIT_ERROR;
		if (holder_arg != NULL)
			return lc_usage_error("session", "--holder is for 'session open'");
		if (ttl != 0 && strcmp(action, "close") == 0)
			return lc_usage_error("session", "--ttl is for 'session open' and 'session renew'");
	}
	else
		return lc_usage_error("session", "unknown action \"%s\": open, renew or close",
							  action);

	if (strcmp(action, "open") == 0)
	{
		holder = holder_arg ? strdup(holder_arg) : ls_default_holder();
		if (holder == NULL)
		{
			lc_error("out of memory");
			return LC_EXIT_ERROR;
		}
	}
	client = lc_connect();
	if (client == NULL)
	{
		free(holder);
		return LC_EXIT_CONNECTION;
	}
	if (holder != NULL)
		st = ls_session_open(client, holder, ttl ? ttl : LC_DEFAULT_TTL_MS,
							 &session, NULL);
	else if (strcmp(action, "renew") == 0)
		st = ls_session_renew(client, session, ttl);
	else
		st = ls_session_close(client, session);
	if (st == LS_OK)
	{
		if (holder != NULL)
		{
			lc_info("opened session %" PRId64 " as %s", session, holder);
			printf("%" PRId64 "\n", session);
		}
		else
			lc_info("session %s %" PRId64 ": ok", action, session);
		rc = LC_EXIT_OK;
	}
	else if (st == LS_NO)
	{
		lc_error("session %s: session %" PRId64 " has ended (expired or closed), or is not yours",
				 action, session);
		rc = LC_EXIT_NO;
	}
	else
		rc = lc_failure(client, st, holder != NULL ? "session open" :
						strcmp(action, "renew") == 0 ? "session renew" :
						"session close");
	free(holder);
	ls_client_free(client);
	return rc;
}

/* renew, release and check: NAME TOKEN */
static int
TokenCommandMain(int argc, char **argv, const char *subcommand)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"ttl", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0}
	};
	bool		is_renew = strcmp(subcommand, "renew") == 0;
	int64_t		ttl = 0;
	int64_t		token;
	int			opt;
	LsClient   *client;
	LsStatus	st;
	int			rc;

	while ((opt = getopt_long(argc, argv, "d:vh",
							  is_renew ? long_options : common_long_options,
							  NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 'h':
				fputs(is_renew ? renew_help :
					  strcmp(subcommand, "release") == 0 ? release_help :
					  check_help, stdout);
				return LC_EXIT_OK;
			case 't':
				if (!TtlArg(subcommand, optarg, &ttl))
					return LC_EXIT_ERROR;
				break;
			default:
				return lc_try_help(subcommand);
		}
	}
	if (argc - optind != 2)
		return lc_usage_error(subcommand, argc - optind < 2 ?
							  "missing NAME or TOKEN" : "too many arguments");
	if (!TokenArg(subcommand, argv[optind + 1], &token))
		return LC_EXIT_ERROR;

	client = lc_connect();
	if (client == NULL)
		return LC_EXIT_CONNECTION;
	if (is_renew)
		st = ls_renew(client, argv[optind], token, ttl);
	else if (strcmp(subcommand, "release") == 0)
		st = ls_release(client, argv[optind], token);
	else
		st = ls_check(client, argv[optind], token);
	if (st == LS_OK)
	{
		lc_info("%s %s: ok", subcommand, argv[optind]);
		rc = LC_EXIT_OK;
	}
	else if (st == LS_NO)
	{
		lc_error("%s: the lease %s with token %s is not held (expired, released or taken over)",
				 subcommand, argv[optind], argv[optind + 1]);
		rc = LC_EXIT_NO;
	}
	else
		rc = lc_failure(client, st, subcommand);
	ls_client_free(client);
	return rc;
}

/* runs a query with parameters on a fresh connection; NULL after an error */
static PGresult *
Query(LsClient *client, const char *what, const char *sql, int nparams,
	  const char *const *params)
{
	PGresult   *res = PQexecParams(ls_conn(client), sql, nparams, NULL, params,
								   NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		if (msg == NULL)
			msg = PQerrorMessage(ls_conn(client));
		if (state != NULL &&
			(strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0))
			lc_error("%s: %s (is the lockservice extension installed in this database? CREATE EXTENSION lockservice)",
					 what, msg);
		else
			lc_error("%s: %s", what, msg);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* list [--json] */
static int
ListMain(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0}
	};
	static const char *const columns[] = {
		"NAME", "KIND", "HOLDER", "OWNER", "TOKEN", "SESSION", "EXPIRES IN",
		"WAITERS"
	};
#define LIST_COLUMNS 8
	bool		json = false;
	int			opt;
	LsClient   *client;
	PGresult   *res;
	int			width[LIST_COLUMNS];
	int			row;
	int			col;

	while ((opt = getopt_long(argc, argv, "d:vh", long_options, NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 'h':
				fputs(list_help, stdout);
				return LC_EXIT_OK;
			case 'j':
				json = true;
				break;
			default:
				return lc_try_help("list");
		}
	}
	if (optind != argc)
		return lc_usage_error("list", "too many arguments");

	client = lc_connect();
	if (client == NULL)
		return LC_EXIT_CONNECTION;
	if (json)
		res = Query(client, "list",
					"SELECT COALESCE(pg_catalog.jsonb_agg(" LEASE_JSON
					" ORDER BY l.name, l.token), '[]'::pg_catalog.jsonb) "
					"FROM lockservice.leases_live l", 0, NULL);
	else
		res = Query(client, "list",
					"SELECT l.name, "
					"COALESCE(pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'kind', 'exclusive'), "
					"l.holder, l.owner::pg_catalog.text, l.token::pg_catalog.text, "
					"COALESCE(pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'session', '-'), "
					"pg_catalog.round(pg_catalog.date_part('epoch', l.remaining)::pg_catalog.numeric, 1)::pg_catalog.text OPERATOR(pg_catalog.||) 's', "
					"COALESCE(pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'waiters', '-') "
					"FROM lockservice.leases_live l ORDER BY l.name, l.token", 0, NULL);
	if (res == NULL)
	{
		ls_client_free(client);
		return LC_EXIT_ERROR;
	}
	if (json)
		printf("%s\n", PQgetvalue(res, 0, 0));
	else
	{
		for (col = 0; col < LIST_COLUMNS; col++)
		{
			width[col] = (int) strlen(columns[col]);
			for (row = 0; row < PQntuples(res); row++)
				if (PQgetlength(res, row, col) > width[col])
					width[col] = PQgetlength(res, row, col);
		}
		for (col = 0; col < LIST_COLUMNS; col++)
			printf("%-*s%s", col < LIST_COLUMNS - 1 ? width[col] : 0,
				   columns[col], col < LIST_COLUMNS - 1 ? "  " : "\n");
		for (row = 0; row < PQntuples(res); row++)
			for (col = 0; col < LIST_COLUMNS; col++)
				printf("%-*s%s", col < LIST_COLUMNS - 1 ? width[col] : 0,
					   PQgetvalue(res, row, col),
					   col < LIST_COLUMNS - 1 ? "  " : "\n");
	}
	PQclear(res);
	ls_client_free(client);
	return LC_EXIT_OK;
}

/* leader NAME [--json] */
static int
LeaderMain(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0}
	};
	bool		json = false;
	int			opt;
	LsClient   *client;
	PGresult   *res;
	const char *params[1];
	int			rc = LC_EXIT_OK;

	while ((opt = getopt_long(argc, argv, "d:vh", long_options, NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 'h':
				fputs(leader_help, stdout);
				return LC_EXIT_OK;
			case 'j':
				json = true;
				break;
			default:
				return lc_try_help("leader");
		}
	}
	if (optind != argc - 1)
		return lc_usage_error("leader", optind >= argc ? "missing NAME" :
							  "too many arguments");

	client = lc_connect();
	if (client == NULL)
		return LC_EXIT_CONNECTION;
	params[0] = argv[optind];
	res = Query(client, "leader",
				"SELECT l.holder, l.token::pg_catalog.text, " LEASE_JSON "::pg_catalog.text "
				"FROM lockservice.leases_live l WHERE l.name OPERATOR(pg_catalog.=) $1 "
				"ORDER BY l.token LIMIT 1", 1, params);
	if (res == NULL)
		rc = LC_EXIT_ERROR;
	else if (PQntuples(res) == 0)
	{
		if (json)
			printf("null\n");
		lc_error("no leader: nobody holds %s", argv[optind]);
		rc = LC_EXIT_NO;
	}
	else if (json)
		printf("%s\n", PQgetvalue(res, 0, 2));
	else
		printf("%s\t%s\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	ls_client_free(client);
	return rc;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	static const struct
	{
		const char *name;
		int			(*main_fn) (int, char **);
	}			subcommands[] = {
		{"acquire", AcquireMain},
		{"session", SessionMain},
		{"list", ListMain},
		{"leader", LeaderMain},
		{"watch", lc_watch_main},
	};
	char		prog[64];
	int			i = 1;
	size_t		j;

	/* a closed stdout must not kill us before we release a lease */
	signal(SIGPIPE, SIG_IGN);

	/* options before the subcommand */
	while (i < argc && argv[i][0] == '-')
	{
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		{
			fputs(main_help, stdout);
			return LC_EXIT_OK;
		}
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0)
		{
			printf("lockctl (lockservice) %s\n", LOCKCTL_VERSION);
			return LC_EXIT_OK;
		}
		if (strcmp(arg, "--verbose") == 0)
			lc_common.verbose++;
		else if (arg[1] == 'v' && strspn(arg + 1, "v") == strlen(arg + 1))
			lc_common.verbose += (int) strlen(arg + 1);
		else if (strncmp(arg, "--dbname=", 9) == 0)
			lc_common.conninfo = arg + 9;
		else if (strncmp(arg, "-d", 2) == 0 && arg[2] != '\0')
			lc_common.conninfo = arg + 2;
		else if (strcmp(arg, "-d") == 0 || strcmp(arg, "--dbname") == 0)
		{
			if (i + 1 >= argc)
				return lc_usage_error(NULL, "option %s needs a value", arg);
			lc_common.conninfo = argv[++i];
		}
		else
			return lc_usage_error(NULL, "unknown option \"%s\"", arg);
		i++;
	}
	if (i >= argc)
		return lc_usage_error(NULL, "missing subcommand");

	/* the subcommand sees itself as argv[0], for getopt's messages */
	snprintf(prog, sizeof(prog), "lockctl %s", argv[i]);
	argv[i] = prog;
	argc -= i;
	argv += i;
	optind = 1;

	for (j = 0; j < sizeof(subcommands) / sizeof(subcommands[0]); j++)
		if (strcmp(prog + 8, subcommands[j].name) == 0)
			return subcommands[j].main_fn(argc, argv);
	if (strcmp(prog + 8, "renew") == 0 || strcmp(prog + 8, "release") == 0 ||
		strcmp(prog + 8, "check") == 0)
		return TokenCommandMain(argc, argv, prog + 8);
	if (strcmp(prog + 8, "run") == 0)
		return lc_run_main(argc, argv, false);
	if (strcmp(prog + 8, "elect") == 0)
		return lc_run_main(argc, argv, true);
	if (strcmp(prog + 8, "help") == 0)
	{
		static char help_option[] = "--help";
		char	   *sub_argv[3];

		if (argc < 2)
		{
			fputs(main_help, stdout);
			return LC_EXIT_OK;
		}
		/* "lockctl help SUBCOMMAND" is "lockctl SUBCOMMAND --help" */
		snprintf(prog, sizeof(prog), "lockctl %s", argv[1]);
		sub_argv[0] = prog;
		sub_argv[1] = help_option;
		sub_argv[2] = NULL;
		argv = sub_argv;
		argc = 2;
		if (strcmp(prog + 8, "help") == 0)
		{
			fputs(main_help, stdout);
			return LC_EXIT_OK;
		}
		for (j = 0; j < sizeof(subcommands) / sizeof(subcommands[0]); j++)
			if (strcmp(prog + 8, subcommands[j].name) == 0)
				return subcommands[j].main_fn(argc, argv);
		if (strcmp(prog + 8, "renew") == 0 || strcmp(prog + 8, "release") == 0 ||
			strcmp(prog + 8, "check") == 0)
			return TokenCommandMain(argc, argv, prog + 8);
		if (strcmp(prog + 8, "run") == 0 || strcmp(prog + 8, "elect") == 0)
			return lc_run_main(argc, argv, strcmp(prog + 8, "elect") == 0);
		return lc_usage_error(NULL, "unknown subcommand \"%s\"", prog + 8);
	}
	return lc_usage_error(NULL, "unknown subcommand \"%s\"", prog + 8);
}
