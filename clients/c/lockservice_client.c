/*-------------------------------------------------------------------------
 *
 * lockservice_client.c
 *	  The lockservice client library: connection handling with deadlines,
 *	  the lease calls, durations and holder ids, and the keepalive that
 *	  renews a lease and says when it must be given up.
 *
 * Every wait on the network goes through poll() with a deadline taken from
 * the local monotonic clock, so no call blocks past the moment its caller
 * must act (a lease about to end, a command to stop).  A call that was sent
 * but not answered, or answered with a warning that the commit may not be
 * durable, is LS_UNCONFIRMED, never success.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lockservice_client.h"

/* ---- private types and constants ---- */

/* connect timeout when neither the caller nor connect_timeout gives one */
#define LS_DEFAULT_CONNECT_TIMEOUT_MS 10000
/* how often a waiting acquire's backend checks that the client is alive */
#define LS_CLIENT_CHECK_INTERVAL "1000"
/* retry backoff of the keepalive: first delay and cap */
#define LS_BACKOFF_FIRST_MS 100
#define LS_BACKOFF_MAX_MS 1000
/* longest duration ls_parse_duration accepts: 100 days */
#define LS_MAX_DURATION_MS ((int64_t) 100 * 24 * 3600 * 1000)

struct LsClient
{
	char	   *conninfo;		/* as given; "" for environment only */
	PGconn	   *conn;			/* NULL when not connected */
	int64_t		deadline;		/* calls give up then; 0: never */
	volatile int *interrupt;	/* calls give up on EINTR when *interrupt */
	LsKeepalive *wait_keepalive;	/* stepped while a call waits */
	bool		no_client_check;	/* server refused
									 * client_connection_check_interval */
	bool		warned;			/* a WARNING arrived during this call */
	char		warning[256];
	char		sqlstate[6];
	char		error[1024];
};

struct LsKeepalive
{
	LsClient   *client;
	char	   *name;			/* the lease's; NULL for a session */
	int64_t		session;		/* the session's id; 0 for a lease */
	int64_t		token;
	int64_t		ttl;
	int64_t		interval;		/* between renewals */
	int64_t		margin;			/* lost at deadline minus this */
	int64_t		confirmed_at;	/* send time of the last confirmed call */
	int64_t		next_due;		/* next renewal attempt */
	int64_t		backoff;		/* current retry delay; 0 after success */
	LsLostReason reason;
	LsLogFunc	log;
	void	   *log_arg;
};

/* ---- errors ---- */

/* sets the client's error message, printf-style, without a trailing newline */
static void
SetError(LsClient *client, const char *fmt,...)
{
	va_list		ap;
	size_t		len;

	va_start(ap, fmt);
	vsnprintf(client->error, sizeof(client->error), fmt, ap);
	va_end(ap);
	/* libpq's messages span lines: make them one */
	{
		char	   *in = client->error;
		char	   *out = client->error;

		while (*in)
		{
			if (*in == '\n')
			{
				while (in[1] == '\n' || in[1] == '\t' || in[1] == ' ')
					in++;
				*out++ = ' ';
				in++;
			}
			else
				*out++ = *in++;
		}
		*out = '\0';
	}
	len = strlen(client->error);
	while (len > 0 && client->error[len - 1] == ' ')
		client->error[--len] = '\0';
}

/* keeps the first line of a libpq message as the client's error */
static void
SetErrorFromConn(LsClient *client, const char *what)
{
	const char *msg = client->conn ? PQerrorMessage(client->conn) : "";

	if (msg == NULL || msg[0] == '\0')
		msg = "connection lost";
	SetError(client, "%s%s", what, msg);
}

/* ---- connection ---- */

/* records server WARNINGs of the call in progress; drops other notices */
static void
NoticeReceiver(void *arg, const PGresult *res)
{
	LsClient   *client = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (severity != NULL && strcmp(severity, "WARNING") == 0)
	{
		client->warned = true;
		snprintf(client->warning, sizeof(client->warning), "%s",
				 msg ? msg : "warning");
	}
}

/* true when the user's conninfo or environment sets target_session_attrs */
static bool
UserSetsTargetSessionAttrs(const char *conninfo)
{
	const char *env = getenv("PGTARGETSESSIONATTRS");
	PQconninfoOption *opts;
	PQconninfoOption *opt;
	bool		found = false;

	if (env != NULL && env[0] != '\0')
		return true;
	if (conninfo[0] == '\0')
		return false;
	if (strchr(conninfo, '=') == NULL &&
		strncmp(conninfo, "postgres://", 11) != 0 &&
		strncmp(conninfo, "postgresql://", 13) != 0)
		return false;			/* a plain database name */
	opts = PQconninfoParse(conninfo, NULL);
	if (opts == NULL)
		return false;			/* libpq will report the syntax error */
	for (opt = opts; opt->keyword != NULL; opt++)
		if (strcmp(opt->keyword, "target_session_attrs") == 0 &&
			opt->val != NULL && opt->val[0] != '\0')
			found = true;
	PQconninfoFree(opts);
	return found;
}

/* the value of KEYWORD in a started connection's options, or ""; malloc'd
 * (free it), NULL when out of memory */
static char *
ConnOption(PGconn *conn, const char *keyword)
{
	PQconninfoOption *opts = PQconninfo(conn);
	PQconninfoOption *opt;
	char	   *val = NULL;

	if (opts != NULL)
	{
		for (opt = opts; opt->keyword != NULL; opt++)
			if (strcmp(opt->keyword, keyword) == 0 && opt->val != NULL)
				val = strdup(opt->val);
		PQconninfoFree(opts);
	}
	return val ? val : strdup("");
}

