/*
 * handoff.c -- per-operation timing for the lockservice benchmarks
 *
 * Built by bench/run.sh:  gcc -Wall -Wextra -Werror -O2 -pthread handoff.c -lpq
 *
 * One process, one thread per client, each thread with its own connection;
 * every clock is CLOCK_MONOTONIC read in this process, so times taken in
 * different threads compare directly.
 *
 * Modes (--mode):
 *   handoff  N clients on one name, each: acquire(name, wait => --wait) then
 *            release.  Hand-off latency = from the moment a holder sends its
 *            release to the moment the next acquire returns a token.
 *   poll     the same loop, but acquire(wait => 0) and, while it returns
 *            NULL, sleep --poll-ms and try again (how table-lock libraries
 *            wait).  The baseline of "handoff".
 *   probe    N clients, each on its own names: acquire(wait => 0) then
 *            release; records every acquire's latency with the wall-clock
 *            time it was sent (to line it up with events on the server).
 *   memory   one connection: --calls calls (acquire, renew, release, ...)
 *            in autocommit, prints the backend's VmRSS, RssAnon and
 *            RssShmem (/proc/PID/status) after each count in --checkpoints.
 *   memory-update  the same with single-row UPDATEs (the baseline).
 *
 * Output: key=value lines on stdout (handoff/poll also: how long each grant
 * was waited for, from the first attempt, and the fewest and most grants
 * of one client); with --out, raw latencies (one per line, microseconds;
 * probe mode: "wallclock_us latency_us").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

enum mode
{
	MODE_HANDOFF,
	MODE_POLL,
	MODE_PROBE,
	MODE_MEMORY,
	MODE_MEMORY_UPDATE
};

static const char *conninfo = "";
static enum mode mode = MODE_HANDOFF;
static int	nclients = 8;
static double seconds = 5.0;
static const char *lock_name = "bench-handoff";
static const char *out_path = NULL;
static int	poll_ms = 10;
static const char *wait_interval = "10 s";
static long ncalls = 1000000;
static char checkpoints_arg[256] = "10000,1000000";

/* shared between threads */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static int64_t deadline_ns;
static int64_t release_sent_ns;	/* when the last release was sent */
static int	release_sent_by = -1;	/* and by which client; -1: none pending */
static int64_t *latencies;		/* hand-off or acquire latencies, ns */
static int64_t *sent_wall_us;	/* probe: wall-clock time each acquire was sent */
static int64_t *waits;			/* handoff/poll: how long each grant was waited for, ns */
static long nwaits;
static long per_client_grants[1024];
static long nlatencies;
static long max_latencies;
static long grants;
static long self_handoffs;
static long timeouts;
static long polls;
static long errors;

static int64_t
now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
mono_ns(void)
{
	return now_ns(CLOCK_MONOTONIC);
}

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "handoff: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect: %s", PQerrorMessage(conn));
	return conn;
}

static void
prepare(PGconn *conn, const char *stmt, const char *sql, int nparams)
{
	PGresult   *res = PQprepare(conn, stmt, sql, nparams, NULL);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("prepare failed: %s", PQerrorMessage(conn));
	PQclear(res);
}

static void
prepare_lease_statements(PGconn *conn)
{
	prepare(conn, "acquire",
			"SELECT lockservice.lock_acquire($1, $2, '30 s', $3::interval)", 3);
	prepare(conn, "release", "SELECT lockservice.lock_release($1, $2::bigint)", 2);
	prepare(conn, "renew", "SELECT lockservice.lock_renew($1, $2::bigint)", 2);
}

