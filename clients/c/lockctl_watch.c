/*-------------------------------------------------------------------------
 *
 * lockctl_watch.c
 *	  lockctl watch: follows lease events until interrupted.
 *
 * Events are notifications on channel "lockservice" whose payload is a JSON
 * object {"event", "name", "holder", "token"}.  LISTEN needs a session of
 * its own, so watch does not work through a pooler in transaction pooling
 * mode; it refuses a connection that shows the signs of one (the backend
 * pid seen by the server differs from the one the connection reported).
 * When the connection breaks, watch reconnects and says that events in
 * between were missed.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "lockctl.h"

#define WATCH_CHANNEL "lockservice"

/* ---- private variables ---- */

static volatile int stop_signal = 0;

static const char *const watch_help =
"Usage: lockctl watch [NAME] [--json] [--through-pooler]\n"
"\n"
"Follows lease events (LISTEN lockservice) until interrupted, one line per\n"
"event: time (the server's), event, name, holder=, token= (and for a takeover\n"
"previous_holder=, previous_token=; for a forced release by=); with NAME only\n"
"that lock's events.  Events: acquired, released, expired, taken_over,\n"
"forced_release.\n"
"\n"
"  --json             print each event's JSON payload as received, one per line\n"
"  --through-pooler   connect even when the connection seems to go through a\n"
"                     pooler (only a pooler in session mode passes events on)\n"
"\n"
"watch needs a session of its own: it does not work through PgBouncer in\n"
"transaction pooling mode.  After a lost connection it reconnects; events in\n"
"between are missed (it says so on stderr).\n";

/* one event's fields; NULL when absent */
typedef struct WatchEvent
{
	char	   *event;
	char	   *name;
	char	   *holder;
	char	   *token;
	char	   *previous_holder;	/* taken_over */
	char	   *previous_token;
	char	   *by;				/* forced_release: the role */
	char	   *at;				/* server time of the event */
} WatchEvent;

/* ---- signals ---- */

/* records SIGINT / SIGTERM; ppoll returns EINTR */
static void
StopSignal(int sig)
{
	stop_signal = sig;
}

/* ---- a minimal JSON reader for flat event payloads ---- */

/* skips blanks */
static const char *
SkipSpace(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* appends code point cp as UTF-8 */
static char *
PutUtf8(char *out, unsigned cp)
{
	if (cp < 0x80)
		*out++ = (char) cp;
	else if (cp < 0x800)
	{
		*out++ = (char) (0xC0 | (cp >> 6));
		*out++ = (char) (0x80 | (cp & 0x3F));
	}
	else if (cp < 0x10000)
	{
		*out++ = (char) (0xE0 | (cp >> 12));
		*out++ = (char) (0x80 | ((cp >> 6) & 0x3F));
		*out++ = (char) (0x80 | (cp & 0x3F));
	}
	else
	{
		*out++ = (char) (0xF0 | (cp >> 18));
		*out++ = (char) (0x80 | ((cp >> 12) & 0x3F));
		*out++ = (char) (0x80 | ((cp >> 6) & 0x3F));
		*out++ = (char) (0x80 | (cp & 0x3F));
	}
	return out;
}

/* reads 4 hex digits */
static bool
Hex4(const char *p, unsigned *value)
{
	int			i;

	*value = 0;
	for (i = 0; i < 4; i++)
	{
		char		c = p[i];

		*value <<= 4;
		if (c >= '0' && c <= '9')
			*value |= (unsigned) (c - '0');
		else if (c >= 'a' && c <= 'f')
			*value |= (unsigned) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*value |= (unsigned) (c - 'A' + 10);
		else
			return false;
	}
	return true;
}

/* reads a JSON string at *pp (at its quote); returns it malloc'd, or NULL */
static char *
ReadString(const char **pp)
{
	const char *p = *pp + 1;
	char	   *out = malloc(strlen(p) + 1);
	char	   *o = out;

	if (out == NULL)
		return NULL;
	while (*p != '"')
	{
		if (*p == '\0' || (unsigned char) *p < 0x20)
			goto bad;
		if (*p != '\\')
		{
			*o++ = *p++;
			continue;
		}
		p++;
		switch (*p)
		{
			case '"':
			case '\\':
			case '/':
				*o++ = *p;
				break;
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'u':
				{
					unsigned	cp;
					unsigned	low;

					if (!Hex4(p + 1, &cp))
						goto bad;
					p += 4;
					if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' &&
						p[2] == 'u' && Hex4(p + 3, &low) &&
						low >= 0xDC00 && low < 0xE000)
					{
						cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
						p += 6;
					}
					o = PutUtf8(o, cp);
					break;
				}
			default:
				goto bad;
		}
		p++;
	}
	*o = '\0';
	*pp = p + 1;
	return out;
bad:
	free(out);
	return NULL;
}