/* connect_timeout of a started connection in ms, or 0 when unset */
static int64_t
ConnectTimeoutOf(PGconn *conn)
{
	char	   *val = ConnOption(conn, "connect_timeout");
	int64_t		ms = 0;

	if (val != NULL && atoi(val) > 0)
		ms = (int64_t) atoi(val) * 1000;
	free(val);
	return ms;
}

/*
 * Waits until sock is readable (and writable if for_write) or the deadline.
 * Returns 1 when ready, 0 at the deadline, -1 when interrupted or poll fails.
 */
static int
WaitSocket(LsClient *client, int sock, bool for_read, bool for_write,
		   int64_t deadline)
{
	struct pollfd pfd;

	if (sock < 0)
	{
		SetError(client, "connection has no socket");
		return -1;
	}
	for (;;)
	{
		int			timeout = -1;
		int			rc;

		if (client->interrupt != NULL && *client->interrupt)
		{
			SetError(client, "interrupted");
			return -1;
		}
		if (deadline > 0)
		{
			int64_t		left = deadline - ls_now_ms();

			if (left <= 0)
				return 0;
			timeout = left > INT32_MAX ? INT32_MAX : (int) left;
		}
		if (client->wait_keepalive != NULL)
		{
			LsKeepalive *ka = client->wait_keepalive;
			int64_t		left = ls_keepalive_due(ka) - ls_now_ms();

			if (left <= 0)
			{
				if (ls_keepalive_step(ka) == LS_LEASE_LOST)
				{
					if (ka->name != NULL)
						SetError(client, "the lease %s was lost while waiting",
								 ka->name);
					else
						SetError(client, "the session %" PRId64 " was lost while waiting",
								 ka->session);
					return -1;
				}
				continue;
			}
			if (timeout < 0 || left < timeout)
				timeout = left > INT32_MAX ? INT32_MAX : (int) left;
		}
		pfd.fd = sock;
		pfd.events = (for_read ? POLLIN : 0) | (for_write ? POLLOUT : 0);
		pfd.revents = 0;
		rc = poll(&pfd, 1, timeout);
		if (rc > 0)
			return 1;
		if (rc == 0)
			continue;			/* re-check the deadline */
		if (errno != EINTR)
		{
			SetError(client, "poll failed: %s", strerror(errno));
			return -1;
		}
	}
}

LsClient *
ls_client_new(const char *conninfo)
{
	LsClient   *client = calloc(1, sizeof(LsClient));

	if (client == NULL)
		return NULL;
	client->conninfo = strdup(conninfo ? conninfo : "");
	if (client->conninfo == NULL)
	{
		free(client);
		return NULL;
	}
	return client;
}

void
ls_client_free(LsClient *client)
{
	if (client == NULL)
		return;
	ls_disconnect(client);
	free(client->conninfo);
	free(client);
}

void
ls_disconnect(LsClient *client)
{
	if (client->conn != NULL)
		PQfinish(client->conn);
	client->conn = NULL;
}

PGconn *
ls_conn(LsClient *client)
{
	return client->conn;
}

void
ls_set_deadline(LsClient *client, int64_t deadline)
{
	client->deadline = deadline;
}

void
ls_set_interrupt_flag(LsClient *client, volatile int *flag)
{
	client->interrupt = flag;
}

void
ls_set_wait_keepalive(LsClient *client, LsKeepalive *keepalive)
{
	/* a keepalive on this very connection cannot run while it waits */
	client->wait_keepalive =
		keepalive != NULL && keepalive->client != client ? keepalive : NULL;
}

const char *
ls_error(const LsClient *client)
{
	return client->error;
}

const char *
ls_sqlstate(const LsClient *client)
{
	return client->sqlstate;
}