/* Run a prepared statement that returns one value; false on NULL. */
static bool
exec_value(PGconn *conn, const char *stmt, int nparams, const char *const *params,
		   char *value, size_t valuelen)
{
	PGresult   *res = PQexecPrepared(conn, stmt, nparams, params, NULL, NULL, 0);
	bool		ok;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		fprintf(stderr, "handoff: %s failed: %s", stmt, PQerrorMessage(conn));
		PQclear(res);
		pthread_mutex_lock(&mutex);
		errors++;
		pthread_mutex_unlock(&mutex);
		return false;
	}
	ok = !PQgetisnull(res, 0, 0);
	if (ok && value)
		snprintf(value, valuelen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

static void
record_latency(int64_t ns, int64_t wall_us)
{
	if (nlatencies < max_latencies)
	{
		latencies[nlatencies] = ns;
		if (sent_wall_us)
			sent_wall_us[nlatencies] = wall_us;
		nlatencies++;
	}
}

/* handoff and poll: every client contends for one name */
static void *
contend_client(void *arg)
{
	int			id = (int) (intptr_t) arg;
	PGconn	   *conn = connect_db();
	char		holder[32];
	char		token[32];
	char		ok[8];
	const char *wait = mode == MODE_POLL ? "0" : wait_interval;

	snprintf(holder, sizeof(holder), "client-%d", id);
	prepare_lease_statements(conn);

	int64_t		wait_start = 0;	/* first attempt of the current acquisition */

	while (mono_ns() < deadline_ns)
	{
		const char *acq[3] = {lock_name, holder, wait};
		const char *rel[2];
		int64_t		got_ns;
		bool		granted;

		if (wait_start == 0)
			wait_start = mono_ns();
		granted = exec_value(conn, "acquire", 3, acq, token, sizeof(token));
		got_ns = mono_ns();
		if (!granted)
		{
			pthread_mutex_lock(&mutex);
			if (mode == MODE_POLL)
				polls++;
			else
				timeouts++;
			pthread_mutex_unlock(&mutex);
			if (mode == MODE_POLL)
			{
				struct timespec ts = {0, (long) poll_ms * 1000000L};

				nanosleep(&ts, NULL);
			}
			continue;
		}

		pthread_mutex_lock(&mutex);
		if (got_ns <= deadline_ns)
		{
			grants++;
			per_client_grants[id]++;
			if (nwaits < max_latencies)
				waits[nwaits++] = got_ns - wait_start;
			if (release_sent_by >= 0)
			{
				record_latency(got_ns - release_sent_ns, 0);
				if (release_sent_by == id)
					self_handoffs++;
			}
		}
		wait_start = 0;
		/* the next hand-off starts when this release is sent */
		release_sent_by = id;
		release_sent_ns = mono_ns();
		pthread_mutex_unlock(&mutex);

		rel[0] = lock_name;
		rel[1] = token;
		if (!exec_value(conn, "release", 2, rel, ok, sizeof(ok)) || strcmp(ok, "t") != 0)
		{
			fprintf(stderr, "handoff: release of token %s did not return true\n", token);
			pthread_mutex_lock(&mutex);
			errors++;
			pthread_mutex_unlock(&mutex);
		}
	}
	PQfinish(conn);
	return NULL;
}

/* probe: uncontended acquire latency, time-stamped */
static void *
probe_client(void *arg)
{
	int			id = (int) (intptr_t) arg;
	PGconn	   *conn = connect_db();
	char		name[64];
	char		token[32];
	long		i = 0;

	prepare_lease_statements(conn);
	while (mono_ns() < deadline_ns)
	{
		const char *acq[3] = {name, "probe", "0"};
		const char *rel[2] = {name, token};
		int64_t		wall = now_ns(CLOCK_REALTIME) / 1000;
		int64_t		t0 = mono_ns();
		bool		granted;

		snprintf(name, sizeof(name), "probe-%d-%ld", id, i++ % 100);
		granted = exec_value(conn, "acquire", 3, acq, token, sizeof(token));
		if (!granted)
		{
			pthread_mutex_lock(&mutex);
			timeouts++;
			pthread_mutex_unlock(&mutex);
			continue;
		}
		pthread_mutex_lock(&mutex);
		grants++;
		record_latency(mono_ns() - t0, wall);
		pthread_mutex_unlock(&mutex);
		exec_value(conn, "release", 2, rel, NULL, 0);
	}
	PQfinish(conn);
	return NULL;
}

static void
read_rss(int pid, long *vmrss_kb, long *rssanon_kb, long *rssshmem_kb)
{
	char		path[64];
	char		line[256];
	FILE	   *f;

	*vmrss_kb = *rssanon_kb = *rssshmem_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		die("cannot open %s", path);
	while (fgets(line, sizeof(line), f))
	{
		if (strncmp(line, "VmRSS:", 6) == 0)
			*vmrss_kb = atol(line + 6);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			*rssanon_kb = atol(line + 8);
		else if (strncmp(line, "RssShmem:", 9) == 0)
			*rssshmem_kb = atol(line + 9);
	}
	fclose(f);
}

/* memory: RSS of one backend as the calls add up */
static int
run_memory(void)
{
	PGconn	   *conn = connect_db();
	PGresult   *res;
	int			pid;
	long		checkpoints[16];
	int			ncheck = 0;
	int			next = 0;
	char	   *save = NULL;
	char		token[32] = "0";
	long		vmrss, rssanon, rssshmem;
	int64_t		t0 = mono_ns();

	for (char *tok = strtok_r(checkpoints_arg, ",", &save); tok && ncheck < 16;
		 tok = strtok_r(NULL, ",", &save))
		checkpoints[ncheck++] = atol(tok);

	res = PQexec(conn, "SELECT pg_backend_pid()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("pg_backend_pid failed: %s", PQerrorMessage(conn));
	pid = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	printf("backend_pid=%d\n", pid);

	if (mode == MODE_MEMORY)
		prepare_lease_statements(conn);
	else
		prepare(conn, "update", "UPDATE bench_update SET v = v + 1 WHERE id = $1::int", 1);

	read_rss(pid, &vmrss, &rssanon, &rssshmem);
	printf("calls=0 vmrss_kb=%ld rssanon_kb=%ld rssshmem_kb=%ld\n", vmrss, rssanon, rssshmem);
	fflush(stdout);

	for (long call = 1; call <= ncalls; call++)
	{
		char		name[64];

		if (mode == MODE_MEMORY)
		{
			/* calls go acquire, renew, release, acquire, ... over 100 names */
			long		cycle = (call - 1) / 3;
			int			step = (int) ((call - 1) % 3);

			snprintf(name, sizeof(name), "mem-%ld", cycle % 100);
			if (step == 0)
			{
				const char *acq[3] = {name, "mem", "0"};

				if (!exec_value(conn, "acquire", 3, acq, token, sizeof(token)))
					die("acquire of %s returned NULL", name);
			}
			else
			{
				const char *p[2] = {name, token};
				char		ok[8];

				if (!exec_value(conn, step == 1 ? "renew" : "release", 2, p, ok, sizeof(ok)) ||
					strcmp(ok, "t") != 0)
					die("renew/release of %s did not return true", name);
			}
		}
		else
		{
			const char *p[1] = {name};

			snprintf(name, sizeof(name), "%ld", 1 + call % 1000);
			res = PQexecPrepared(conn, "update", 1, p, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				die("update failed: %s", PQerrorMessage(conn));
			PQclear(res);
		}
		if (next < ncheck && call == checkpoints[next])
		{
			read_rss(pid, &vmrss, &rssanon, &rssshmem);
			printf("calls=%ld vmrss_kb=%ld rssanon_kb=%ld rssshmem_kb=%ld seconds=%.1f\n",
				   call, vmrss, rssanon, rssshmem, (mono_ns() - t0) / 1e9);
			fflush(stdout);
			next++;
		}
	}
	PQfinish(conn);
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static double
percentile_us(const int64_t *sorted, long n, double p)
{
	long		idx;

	if (n == 0)
		return 0;
	idx = (long) (p * (double) n + 0.999999) - 1;	/* nearest rank */
	if (idx < 0)
		idx = 0;
	if (idx >= n)
		idx = n - 1;
	return sorted[idx] / 1000.0;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: handoff --conninfo STR [--mode handoff|poll|probe|memory|memory-update]\n"
			"               [--clients N] [--seconds S] [--name NAME] [--wait INTERVAL]\n"
			"               [--poll-ms MS] [--out FILE] [--calls N] [--checkpoints A,B,...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t  *threads;
	int64_t		start_ns;
	double		elapsed;

	for (int i = 1; i < argc; i++)
	{
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (val == NULL)
			usage();
		i++;
		if (strcmp(opt, "--conninfo") == 0)
			conninfo = val;
		else if (strcmp(opt, "--mode") == 0)
		{
			if (strcmp(val, "handoff") == 0)
				mode = MODE_HANDOFF;
			else if (strcmp(val, "poll") == 0)
				mode = MODE_POLL;
			else if (strcmp(val, "probe") == 0)
				mode = MODE_PROBE;
			else if (strcmp(val, "memory") == 0)
				mode = MODE_MEMORY;
			else if (strcmp(val, "memory-update") == 0)
				mode = MODE_MEMORY_UPDATE;
			else
				usage();
		}
		else if (strcmp(opt, "--clients") == 0)
			nclients = atoi(val);
		else if (strcmp(opt, "--seconds") == 0)
			seconds = atof(val);
		else if (strcmp(opt, "--name") == 0)
			lock_name = val;
		else if (strcmp(opt, "--wait") == 0)
			wait_interval = val;
		else if (strcmp(opt, "--poll-ms") == 0)
			poll_ms = atoi(val);
		else if (strcmp(opt, "--out") == 0)
			out_path = val;
		else if (strcmp(opt, "--calls") == 0)
			ncalls = atol(val);
		else if (strcmp(opt, "--checkpoints") == 0)
			snprintf(checkpoints_arg, sizeof(checkpoints_arg), "%s", val);
		else
			usage();
	}
	if (nclients < 1 || nclients > 1024 || seconds <= 0)
		usage();

	if (mode == MODE_MEMORY || mode == MODE_MEMORY_UPDATE)
		return run_memory();

	max_latencies = 10000000;
	latencies = malloc(sizeof(int64_t) * max_latencies);
	waits = malloc(sizeof(int64_t) * max_latencies);
	if (mode == MODE_PROBE)
		sent_wall_us = malloc(sizeof(int64_t) * max_latencies);
	threads = malloc(sizeof(pthread_t) * nclients);
	if (!latencies || !threads || (mode == MODE_PROBE && !sent_wall_us))
		die("%s", "out of memory");

	start_ns = mono_ns();
	deadline_ns = start_ns + (int64_t) (seconds * 1e9);
	for (int i = 0; i < nclients; i++)
		if (pthread_create(&threads[i], NULL,
						   mode == MODE_PROBE ? probe_client : contend_client,
						   (void *) (intptr_t) i) != 0)
			die("%s", "pthread_create failed");
	for (int i = 0; i < nclients; i++)
		pthread_join(threads[i], NULL);
	elapsed = (double) (deadline_ns - start_ns) / 1e9;

	if (out_path)
	{
		FILE	   *f = fopen(out_path, "w");

		if (!f)
			die("cannot write %s", out_path);
		for (long i = 0; i < nlatencies; i++)
		{
			if (sent_wall_us)
				fprintf(f, "%" PRId64 " %.1f\n", sent_wall_us[i], latencies[i] / 1000.0);
			else
				fprintf(f, "%.1f\n", latencies[i] / 1000.0);
		}
		fclose(f);
	}

	qsort(latencies, nlatencies, sizeof(int64_t), cmp_i64);
	printf("clients=%d\nseconds=%.3f\ngrants=%ld\ngrants_per_s=%.1f\n",
		   nclients, elapsed, grants, grants / elapsed);
	printf("samples=%ld\nself_handoffs=%ld\ntimeouts=%ld\npolls=%ld\nerrors=%ld\n",
		   nlatencies, self_handoffs, timeouts, polls, errors);
	printf("p50_us=%.1f\np90_us=%.1f\np99_us=%.1f\np999_us=%.1f\nmax_us=%.1f\n",
		   percentile_us(latencies, nlatencies, 0.50),
		   percentile_us(latencies, nlatencies, 0.90),
		   percentile_us(latencies, nlatencies, 0.99),
		   percentile_us(latencies, nlatencies, 0.999),
		   nlatencies ? latencies[nlatencies - 1] / 1000.0 : 0.0);
	if (mode == MODE_HANDOFF || mode == MODE_POLL)
	{
		long		minc = -1, maxc = 0;

		/* how long acquirers waited for their grant, and how fair it was */
		qsort(waits, nwaits, sizeof(int64_t), cmp_i64);
		printf("wait_p50_us=%.1f\nwait_p99_us=%.1f\nwait_max_us=%.1f\n",
			   percentile_us(waits, nwaits, 0.50), percentile_us(waits, nwaits, 0.99),
			   nwaits ? waits[nwaits - 1] / 1000.0 : 0.0);
		for (int i = 0; i < nclients; i++)
		{
			if (minc < 0 || per_client_grants[i] < minc)
				minc = per_client_grants[i];
			if (per_client_grants[i] > maxc)
				maxc = per_client_grants[i];
		}
		printf("client_grants_min=%ld\nclient_grants_max=%ld\n", minc, maxc);
	}
	return errors > 0 ? 1 : 0;
}