/* skips any JSON value at *p; false when malformed */
static bool
SkipValue(const char **pp)
{
	const char *p = *pp;
	int			depth = 0;

	do
	{
		p = SkipSpace(p);
		if (*p == '"')
		{
			char	   *s = ReadString(&p);

			if (s == NULL)
				return false;
			free(s);
		}
		else if (*p == '{' || *p == '[')
			depth++, p++;
		else if (*p == '}' || *p == ']')
			depth--, p++;
		else if (*p == ',' || *p == ':')
			p++;
		else if (*p == '\0')
			return false;
		else
			while (*p != '\0' && strchr(",}] \t\r\n", *p) == NULL)
				p++;
	} while (depth > 0);
	*pp = p;
	return depth == 0;
}

static void
FreeEvent(WatchEvent *ev)
{
	free(ev->event);
	free(ev->name);
	free(ev->holder);
	free(ev->token);
	free(ev->previous_holder);
	free(ev->previous_token);
	free(ev->by);
	free(ev->at);
	memset(ev, 0, sizeof(*ev));
}

/* parses a flat JSON object into ev; false when it is not one */
static bool
ParseEvent(const char *payload, WatchEvent *ev)
{
	const char *p = SkipSpace(payload);

	memset(ev, 0, sizeof(*ev));
	if (*p++ != '{')
		return false;
	p = SkipSpace(p);
	if (*p == '}')
		return true;
	for (;;)
	{
		char	   *key;
		char	  **slot = NULL;
		const char *value_start;

		p = SkipSpace(p);
		if (*p != '"' || (key = ReadString(&p)) == NULL)
			goto bad;
		if (strcmp(key, "event") == 0)
			slot = &ev->event;
		else if (strcmp(key, "name") == 0)
			slot = &ev->name;
		else if (strcmp(key, "holder") == 0)
			slot = &ev->holder;
		else if (strcmp(key, "token") == 0)
			slot = &ev->token;
		else if (strcmp(key, "previous_holder") == 0)
			slot = &ev->previous_holder;
		else if (strcmp(key, "previous_token") == 0)
			slot = &ev->previous_token;
		else if (strcmp(key, "by") == 0)
			slot = &ev->by;
		else if (strcmp(key, "at") == 0)
			slot = &ev->at;
		free(key);
		p = SkipSpace(p);
		if (*p++ != ':')
			goto bad;
		p = SkipSpace(p);
		value_start = p;
		if (*p == '"')
		{
			char	   *s = ReadString(&p);

			if (s == NULL)
				goto bad;
			if (slot != NULL && *slot == NULL)
				*slot = s;
			else
				free(s);
		}
		else
		{
			if (!SkipValue(&p))
				goto bad;
			if (slot != NULL && *slot == NULL &&
				strncmp(value_start, "null", 4) != 0)
			{
				*slot = strndup(value_start, (size_t) (p - value_start));
				if (*slot == NULL)
					goto bad;
			}
		}
		p = SkipSpace(p);
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == '}')
			return true;
		goto bad;
	}
bad:
	FreeEvent(ev);
	return false;
}

/* ---- output ---- */

/* prints s with control characters replaced, or "-" when NULL */
static void
PrintField(const char *s)
{
	if (s == NULL)
	{
		fputc('-', stdout);
		return;
	}
	for (; *s; s++)
		fputc((unsigned char) *s < 0x20 ? '?' : *s, stdout);
}