/* the IDX-th element of a comma-separated list, or the only one; "" when absent */
static void
ListItem(const char *list, int idx, char *out, size_t outsz)
{
	const char *p = list;
	size_t		len;

	if (strchr(list, ',') == NULL)
	{
		snprintf(out, outsz, "%s", list);
		return;
	}
	for (; idx > 0 && p != NULL; idx--)
	{
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
	{
		out[0] = '\0';
		return;
	}
	len = strcspn(p, ",");
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

/*
 * Starts a connection with the client's conninfo; a non-NULL host
 * (with hostaddr and port) overrides the conninfo's list: keywords later in
 * the array win over those the expanded conninfo gave.
 */
static PGconn *
StartConnection(LsClient *client, const char *host, const char *hostaddr, const char *port)
{
	const char *keywords[8];
	const char *values[8];
	int			n = 0;

	if (client->conninfo[0] != '\0')
	{
		keywords[n] = "dbname";
		values[n++] = client->conninfo;
	}
	if (!UserSetsTargetSessionAttrs(client->conninfo))
	{
		keywords[n] = "target_session_attrs";
		values[n++] = "read-write";
	}
	keywords[n] = "fallback_application_name";
	values[n++] = "lockservice";
	if (host != NULL)
	{
		keywords[n] = "host";
		values[n++] = host;
		keywords[n] = "hostaddr";
		values[n++] = hostaddr;
		keywords[n] = "port";
		values[n++] = port;
	}
	keywords[n] = NULL;
	values[n] = NULL;
	return PQconnectStartParams(keywords, values, 1);
}

/*
 * Drives a started connection to the end or to the deadline.  LS_OK, or
 * LS_NOT_CONNECTED with the error set and the connection closed.
 */
static LsStatus
CompleteConnection(LsClient *client, int64_t deadline)
{
	PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;

	if (client->conn == NULL)
	{
		SetError(client, "out of memory");
		return LS_NOT_CONNECTED;
	}
	if (PQstatus(client->conn) == CONNECTION_BAD)
	{
		SetErrorFromConn(client, "");
		ls_disconnect(client);
		return LS_NOT_CONNECTED;
	}
	while (poll_status != PGRES_POLLING_OK)
	{
		int			rc;

		if (poll_status == PGRES_POLLING_FAILED)
		{
			SetErrorFromConn(client, "");
			ls_disconnect(client);
			return LS_NOT_CONNECTED;
		}
		rc = WaitSocket(client, PQsocket(client->conn),
						poll_status == PGRES_POLLING_READING,
						poll_status == PGRES_POLLING_WRITING, deadline);
		if (rc <= 0)
		{
			if (rc == 0)
				SetError(client, "timeout expired while connecting");
			ls_disconnect(client);
			return LS_NOT_CONNECTED;
		}
		poll_status = PQconnectPoll(client->conn);
	}
	return LS_OK;
}

/*
 * Connects, by the caller's deadline (0: none).  With several hosts (a
 * multi-host conninfo, or PGHOST) each host is tried in turn with a
 * timeout of its own, connect_timeout (default 10 s), as libpq's blocking
 * connect does: libpq's non-blocking connect has no timeout, so one host
 * that drops packets (a partitioned old primary first in the list) would
 * otherwise use up the whole attempt and the next hosts were never tried.
 */
LsStatus
ls_connect(LsClient *client, int64_t deadline)
{
	int64_t		timeout;
	char	   *hosts, *hostaddrs, *ports;
	int			nhosts = 1;
	LsStatus	status = LS_NOT_CONNECTED;

	if (client->conn != NULL && PQstatus(client->conn) == CONNECTION_OK)
		return LS_OK;
	ls_disconnect(client);

	/* the options as libpq resolved them (conninfo, then the environment) */
	client->conn = StartConnection(client, NULL, NULL, NULL);
	if (client->conn == NULL || PQstatus(client->conn) == CONNECTION_BAD)
		return CompleteConnection(client, deadline);
	timeout = ConnectTimeoutOf(client->conn);
	if (timeout == 0)
		timeout = LS_DEFAULT_CONNECT_TIMEOUT_MS;
	hosts = ConnOption(client->conn, "host");
	hostaddrs = ConnOption(client->conn, "hostaddr");
	ports = ConnOption(client->conn, "port");
	if (hosts != NULL && hostaddrs != NULL && ports != NULL)
		for (const char *p = hosts[0] ? hosts : hostaddrs; *p; p++)
			if (*p == ',')
				nhosts++;

	if (nhosts == 1)
	{
		/* one host: the connection started above */
		int64_t		d = ls_now_ms() + timeout;

		status = CompleteConnection(client, deadline != 0 && deadline < d ? deadline : d);
	}
	else
	{
		ls_disconnect(client);
		for (int i = 0; i < nhosts; i++)
		{
			char		host[1024], hostaddr[256], port[64];
			int64_t		d = ls_now_ms() + timeout;

			if (deadline != 0 && ls_now_ms() >= deadline)
				break;
			ListItem(hosts, i, host, sizeof host);
			ListItem(hostaddrs, i, hostaddr, sizeof hostaddr);
			ListItem(ports, i, port, sizeof port);
			client->conn = StartConnection(client, host, hostaddr, port);
			status = CompleteConnection(client, deadline != 0 && deadline < d ? deadline : d);
			if (status == LS_OK || (client->interrupt != NULL && *client->interrupt))
				break;
		}
	}
	free(hosts);
	free(hostaddrs);
	free(ports);
	if (status != LS_OK)
		return status;

	PQsetNoticeReceiver(client->conn, NoticeReceiver, client);
	if (PQsetnonblocking(client->conn, 1) != 0)
	{
		SetErrorFromConn(client, "");
		ls_disconnect(client);
		return LS_NOT_CONNECTED;
	}
	client->error[0] = '\0';
	return LS_OK;
}

/*
 * Runs one statement with parameters (unnamed, extended protocol) and
 * waits for its result until the client's deadline.  writes: a server
 * warning makes the outcome unconfirmed.  On LS_OK *result holds a
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK result for the caller to PQclear.
 */
static LsStatus
Exec(LsClient *client, const char *sql, int nparams, const char *const *params,
	 bool writes, PGresult **result)
{
	PGresult   *res = NULL;
	PGresult   *r;
	int			rc;
	ExecStatusType status;

	*result = NULL;
	client->error[0] = '\0';
	client->sqlstate[0] = '\0';
	client->warned = false;

	/* an idle connection the server closed meanwhile: reconnect first */
	if (client->conn != NULL &&
		(!PQconsumeInput(client->conn) ||
		 PQstatus(client->conn) != CONNECTION_OK))
		ls_disconnect(client);
	if (ls_connect(client, client->deadline) != LS_OK)
		return LS_NOT_CONNECTED;

	if (!PQsendQueryParams(client->conn, sql, nparams, NULL, params,
						   NULL, NULL, 0))
		goto broken;
	while ((rc = PQflush(client->conn)) == 1)
	{
		rc = WaitSocket(client, PQsocket(client->conn), true, true,
						client->deadline);
		if (rc <= 0)
			goto timed_out;
		if (!PQconsumeInput(client->conn))
			goto broken;
	}
	if (rc < 0)
		goto broken;

	for (;;)
	{
		while (PQisBusy(client->conn))
		{
			rc = WaitSocket(client, PQsocket(client->conn), true, false,
							client->deadline);
			if (rc <= 0)
				goto timed_out;
			if (!PQconsumeInput(client->conn))
				goto broken;
		}
		r = PQgetResult(client->conn);
		if (r == NULL)
			break;
		if (res == NULL)
			res = r;
		else
			PQclear(r);
	}

	if (res == NULL)
		goto broken;
	status = PQresultStatus(res);
	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
	{
		if (writes && client->warned)
		{
			SetError(client, "the server could not confirm the commit: %s",
					 client->warning);
			PQclear(res);
			return LS_UNCONFIRMED;
		}
		*result = res;
		return LS_OK;
	}
	if (PQstatus(client->conn) == CONNECTION_BAD)
	{
		SetError(client, "connection lost: %s", PQresultErrorMessage(res));
		PQclear(res);
		ls_disconnect(client);
		return LS_UNCONFIRMED;
	}
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

		snprintf(client->sqlstate, sizeof(client->sqlstate), "%s",
				 state ? state : "XX000");
		SetError(client, "%s%s%s", msg ? msg : PQresultErrorMessage(res),
				 hint ? " (hint: " : "", hint ? hint : "");
		if (hint)
			strncat(client->error, ")",
					sizeof(client->error) - strlen(client->error) - 1);
	}
	PQclear(res);
	return LS_SERVER_ERROR;

timed_out:
	if (client->error[0] == '\0')
		SetError(client, "no reply from the server in time");
	if (res != NULL)
		PQclear(res);
	ls_disconnect(client);
	return LS_UNCONFIRMED;

broken:
	SetErrorFromConn(client, "connection lost: ");
	if (res != NULL)
		PQclear(res);
	ls_disconnect(client);
	return LS_UNCONFIRMED;
}

/* formats ms as an interval literal */
static void
IntervalText(int64_t ms, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64 " milliseconds", ms);
}

/* the single boolean of a result: LS_OK for true, LS_NO for false */
static LsStatus
BoolResult(LsClient *client, PGresult *res)
{
	LsStatus	st;

	if (PQntuples(res) != 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
	{
		SetError(client, "unexpected reply from the server");
		st = LS_SERVER_ERROR;
	}
	else
		st = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? LS_OK : LS_NO;
	PQclear(res);
	return st;
}

/* ends the transaction of a waiting acquire that did not get the lease */
static void
RollbackQuietly(LsClient *client)
{
	PGresult   *res;
	char		saved[sizeof(client->error)];
	char		saved_state[sizeof(client->sqlstate)];

	if (client->conn == NULL)
		return;
	memcpy(saved, client->error, sizeof(saved));
	memcpy(saved_state, client->sqlstate, sizeof(saved_state));
	if (Exec(client, "ROLLBACK", 0, NULL, false, &res) == LS_OK)
		PQclear(res);
	else
		ls_disconnect(client);	/* closing the connection aborts it too */
	memcpy(client->error, saved, sizeof(saved));
	memcpy(client->sqlstate, saved_state, sizeof(saved_state));
}

/*
 * The status of a waiting acquire's transaction that failed before COMMIT
 * was sent: a lost connection aborted it, so nothing took effect.
 */
static LsStatus
BeforeCommit(LsStatus st)
{
	return st == LS_UNCONFIRMED ? LS_NOT_CONNECTED : st;
}

/* checks name, holder and token arguments */
static bool
ArgsOk(LsClient *client, const char *name, const char *holder, int64_t token)
{
	client->sqlstate[0] = '\0';
	if (name == NULL || name[0] == '\0')
		SetError(client, "a lock name must not be empty");
	else if (holder != NULL && holder[0] == '\0')
		SetError(client, "a holder id must not be empty");
	else if (token <= 0)
		SetError(client, "a token is a positive number");
	else
		return true;
	return false;
}

/*
 * The tokens of an acquire's reply: a bigint, or a bigint[] of n tokens when
 * array.  LS_OK with tokens set, LS_NO for NULL (nothing granted), or
 * LS_SERVER_ERROR for anything else.  Clears res.
 */
static LsStatus
TokensOf(LsClient *client, PGresult *res, bool array, int n, int64_t *tokens)
{
	const char *p;
	int			i;

	if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
	{
		bool		one_value = PQntuples(res) == 1 && PQnfields(res) == 1;

		PQclear(res);
		if (!one_value)
			goto unexpected;
		return LS_NO;
	}
	p = PQgetvalue(res, 0, 0);
	if (array && *p++ != '{')
		goto unexpected_clear;
	for (i = 0; i < n; i++)
	{
		char	   *end;

		tokens[i] = strtoll(p, &end, 10);
		if (end == p || tokens[i] <= 0)
			goto unexpected_clear;
		p = end;
		if (array && *p == (i == n - 1 ? '}' : ','))
			p++;
	}
	if (*p != '\0')
		goto unexpected_clear;
	PQclear(res);
	return LS_OK;

unexpected_clear:
	PQclear(res);
unexpected:
	SetError(client, "unexpected reply from the server");
	return LS_SERVER_ERROR;
}

/*
 * Runs an acquire statement and returns its tokens: one (a bigint reply), or
 * n of an all-or-nothing acquire (array: a bigint[] reply), with *sent_at
 * (may be NULL) the ls_now_ms() time from which leases with their own ttl
 * are known to last ttl_ms (0: locks kept by a session, which have none).
 *
 * wait_ms 0: one autocommit statement.  Otherwise the acquire runs in a
 * transaction: if this client is gone by the time the lock is granted, the
 * server aborts the grant (it notices within client_connection_check_interval,
 * or when COMMIT never comes).  Leases with their own ttl are renewed in the
 * same transaction, so their end is known from the renewal's send time
 * however long the wait took.
 */
static LsStatus
AcquireCall(LsClient *client, const char *sql, int nparams,
			const char *const *params, int64_t wait_ms, bool array,
			const char *const *names, int n, int64_t ttl_ms, int64_t *tokens,
			int64_t *sent_at)
{
	PGresult   *res;
	LsStatus	st;
	int64_t		sent;

	if (wait_ms == 0)
	{
		/* one autocommit statement: a lease starts when it is sent */
		sent = ls_now_ms();
		st = Exec(client, sql, nparams, params, true, &res);
		if (st != LS_OK)
			return st;
		st = TokensOf(client, res, array, n, tokens);
		if (st == LS_OK && sent_at)
			*sent_at = sent;
		return st;
	}

	st = Exec(client, "BEGIN", 0, NULL, false, &res);
	if (st != LS_OK)
		return BeforeCommit(st);
	PQclear(res);
	if (!client->no_client_check)
	{
		static const char *const check_sql =
			"SELECT pg_catalog.set_config('client_connection_check_interval', "
			"'" LS_CLIENT_CHECK_INTERVAL "', true)";

		st = Exec(client, check_sql, 0, NULL, false, &res);
		if (st == LS_SERVER_ERROR)
		{
			/* not supported on this server: wait without it */
			RollbackQuietly(client);
			client->no_client_check = true;
			return AcquireCall(client, sql, nparams, params, wait_ms, array,
							   names, n, ttl_ms, tokens, sent_at);
		}
		if (st != LS_OK)
			return BeforeCommit(st);
		PQclear(res);
	}
	st = Exec(client, sql, nparams, params, false, &res);
	if (st == LS_OK)
		st = TokensOf(client, res, array, n, tokens);
	if (st != LS_OK)
	{
		if (st == LS_SERVER_ERROR || st == LS_NO)
			RollbackQuietly(client);
		return BeforeCommit(st);
	}

	sent = ls_now_ms();
	for (int i = 0; ttl_ms > 0 && i < n; i++)
	{
		st = ls_renew(client, names[i], tokens[i], ttl_ms);
		if (st != LS_OK)
		{
			if (st == LS_NO)
			{
				SetError(client, "the lease granted to this transaction could not be renewed");
				st = LS_SERVER_ERROR;
			}
			if (st == LS_SERVER_ERROR)
				RollbackQuietly(client);
			return BeforeCommit(st);
		}
	}
	st = Exec(client, "COMMIT", 0, NULL, true, &res);
	if (st != LS_OK)
		return st;
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
	{
		SetError(client, "the transaction that acquired the lease was rolled back");
		PQclear(res);
		return LS_SERVER_ERROR;
	}
	PQclear(res);
	if (sent_at)
		*sent_at = sent;
	return LS_OK;
}

/* checks the wait argument of an acquire */
static bool
WaitOk(LsClient *client, int64_t wait_ms)
{
	if (wait_ms < 0 && wait_ms != LS_WAIT_FOREVER)
	{
		SetError(client, "wait must not be negative");
		return false;
	}
	return true;
}

/* checks the ttl argument of an acquire or a session */
static bool
TtlOk(LsClient *client, int64_t ttl_ms)
{
	if (ttl_ms <= 0)
	{
		SetError(client, "ttl must be positive");
		return false;
	}
	return true;
}

LsStatus
ls_acquire(LsClient *client, const char *name, const char *holder,
		   int64_t ttl_ms, int64_t wait_ms, int64_t *token, int64_t *sent_at)
{
	char		ttl_text[64];
	char		wait_text[64];
	const char *params[4];

	if (!ArgsOk(client, name, holder ? holder : "", 1) ||
		!TtlOk(client, ttl_ms) || !WaitOk(client, wait_ms))
		return LS_BAD_ARGUMENT;
	IntervalText(ttl_ms, ttl_text, sizeof(ttl_text));
	IntervalText(wait_ms < 0 ? 0 : wait_ms, wait_text, sizeof(wait_text));
	params[0] = name;
	params[1] = holder;
	params[2] = ttl_text;
	params[3] = wait_ms == LS_WAIT_FOREVER ? NULL : wait_text;
	return AcquireCall(client,
					   "SELECT lockservice.lock_acquire($1, $2, "
					   "$3::pg_catalog.interval, $4::pg_catalog.interval)",
					   4, params, wait_ms, false, &name, 1, ttl_ms, token,
					   sent_at);
}

/*
 * A renewal: lock_renew(name, id, ttl), or with name NULL
 * session_renew(id, ttl); ttl_ms 0: the lease's or session's own ttl.
 */
static LsStatus
RenewCall(LsClient *client, const char *name, int64_t id, int64_t ttl_ms)
{
	char		id_text[32];
	char		ttl_text[64];
	const char *params[3];
	int			n = 0;
	PGresult   *res;
	LsStatus	st;

	if (ttl_ms < 0)
	{
		SetError(client, "ttl must be positive");
		return LS_BAD_ARGUMENT;
	}
	snprintf(id_text, sizeof(id_text), "%" PRId64, id);
	IntervalText(ttl_ms, ttl_text, sizeof(ttl_text));
	if (name != NULL)
		params[n++] = name;
	params[n++] = id_text;
	params[n++] = ttl_ms > 0 ? ttl_text : NULL;
	st = Exec(client, name != NULL ?
			  "SELECT lockservice.lock_renew($1, $2::pg_catalog.int8, "
			  "$3::pg_catalog.interval)" :
			  "SELECT lockservice.session_renew($1::pg_catalog.int8, "
			  "$2::pg_catalog.interval)", n, params, true, &res);
	return st == LS_OK ? BoolResult(client, res) : st;
}

LsStatus
ls_renew(LsClient *client, const char *name, int64_t token, int64_t ttl_ms)
{
	if (!ArgsOk(client, name, NULL, token))
		return LS_BAD_ARGUMENT;
	return RenewCall(client, name, token, ttl_ms);
}

/* Call a boolean lockservice function of (name, token). */
static LsStatus
NameTokenCall(LsClient *client, const char *sql, const char *name,
			  int64_t token, bool writes)
{
	char		token_text[32];
	const char *params[2];
	PGresult   *res;
	LsStatus	st;

	if (!ArgsOk(client, name, NULL, token))
		return LS_BAD_ARGUMENT;
	snprintf(token_text, sizeof(token_text), "%" PRId64, token);
	params[0] = name;
	params[1] = token_text;
	st = Exec(client, sql, 2, params, writes, &res);
	return st == LS_OK ? BoolResult(client, res) : st;
}

LsStatus
ls_release(LsClient *client, const char *name, int64_t token)
{
	return NameTokenCall(client,
						 "SELECT lockservice.lock_release($1, $2::pg_catalog.int8)",
						 name, token, true);
}

LsStatus
ls_check(LsClient *client, const char *name, int64_t token)
{
	return NameTokenCall(client,
						 "SELECT lockservice.lock_check($1, $2::pg_catalog.int8)",
						 name, token, false);
}

/* ---- sessions and all-or-nothing acquires ---- */

/* checks a session id argument */
static bool
SessionOk(LsClient *client, int64_t session)
{
	client->sqlstate[0] = '\0';
	if (session <= 0)
	{
		SetError(client, "a session id is a positive number");
		return false;
	}
	return true;
}

/* checks the names of an all-or-nothing acquire */
static bool
NamesOk(LsClient *client, const char *const *names, int nnames)
{
	client->sqlstate[0] = '\0';
	if (names == NULL || nnames <= 0)
	{
		SetError(client, "at least one lock name is needed");
		return false;
	}
	for (int i = 0; i < nnames; i++)
		if (!ArgsOk(client, names[i], NULL, 1))
			return false;
	return true;
}

/*
 * The names as a text[] literal: each element double-quoted with " and \
 * escaped.  malloc'd; NULL when out of memory.
 */
static char *
TextArrayLiteral(const char *const *names, int nnames)
{
	size_t		size = 3;
	char	   *text;
	char	   *out;

	for (int i = 0; i < nnames; i++)
		size += 2 * strlen(names[i]) + 3;
	text = malloc(size);
	if (text == NULL)
		return NULL;
	out = text;
	*out++ = '{';
	for (int i = 0; i < nnames; i++)
	{
		if (i > 0)
			*out++ = ',';
		*out++ = '"';
		for (const char *p = names[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				*out++ = '\\';
			*out++ = *p;
		}
		*out++ = '"';
	}
	*out++ = '}';
	*out = '\0';
	return text;
}

LsStatus
ls_session_open(LsClient *client, const char *holder, int64_t ttl_ms,
				int64_t *session, int64_t *sent_at)
{
	char		ttl_text[64];
	const char *params[2];
	PGresult   *res;
	LsStatus	st;
	int64_t		sent;

	client->sqlstate[0] = '\0';
	if (holder == NULL || holder[0] == '\0')
	{
		SetError(client, "a holder id must not be empty");
		return LS_BAD_ARGUMENT;
	}
	if (!TtlOk(client, ttl_ms))
		return LS_BAD_ARGUMENT;
	IntervalText(ttl_ms, ttl_text, sizeof(ttl_text));
	params[0] = holder;
	params[1] = ttl_text;
	sent = ls_now_ms();
	st = Exec(client,
			  "SELECT lockservice.session_open($1, $2::pg_catalog.interval)",
			  2, params, true, &res);
	if (st != LS_OK)
		return st;
	st = TokensOf(client, res, false, 1, session);
	if (st == LS_NO)
	{
		SetError(client, "unexpected reply from the server");
		st = LS_SERVER_ERROR;
	}
	if (st == LS_OK && sent_at)
		*sent_at = sent;
	return st;
}

LsStatus
ls_session_renew(LsClient *client, int64_t session, int64_t ttl_ms)
{
	if (!SessionOk(client, session))
		return LS_BAD_ARGUMENT;
	return RenewCall(client, NULL, session, ttl_ms);
}

LsStatus
ls_session_close(LsClient *client, int64_t session)
{
	char		id_text[32];
	const char *params[1];
	PGresult   *res;
	LsStatus	st;

	if (!SessionOk(client, session))
		return LS_BAD_ARGUMENT;
	snprintf(id_text, sizeof(id_text), "%" PRId64, session);
	params[0] = id_text;
	st = Exec(client, "SELECT lockservice.session_close($1::pg_catalog.int8)",
			  1, params, true, &res);
	return st == LS_OK ? BoolResult(client, res) : st;
}

LsStatus
ls_acquire_in_session(LsClient *client, const char *name, int64_t session,
					  int64_t wait_ms, int64_t *token)
{
	char		id_text[32];
	char		wait_text[64];
	const char *params[3];

	if (!ArgsOk(client, name, NULL, 1) || !SessionOk(client, session) ||
		!WaitOk(client, wait_ms))
		return LS_BAD_ARGUMENT;
	snprintf(id_text, sizeof(id_text), "%" PRId64, session);
	IntervalText(wait_ms < 0 ? 0 : wait_ms, wait_text, sizeof(wait_text));
	params[0] = name;
	params[1] = id_text;
	params[2] = wait_ms == LS_WAIT_FOREVER ? NULL : wait_text;
	return AcquireCall(client,
					   "SELECT lockservice.lock_acquire($1, $2::pg_catalog.int8, "
					   "$3::pg_catalog.interval)",
					   3, params, wait_ms, false, &name, 1, 0, token, NULL);
}

/* ls_acquire_all and ls_acquire_all_in_session: session 0 for a holder */
static LsStatus
AcquireAll(LsClient *client, const char *const *names, int nnames,
		   const char *holder, int64_t ttl_ms, int64_t session,
		   int64_t wait_ms, int64_t *tokens, int64_t *sent_at)
{
	char		id_text[32];
	char		ttl_text[64];
	char		wait_text[64];
	char	   *names_text;
	const char *params[4];
	const char *wait_param = wait_ms == LS_WAIT_FOREVER ? NULL : wait_text;
	LsStatus	st;

	if (!NamesOk(client, names, nnames) || !WaitOk(client, wait_ms))
		return LS_BAD_ARGUMENT;
	if (session == 0 ?
		!ArgsOk(client, names[0], holder ? holder : "", 1) ||
		!TtlOk(client, ttl_ms) :
		!SessionOk(client, session))
		return LS_BAD_ARGUMENT;
	names_text = TextArrayLiteral(names, nnames);
	if (names_text == NULL)
	{
		SetError(client, "out of memory");
		return LS_BAD_ARGUMENT;
	}
	IntervalText(wait_ms < 0 ? 0 : wait_ms, wait_text, sizeof(wait_text));
	params[0] = names_text;
	if (session == 0)
	{
		IntervalText(ttl_ms, ttl_text, sizeof(ttl_text));
		params[1] = holder;
		params[2] = ttl_text;
		params[3] = wait_param;
		st = AcquireCall(client,
						 "SELECT lockservice.lock_acquire_all($1::pg_catalog.text[], "
						 "$2, $3::pg_catalog.interval, $4::pg_catalog.interval)",
						 4, params, wait_ms, true, names, nnames, ttl_ms,
						 tokens, sent_at);
	}
	else
	{
		snprintf(id_text, sizeof(id_text), "%" PRId64, session);
		params[1] = id_text;
		params[2] = wait_param;
		st = AcquireCall(client,
						 "SELECT lockservice.lock_acquire_all($1::pg_catalog.text[], "
						 "$2::pg_catalog.int8, $3::pg_catalog.interval)",
						 3, params, wait_ms, true, names, nnames, 0, tokens,
						 NULL);
	}
	free(names_text);
	return st;
}

LsStatus
ls_acquire_all(LsClient *client, const char *const *names, int nnames,
			   const char *holder, int64_t ttl_ms, int64_t wait_ms,
			   int64_t *tokens, int64_t *sent_at)
{
	return AcquireAll(client, names, nnames, holder, ttl_ms, 0, wait_ms,
					  tokens, sent_at);
}

LsStatus
ls_acquire_all_in_session(LsClient *client, const char *const *names,
						  int nnames, int64_t session, int64_t wait_ms,
						  int64_t *tokens)
{
	if (!SessionOk(client, session))
		return LS_BAD_ARGUMENT;
	return AcquireAll(client, names, nnames, NULL, 0, session, wait_ms,
					  tokens, NULL);
}

/* ---- time and values ---- */

int64_t
ls_now_ms(void)
{
	struct timespec ts;

#ifdef CLOCK_BOOTTIME
	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
#endif
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ls_parse_duration(const char *text, int64_t *ms)
{
	const char *p = text;
	double		total = 0;
	bool		bare = true;

	if (text == NULL || *text == '\0')
		return -1;
	while (*p != '\0')
	{
		double		value = 0;
		double		scale = 1;
		bool		digits = false;
		double		unit;

		while (*p >= '0' && *p <= '9')
		{
			value = value * 10 + (*p++ - '0');
			digits = true;
			if (value > 1e12)
				return -1;
		}
		if (*p == '.')
		{
			p++;
			while (*p >= '0' && *p <= '9')
			{
				scale /= 10;
				value += (*p++ - '0') * scale;
				digits = true;
			}
		}
		if (!digits)
			return -1;
		if (strncmp(p, "ms", 2) == 0)
			unit = 1, p += 2;
		else if (*p == 's')
			unit = 1000, p++;
		else if (*p == 'm')
			unit = 60000, p++;
		else if (*p == 'h')
			unit = 3600000, p++;
		else if (*p == '\0' && bare)
			unit = 1000;		/* a bare number: seconds */
		else
			return -1;
		bare = false;
		total += value * unit;
		if (total > (double) LS_MAX_DURATION_MS)
			return -1;
	}
	*ms = (int64_t) (total + 0.5);
	return 0;
}

void
ls_format_duration(int64_t ms, char *buf, size_t size)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(buf, size, "%" PRId64 "ms", ms);
	else if (ms < 60000)
	{
		char	   *end;

		snprintf(buf, size, "%.3f", ms / 1000.0);
		end = buf + strlen(buf) - 1;
		while (*end == '0')
			*end-- = '\0';
		if (*end == '.')
			*end = '\0';
		strncat(buf, "s", size - strlen(buf) - 1);
	}
	else if (ms < 3600000)
		snprintf(buf, size, "%" PRId64 "m%" PRId64 "s", ms / 60000,
				 (ms % 60000) / 1000);
	else
		snprintf(buf, size, "%" PRId64 "h%" PRId64 "m", ms / 3600000,
				 (ms % 3600000) / 60000);
}

char *
ls_default_holder(void)
{
	char		host[256];
	uint32_t	random_bits;
	char	   *holder;
	size_t		size;

	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[64] = '\0';			/* keeps the holder well below 256 bytes */
	if (getrandom(&random_bits, sizeof(random_bits), 0) !=
		(ssize_t) sizeof(random_bits))
		random_bits = (uint32_t) ls_now_ms() ^ ((uint32_t) getpid() << 16);
	size = strlen(host) + 32;
	holder = malloc(size);
	if (holder != NULL)
		snprintf(holder, size, "%s:%d:%08x", host, (int) getpid(),
				 random_bits);
	return holder;
}

/* ---- keepalive ---- */

/* sends one progress line to the keepalive's log function */
static void
KeepaliveLog(LsKeepalive *ka, const char *fmt,...)
{
	char		line[1400];
	va_list		ap;

	if (ka->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ka->log(ka->log_arg, line);
}

/* a keepalive of a lease (name, token) or of a session (name NULL) */
static LsKeepalive *
KeepaliveNew(LsClient *client, const char *name, int64_t token,
			 int64_t session, int64_t ttl_ms, int64_t confirmed_at)
{
	LsKeepalive *ka = calloc(1, sizeof(LsKeepalive));

	if (ka == NULL)
		return NULL;
	if (name != NULL)
	{
		ka->name = strdup(name);
		if (ka->name == NULL)
		{
			free(ka);
			return NULL;
		}
	}
	ka->client = client;
	ka->token = token;
	ka->session = session;
	ka->ttl = ttl_ms;
	ka->interval = ttl_ms / 3;
	ka->margin = ttl_ms / 5;
	ka->confirmed_at = confirmed_at;
	ka->next_due = confirmed_at + ka->interval;
	ka->reason = LS_LOST_NOT_LOST;
	return ka;
}

LsKeepalive *
ls_keepalive_new(LsClient *client, const char *name, int64_t token,
				 int64_t ttl_ms, int64_t confirmed_at)
{
	return KeepaliveNew(client, name, token, 0, ttl_ms, confirmed_at);
}

LsKeepalive *
ls_keepalive_new_session(LsClient *client, int64_t session, int64_t ttl_ms,
						 int64_t confirmed_at)
{
	return KeepaliveNew(client, NULL, 0, session, ttl_ms, confirmed_at);
}

void
ls_keepalive_free(LsKeepalive *ka)
{
	if (ka == NULL)
		return;
	free(ka->name);
	free(ka);
}

void
ls_keepalive_set_interval(LsKeepalive *ka, int64_t ms)
{
	ka->interval = ms > 0 ? ms : 1;
	ka->next_due = ka->confirmed_at + ka->interval;
}

void
ls_keepalive_set_margin(LsKeepalive *ka, int64_t ms)
{
	ka->margin = ms >= 0 ? ms : 0;
}

void
ls_keepalive_set_log(LsKeepalive *ka, LsLogFunc log, void *arg)
{
	ka->log = log;
	ka->log_arg = arg;
}

int64_t
ls_keepalive_deadline(const LsKeepalive *ka)
{
	return ka->confirmed_at + ka->ttl;
}

int64_t
ls_keepalive_lost_at(const LsKeepalive *ka)
{
	return ka->confirmed_at + ka->ttl - ka->margin;
}

int64_t
ls_keepalive_due(const LsKeepalive *ka)
{
	int64_t		lost_at = ls_keepalive_lost_at(ka);

	return ka->next_due < lost_at ? ka->next_due : lost_at;
}

LsLostReason
ls_keepalive_reason(const LsKeepalive *ka)
{
	return ka->reason;
}

LsLeaseState
ls_keepalive_step(LsKeepalive *ka)
{
	LsClient   *client = ka->client;
	int64_t		now = ls_now_ms();
	int64_t		lost_at = ls_keepalive_lost_at(ka);
	int64_t		attempt_deadline;
	int64_t		saved_deadline = client->deadline;
	int64_t		sent;
	LsStatus	st;
	char		left[32];
	char		wait[32];

	if (ka->reason != LS_LOST_NOT_LOST)
		return LS_LEASE_LOST;
	if (now >= lost_at)
	{
		ka->reason = LS_LOST_UNCONFIRMED;
		KeepaliveLog(ka, "no renewal confirmed in time: %s considered lost",
					 ka->name != NULL ? "lease" : "session");
		return LS_LEASE_LOST;
	}
	if (now < ka->next_due)
		return LS_LEASE_HELD;

	/* one attempt, which must not outlast the lease */
	attempt_deadline = now + (ka->interval > 1000 ? ka->interval : 1000);
	if (attempt_deadline > lost_at)
		attempt_deadline = lost_at;
	client->deadline = attempt_deadline;
	sent = ls_now_ms();
	if (ka->name != NULL)
		st = ls_renew(client, ka->name, ka->token, ka->ttl);
	else
		st = ls_session_renew(client, ka->session, ka->ttl);
	client->deadline = saved_deadline;

	if (st == LS_OK)
	{
		ka->confirmed_at = sent;
		ka->next_due = sent + ka->interval;
		ka->backoff = 0;
		ls_format_duration(ls_keepalive_lost_at(ka) - ls_now_ms(), left,
						   sizeof(left));
		if (ka->name != NULL)
			KeepaliveLog(ka, "renewed (token %" PRId64 "); safe for %s",
						 ka->token, left);
		else
			KeepaliveLog(ka, "renewed session %" PRId64 "; safe for %s",
						 ka->session, left);
		return LS_LEASE_HELD;
	}
	if (st == LS_NO)
	{
		ka->reason = LS_LOST_NOT_HELD;
		KeepaliveLog(ka, ka->name != NULL ?
					 "renewal refused: the lease is no longer held" :
					 "renewal refused: the session has ended");
		return LS_LEASE_LOST;
	}

	/* unconfirmed or an error: retry with backoff while there is time */
	ka->backoff = ka->backoff == 0 ? LS_BACKOFF_FIRST_MS :
		(ka->backoff * 2 > LS_BACKOFF_MAX_MS ? LS_BACKOFF_MAX_MS :
		 ka->backoff * 2);
	now = ls_now_ms();
	ka->next_due = now + ka->backoff;
	if (ka->next_due > lost_at)
		ka->next_due = lost_at;
	if (now >= lost_at)
	{
		ka->reason = LS_LOST_UNCONFIRMED;
		KeepaliveLog(ka, "renewal not confirmed (%s); no time left: %s considered lost",
					 ls_error(client), ka->name != NULL ? "lease" : "session");
		return LS_LEASE_LOST;
	}
	ls_format_duration(ka->backoff, wait, sizeof(wait));
	ls_format_duration(lost_at - now, left, sizeof(left));
	KeepaliveLog(ka, "renewal not confirmed (%s); retrying in %s, lost in %s unless confirmed",
				 ls_error(client), wait, left);
	return LS_LEASE_HELD;
}