/* prints one notification, when it passes the NAME filter */
static void
PrintNotification(const PGnotify *n, const char *only_name, bool json)
{
	WatchEvent	ev;
	bool		parsed = ParseEvent(n->extra, &ev);
	struct timeval tv;
	struct tm	tm;
	char		stamp[64];
	char		zone[16];

	if (only_name != NULL &&
		(!parsed || ev.name == NULL || strcmp(ev.name, only_name) != 0))
	{
		FreeEvent(&ev);
		return;
	}
	if (json)
		printf("%s\n", n->extra);
	else
	{
		/* the server's time of the event, else the time it arrived */
		if (parsed && ev.at != NULL)
		{
			char	   *c;

			for (c = ev.at; *c; c++)
				if (*c == ' ')
					*c = 'T';
			PrintField(ev.at);
			fputc(' ', stdout);
		}
		else
		{
			gettimeofday(&tv, NULL);
			localtime_r(&tv.tv_sec, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
			strftime(zone, sizeof(zone), "%z", &tm);
			printf("%s.%03d%s ", stamp, (int) (tv.tv_usec / 1000), zone);
		}
		if (!parsed)
		{
			fputs("? ", stdout);
			PrintField(n->extra);
		}
		else
		{
			PrintField(ev.event);
			fputc(' ', stdout);
			PrintField(ev.name);
			fputs(" holder=", stdout);
			PrintField(ev.holder);
			fputs(" token=", stdout);
			PrintField(ev.token);
			if (ev.previous_holder != NULL || ev.previous_token != NULL)
			{
				fputs(" previous_holder=", stdout);
				PrintField(ev.previous_holder);
				fputs(" previous_token=", stdout);
				PrintField(ev.previous_token);
			}
			if (ev.by != NULL)
			{
				fputs(" by=", stdout);
				PrintField(ev.by);
			}
		}
		fputc('\n', stdout);
	}
	fflush(stdout);
	FreeEvent(&ev);
}

/* ---- the session ---- */

/*
 * LISTENs on a connected client.  Returns 0, or an exit code after printing
 * why: a pooler, or an error.
 */
static int
StartListening(LsClient *client, bool through_pooler)
{
	PGconn	   *conn = ls_conn(client);
	PGresult   *res;

	res = PQexecParams(conn, "SELECT pg_catalog.pg_backend_pid()", 0, NULL,
					   NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		lc_error("watch: %s", PQerrorMessage(conn));
		PQclear(res);
		return PQstatus(conn) == CONNECTION_OK ? LC_EXIT_ERROR :
			LC_EXIT_CONNECTION;
	}
	if (!through_pooler && atoi(PQgetvalue(res, 0, 0)) != PQbackendPID(conn))
	{
		lc_error("watch needs a session of its own (LISTEN), but this connection seems to go through a connection pooler such as PgBouncer: in transaction pooling mode no events would arrive");
		lc_error("connect watch directly to PostgreSQL, or pass --through-pooler for a pooler in session mode");
		PQclear(res);
		return LC_EXIT_ERROR;
	}
	PQclear(res);
	res = PQexecParams(conn, "LISTEN " WATCH_CHANNEL, 0, NULL, NULL, NULL,
					   NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		lc_error("watch: LISTEN failed: %s", PQerrorMessage(conn));
		PQclear(res);
		return PQstatus(conn) == CONNECTION_OK ? LC_EXIT_ERROR :
			LC_EXIT_CONNECTION;
	}
	PQclear(res);
	return 0;
}

/* waits for the socket or a stop signal; false when a signal stopped it */
static bool
WaitForInput(int sock, int timeout_ms, const sigset_t *unblocked)
{
	struct pollfd pfd;
	struct timespec ts;

	pfd.fd = sock;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long) (timeout_ms % 1000) * 1000000;
	if (stop_signal)
		return false;
	(void) ppoll(sock >= 0 ? &pfd : NULL, sock >= 0 ? 1 : 0,
				 timeout_ms >= 0 ? &ts : NULL, unblocked);
	return stop_signal == 0;
}

int
lc_watch_main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{"through-pooler", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0}
	};
	bool		json = false;
	bool		through_pooler = false;
	const char *only_name = NULL;
	int			opt;
	LsClient   *client;
	struct sigaction sa;
	sigset_t	block;
	sigset_t	unblocked;
	int			rc;
	int			backoff = 100;

	while ((opt = getopt_long(argc, argv, "d:vh", long_options, NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 'h':
				fputs(watch_help, stdout);
				return LC_EXIT_OK;
			case 'j':
				json = true;
				break;
			case 'p':
				through_pooler = true;
				break;
			default:
				return lc_try_help("watch");
		}
	}
	if (argc - optind > 1)
		return lc_usage_error("watch", "too many arguments");
	if (optind < argc)
		only_name = argv[optind];

	/* SIGINT/SIGTERM are only delivered inside ppoll */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = StopSignal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	sigdelset(&unblocked, SIGINT);
	sigdelset(&unblocked, SIGTERM);

	client = lc_connect();
	if (client == NULL)
		return LC_EXIT_CONNECTION;
	rc = StartListening(client, through_pooler);
	if (rc != 0)
	{
		ls_client_free(client);
		return rc;
	}
	lc_info("watching %s%s", only_name ? "events of " : "all lease events",
			only_name ? only_name : "");

	for (;;)
	{
		PGconn	   *conn = ls_conn(client);
		PGnotify   *n;

		if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		{
			if (!WaitForInput(PQsocket(conn), -1, &unblocked))
				break;
			if (PQconsumeInput(conn))
			{
				while ((n = PQnotifies(conn)) != NULL)
				{
					if (strcmp(n->relname, WATCH_CHANNEL) == 0)
						PrintNotification(n, only_name, json);
					PQfreemem(n);
				}
				continue;
			}
			lc_error("watch: connection lost (%s); reconnecting - events until then are missed",
					 PQerrorMessage(conn));
			ls_disconnect(client);
			backoff = 100;
		}

		/* reconnect, with backoff up to 5 s */
		if (!WaitForInput(-1, backoff, &unblocked))
			break;
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
		if (ls_connect(client, 0) != LS_OK)
		{
			lc_info("watch: reconnect failed: %s", ls_error(client));
			continue;
		}
		rc = StartListening(client, through_pooler);
		if (rc == LC_EXIT_CONNECTION)
		{
			ls_disconnect(client);
			continue;
		}
		if (rc != 0)
		{
			ls_client_free(client);
			return rc;
		}
		lc_error("watch: reconnected");
	}
	ls_client_free(client);
	return LC_EXIT_OK;
}
