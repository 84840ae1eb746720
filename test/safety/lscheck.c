/*
 * lscheck: a Jepsen-style lock-safety checker for lockservice.
 *
 * N client processes loop over a few lock names:
 *   lock_acquire(wait) -> several writes to a register table, each in a
 *   transaction that calls fence(name, token) first -> lock_release,
 * with random hold times, some longer than the ttl.  Every operation is
 * logged (an "I" line when invoked, a "C" line when it completes) with its
 * outcome: ok, failed, or unknown (the connection broke mid-call, or the
 * client was killed).  Server times come from clock_timestamp() evaluated
 * in the same statement, just before and just after the call.
 *
 * A nemesis (this process) injects faults on a seeded schedule: SIGSTOP /
 * SIGCONT of clients for longer than the ttl, pg_terminate_backend of
 * client backends, SIGKILL of the postmaster and restart, bursts of
 * expiries (superuser UPDATE of expires_at, force_release), and forward
 * steps of the server clock (libfaketime preloaded into the server, its
 * offset file rewritten at run time).
 *
 * When the run ends, clients are SIGKILLed while holding leases, and the
 * checker verifies, from the logs and the server's final state:
 *   1  per lock name, tokens of grants strictly increase in grant order
 *      (and globally in real-time order), across restarts;
 *   2  the register never accepted a write with a token lower than one it
 *      had already accepted (per resource, in commit order);
 *   3  no two exclusive leases on a name overlapped in server time;
 *   4  no acknowledged acquire, renew, release or write was lost: across
 *      crashes (a snapshot of the lease table taken after every restart,
 *      before clients may reconnect) and during the run; the one loss
 *      allowed is a release (its transaction committed without waiting
 *      for the disk) whose lease then lasts no longer than its expiry;
 *   5  once faults stop, every lock is acquirable within
 *      ttl + reap_interval (+ a grace for scheduling noise), and a fenced
 *      write with the new token is accepted.
 * Any violation prints the history slice that shows it; the exit status is
 * 1 when a check failed, 2 on a setup error, 0 otherwise.
 *
 * Build: gcc -Wall -Wextra -Werror -O2 -o lscheck lscheck.c \
 *            -I$(pg_config --includedir) -lpq
 * Usage: lscheck --help
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_CLIENTS 256
#define MAX_NAMES 64
#define MAX_SNAPSHOTS 1024
#define MAX_NEMESIS 100000
#define MAX_PRINT 5				/* violations printed per check */

/* ------------------------------------------------------------------ */
/* options                                                             */
/* ------------------------------------------------------------------ */

static struct
{
	const char *pgdata;
	const char *host;
	int			port;
	const char *bindir;
	const char *out;
	const char *dbname;
	const char *superuser;
	int			clients;
	int			names;
	int			duration;		/* seconds of faults */
	int			ttl_ms;
	int			reap_ms;
	int			grace_ms;
	uint64_t	seed;
	bool		fence;
	bool		unsafe;			/* synchronous_commit = off, sync_grants = off */
	bool		keep_server;
	bool		initdb;
	bool		nem_on[16];		/* by NEM_* kind */
	const char *faketime_lib;
	/* an external cluster (Patroni): see usage() */
	const char *conninfo;
	const char *fault_cmd;
	char	   *client_netns[8];
	int			n_client_netns;
	int			hold_min_ms;
	int			hold_max_ms;
	int			sessions;		/* > 0: locks per client session */
}			opt;

/* ------------------------------------------------------------------ */
/* utilities                                                           */
/* ------------------------------------------------------------------ */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_us(int64_t us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int64_t run_start_mono;

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
say(const char *fmt, ...)
{
	va_list		ap;
	int64_t		t = mono_us() - run_start_mono;

	printf("[%7.2f] ", (double) t / 1e6);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void cleanup_and_exit(int code);

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
die(const char *fmt, ...)
{
	va_list		ap;

	fprintf(stderr, "lscheck: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	cleanup_and_exit(2);
	exit(2);
}

/* splitmix64: small, seedable, good enough */
typedef struct
{
	uint64_t	s;
}			Rng;

static uint64_t
rng_next(Rng *r)
{
	uint64_t	z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [lo, hi] */
static int64_t
rng_range(Rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t) (rng_next(r) % (uint64_t) (hi - lo + 1));
}

static void *
xcalloc(size_t n, size_t sz)
{
	void	   *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		die("out of memory");
	return p;
}

static void *
xrealloc(void *p, size_t sz)
{
	p = realloc(p, sz ? sz : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *
path_in_out(const char *file)
{
	char	   *p;

	if (asprintf(&p, "%s/%s", opt.out, file) < 0)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------------ */
/* shared state between the coordinator and the clients                */
/* ------------------------------------------------------------------ */

enum
{
	ST_IDLE = 0, ST_ACQUIRING, ST_HOLDING, ST_WRITING, ST_RELEASING
};

typedef struct
{
	volatile pid_t pid;
	volatile int state;
	volatile int name;
	volatile int64_t token;
}			ClientSlot;

typedef struct
{
	volatile int gate;			/* 1: do not connect (restart in progress) */
	volatile int stop;
	ClientSlot	c[MAX_CLIENTS];
}			Shared;

static Shared *shm;
static pid_t coordinator_pid;
static bool is_coordinator = true;
static volatile sig_atomic_t interrupted = 0;

/* ------------------------------------------------------------------ */
/* operation log                                                       */
/* ------------------------------------------------------------------ */

/* op types */
#define OP_ACQUIRE 'A'
#define OP_REACQUIRE 'a'		/* retry with the same holder after unknown */
#define OP_RENEW 'N'
#define OP_RELEASE 'R'
#define OP_RERELEASE 'r'		/* retry after unknown */
#define OP_WRITE 'W'

/* outcomes */
#define OUT_OK 'o'
#define OUT_FAIL 'f'
#define OUT_UNKNOWN 'u'

typedef struct
{
	int64_t		id;
	int			client;
	char		type;
	int			name;
	char		holder[32];
	int64_t		token;			/* token used, or returned by acquire */
	char		outcome;
	int64_t		result;			/* acquire: token/0; renew/release: 1/0;
								 * write: register id */
	char		sqlstate[6];
	int64_t		pre,
				post;			/* server µs, 0 when unknown */
	int64_t		t_inv,
				t_cmp;			/* monotonic µs (t_cmp 0: never completed) */
	int64_t		bound;			/* server µs before which it cannot have
								 * taken effect (prev op's post) */
}			Op;

static FILE *oplog;				/* this process's op log */
static int64_t op_seq;
static int my_client = -1;

static void
log_invoke(Op *op)
{
	op->id = (int64_t) my_client * 1000000000LL + (++op_seq);
	op->client = my_client;
	op->t_inv = mono_us();
	fprintf(oplog, "I\t%" PRId64 "\t%d\t%c\t%d\t%s\t%" PRId64 "\t%" PRId64 "\n",
			op->id, op->client, op->type, op->name, op->holder[0] ? op->holder : "-",
			op->token, op->t_inv);
	fflush(oplog);
}

static void
log_complete(Op *op)
{
	op->t_cmp = mono_us();
	fprintf(oplog, "C\t%" PRId64 "\t%c\t%" PRId64 "\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
			op->id, op->outcome, op->result, op->sqlstate[0] ? op->sqlstate : "-",
			op->pre, op->post, op->t_cmp, op->token);
	fflush(oplog);
}

/* ------------------------------------------------------------------ */
/* database helpers                                                    */
/* ------------------------------------------------------------------ */

static void
quiet_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

static PGconn *
try_connect(const char *user, const char *appname, const char *db)
{
	char		ci[1024];
	PGconn	   *c;

	if (opt.conninfo)
		snprintf(ci, sizeof ci, "%s dbname=%s user=%s application_name=%s",
				 opt.conninfo, db, user, appname);
	else
		snprintf(ci, sizeof ci,
				 "host=%s port=%d dbname=%s user=%s application_name=%s connect_timeout=10",
				 opt.host, opt.port, db, user, appname);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

static const char *
state_of(PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

/* run SQL on the admin connection; die on error */
static PGresult *
exec_ok(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		die("%s: %s", sql, PQerrorMessage(c));
	return r;
}

/* ------------------------------------------------------------------ */
/* the server                                                          */
/* ------------------------------------------------------------------ */

static char *faketime_file;
static int64_t clock_offset_s;	/* current faketime offset */
static int64_t clock_ahead_us;	/* measured at the end */
static bool clock_enabled;

static void
write_offset_file(int64_t off)
{
	char	   *tmp;
	FILE	   *f;

	if (asprintf(&tmp, "%s.tmp", faketime_file) < 0)
		die("out of memory");
	f = fopen(tmp, "w");
	if (!f)
		die("cannot write %s: %s", tmp, strerror(errno));
	fprintf(f, "%+" PRId64 "\n", off);
	fclose(f);
	/* atomic: a server process reads either the old or the new offset */
	if (rename(tmp, faketime_file) != 0)
		die("rename %s: %s", tmp, strerror(errno));
	free(tmp);
}

/* run pg_ctl ACTION (with the faketime environment when enabled) */
static int
pg_ctl(const char *action, const char *mode)
{
	pid_t		pid;
	int			st;
	char	   *pgctl, *srvlog, *ctllog;

	if (asprintf(&pgctl, "%s/pg_ctl", opt.bindir) < 0)
		die("out of memory");
	srvlog = path_in_out("server.log");
	ctllog = path_in_out("pg_ctl.log");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
	{
		int			fd = open(ctllog, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0)
		{
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (clock_enabled && strcmp(action, "start") == 0)
		{
			const char *old = getenv("LD_PRELOAD");
			char	   *pre;

			if (asprintf(&pre, "%s%s%s", opt.faketime_lib, old && *old ? " " : "",
						 old ? old : "") < 0)
				_exit(127);
			setenv("LD_PRELOAD", pre, 1);
			setenv("FAKETIME_TIMESTAMP_FILE", faketime_file, 1);
			setenv("FAKETIME_NO_CACHE", "1", 1);
			setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
			unsetenv("FAKETIME");
		}
		if (mode)
			execl(pgctl, "pg_ctl", "-D", opt.pgdata, "-l", srvlog, "-w", "-t", "120",
				  "-m", mode, action, (char *) NULL);
		else
			execl(pgctl, "pg_ctl", "-D", opt.pgdata, "-l", srvlog, "-w", "-t", "120",
				  action, (char *) NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	free(pgctl);
	free(srvlog);
	free(ctllog);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static pid_t
postmaster_pid(void)
{
	char	   *p;
	FILE	   *f;
	long		pid = 0;

	if (asprintf(&p, "%s/postmaster.pid", opt.pgdata) < 0)
		die("out of memory");
	f = fopen(p, "r");
	free(p);
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t) pid;
}

/* true while pid exists and is not a zombie */
static bool
process_alive(pid_t pid)
{
	char		p[64], buf[512];
	FILE	   *f;
	char	   *rp;

	snprintf(p, sizeof p, "/proc/%d/stat", (int) pid);
	f = fopen(p, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof buf, f))
	{
		fclose(f);
		return false;
	}
	fclose(f);
	rp = strrchr(buf, ')');
	if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
		return false;
	return true;
}

static bool server_running = false;
static pid_t child_pid[MAX_CLIENTS];

/*
 * This process is a child subreaper: the postmaster (orphaned by pg_ctl)
 * and, after a crash, its children become ours.  Reap every exited child
 * but the clients, so that no zombie postmaster keeps a restart waiting
 * ("lock file postmaster.pid already exists").
 */
static void
reap_zombies(void)
{
	pid_t		pid;
	int			st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (child_pid[i] == pid)
			{
				printf("NOTE: client %d exited unexpectedly (status %d)\n", i, st);
				child_pid[i] = 0;
			}
}

static void
server_start(void)
{
	int64_t		deadline = mono_us() + 180 * 1000000LL;

	for (;;)
	{
		if (pg_ctl("start", NULL) == 0)
		{
			server_running = true;
			return;
		}
		/* old backends may still hold the shared memory: retry */
		reap_zombies();
		if (mono_us() > deadline)
			die("could not start the server (see %s/server.log, pg_ctl.log)", opt.out);
		sleep_us(300000);
	}
}

static void
server_stop(void)
{
	if (postmaster_pid() > 0)
		pg_ctl("stop", "fast");
	server_running = false;
}

/* ------------------------------------------------------------------ */
/* the client process                                                  */
/* ------------------------------------------------------------------ */

static PGconn *cconn;
static Rng	crng;
static int64_t last_post;		/* server µs of this client's last completed
								 * op */

static void
client_disconnect(void)
{
	if (cconn)
		PQfinish(cconn);
	cconn = NULL;
}

static void
client_connect(void)
{
	char		app[32];

	snprintf(app, sizeof app, "lsc-%d", my_client);
	while (!cconn && !shm->stop)
	{
		PGresult   *r;

		if (shm->gate)
		{
			sleep_us(20000);
			continue;
		}
		cconn = try_connect("lscheck_client", app, opt.dbname);
		if (!cconn)
		{
			sleep_us(rng_range(&crng, 50000, 200000));
			continue;
		}
		/* a restart began while we connected: wait for the snapshot */
		if (shm->gate)
		{
			client_disconnect();
			continue;
		}
		r = PQexec(cconn, "SET statement_timeout = '120s'");
		PQclear(r);
	}
}

static const char *
name_str(int n)
{
	static char buf[MAX_NAMES][16];

	if (!buf[n][0])
		snprintf(buf[n], sizeof buf[n], "lock-%d", n);
	return buf[n];
}

/*
 * Classify a failed call: connection gone -> unknown (and disconnect),
 * else failed.
 */
static char
classify_failure(PGresult *r, Op *op)
{
	snprintf(op->sqlstate, sizeof op->sqlstate, "%s", state_of(r));
	if (PQstatus(cconn) != CONNECTION_OK || op->sqlstate[0] == '\0' ||
		strncmp(op->sqlstate, "08", 2) == 0 || strcmp(op->sqlstate, "57P01") == 0 ||
		strcmp(op->sqlstate, "57P02") == 0 || strcmp(op->sqlstate, "57P03") == 0)
	{
		client_disconnect();
		return OUT_UNKNOWN;
	}
	return OUT_FAIL;
}

/* a lease call: SELECT clock, f(...), clock  (autocommit) */
static void
lease_call(Op *op, const char *sql, int nparams, const char *const *params)
{
	PGresult   *r;

	op->bound = last_post;
	log_invoke(op);
	r = PQexecParams(cconn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
	{
		op->outcome = OUT_OK;
		op->pre = atoll(PQgetvalue(r, 0, 0));
		op->post = atoll(PQgetvalue(r, 0, 2));
		if (PQgetisnull(r, 0, 1))
			op->result = 0;
		else if (op->type == OP_ACQUIRE || op->type == OP_REACQUIRE)
			op->result = atoll(PQgetvalue(r, 0, 1));
		else
			op->result = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
		if (op->type == OP_ACQUIRE || op->type == OP_REACQUIRE)
			op->token = op->result;
		last_post = op->post;
	}
	else
		op->outcome = classify_failure(r, op);
	PQclear(r);
	log_complete(op);
}

#define CLK "(extract(epoch from pg_catalog.clock_timestamp())*1000000)::int8"

static void
do_acquire(Op *op, int name, const char *holder, int wait_ms, char type)
{
	char		ttl[32], wait[32];
	const char *p[4];

	memset(op, 0, sizeof *op);
	op->type = type;
	op->name = name;
	snprintf(op->holder, sizeof op->holder, "%s", holder);
	snprintf(ttl, sizeof ttl, "%d ms", opt.ttl_ms);
	snprintf(wait, sizeof wait, "%d ms", wait_ms);
	p[0] = name_str(name);
	p[1] = holder;
	p[2] = ttl;
	p[3] = wait;
	lease_call(op, "SELECT " CLK ", lockservice.lock_acquire($1, $2, $3::interval, $4::interval), " CLK,
			   4, p);
}

static void
do_renew(Op *op, int name, int64_t token)
{
	char		tok[32];
	const char *p[2];

	memset(op, 0, sizeof *op);
	op->type = OP_RENEW;
	op->name = name;
	op->token = token;
	snprintf(tok, sizeof tok, "%" PRId64, token);
	p[0] = name_str(name);
	p[1] = tok;
	lease_call(op, "SELECT " CLK ", lockservice.lock_renew($1, $2::int8), " CLK, 2, p);
}

static void
do_release(Op *op, int name, int64_t token, char type)
{
	char		tok[32];
	const char *p[2];

	memset(op, 0, sizeof *op);
	op->type = type;
	op->name = name;
	op->token = token;
	snprintf(tok, sizeof tok, "%" PRId64, token);
	p[0] = name_str(name);
	p[1] = tok;
	lease_call(op, "SELECT " CLK ", lockservice.lock_release($1, $2::int8), " CLK, 2, p);
}

/*
 * A write: BEGIN; [SELECT fence(name, token)]; INSERT into the register;
 * COMMIT.  A broken connection before COMMIT was sent means the
 * transaction cannot have committed (failed); during COMMIT, unknown.
 */
static void
do_write(Op *op, int name, int64_t token)
{
	char		tok[32], opid[32];
	const char *p[3];
	PGresult   *r;

	memset(op, 0, sizeof *op);
	op->type = OP_WRITE;
	op->name = name;
	op->token = token;
	op->bound = last_post;
	log_invoke(op);
	snprintf(tok, sizeof tok, "%" PRId64, token);
	snprintf(opid, sizeof opid, "%" PRId64, op->id);
	p[0] = name_str(name);
	p[1] = tok;
	p[2] = opid;

	r = PQexec(cconn, "BEGIN");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto failed_before_commit;
	PQclear(r);
	if (opt.fence)
		r = PQexecParams(cconn, "SELECT " CLK ", lockservice.fence($1, $2::int8)", 2, NULL, p,
						 NULL, NULL, 0);
	else
		r = PQexec(cconn, "SELECT " CLK);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto failed_before_commit;
	op->pre = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexecParams(cconn,
					 "INSERT INTO lscheck_register (resource, token, op_id) VALUES ($1, $2::int8, $3::int8) "
					 "RETURNING id, " CLK, 3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto failed_before_commit;
	op->result = atoll(PQgetvalue(r, 0, 0));
	op->post = atoll(PQgetvalue(r, 0, 1));
	PQclear(r);
	r = PQexec(cconn, "COMMIT");
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
	{
		op->outcome = OUT_OK;
		last_post = op->post;
	}
	else
	{
		op->outcome = classify_failure(r, op);
		op->post = 0;
	}
	PQclear(r);
	log_complete(op);
	return;

failed_before_commit:
	snprintf(op->sqlstate, sizeof op->sqlstate, "%s", state_of(r));
	PQclear(r);
	op->outcome = OUT_FAIL;		/* COMMIT never sent: cannot have committed */
	op->post = 0;
	if (PQstatus(cconn) != CONNECTION_OK)
		client_disconnect();
	else
	{
		r = PQexec(cconn, "ROLLBACK");
		PQclear(r);
		if (PQstatus(cconn) != CONNECTION_OK)
			client_disconnect();
	}
	log_complete(op);
}

static void
set_state(int st, int name, int64_t token)
{
	shm->c[my_client].state = st;
	shm->c[my_client].name = name;
	shm->c[my_client].token = token;
}

/*
 * Session mode (--sessions K): a client opens a session, takes K names in
 * it all or nothing (lock_acquire_all), writes under each lock's token,
 * renews the session (not the locks), and releases the locks one by one or
 * closes the session.  The history records what each call meant for each
 * lock: an acquire per name, and -- since a lock's expiry is its session's
 * -- a renewal of every lock held at the session's open or renewal time
 * (the open's or renewal's own pre and invocation time), so the checks need
 * not know about sessions.
 */

/* one session call whose meaning is logged per lock: ops[0..n) */
static PGresult *
session_call(Op *ops, int n, const char *sql, int nparams, const char *const *params)
{
	PGresult   *r;

	for (int i = 0; i < n; i++)
	{
		ops[i].bound = last_post;
		log_invoke(&ops[i]);
	}
	r = PQexecParams(cconn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
	{
		int64_t		pre = atoll(PQgetvalue(r, 0, 0));
		int64_t		post = atoll(PQgetvalue(r, 0, 2));

		for (int i = 0; i < n; i++)
		{
			ops[i].outcome = OUT_OK;
			ops[i].pre = pre;
			ops[i].post = post;
		}
		last_post = post;
	}
	else
	{
		char		outcome = classify_failure(r, &ops[0]);

		for (int i = 0; i < n; i++)
		{
			ops[i].outcome = outcome;
			memcpy(ops[i].sqlstate, ops[0].sqlstate, sizeof ops[i].sqlstate);
		}
	}
	return r;
}

/*
 * Log that lock (name, token) lives until at least pre + ttl: a renewal,
 * invoked when the session's open or renewal was (t_inv; its pre), known
 * to the client from now on.
 */
static void
log_session_extends(int name, int64_t token, int64_t pre, int64_t t_inv)
{
	int64_t		id = (int64_t) my_client * 1000000000LL + (++op_seq);

	fprintf(oplog, "I\t%" PRId64 "\t%d\t%c\t%d\t-\t%" PRId64 "\t%" PRId64 "\n",
			id, my_client, OP_RENEW, name, token, t_inv);
	fprintf(oplog, "C\t%" PRId64 "\t%c\t1\t-\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
			id, OUT_OK, pre, pre, mono_us(), token);
	fflush(oplog);
}

static void
client_session_loop(int id)
{
	int64_t		seq = 0;
	int			ttl = opt.ttl_ms;
	int			k = opt.sessions < opt.names ? opt.sessions : opt.names;

	while (!shm->stop)
	{
		Op			ops[MAX_NAMES];
		int			names[MAX_NAMES];
		int64_t		tokens[MAX_NAMES];
		char		holder[32], ttl_s[32], wait_s[32], sess_s[32], arr[MAX_NAMES * 16 + 4];
		const char *p[3];
		PGresult   *r;
		int64_t		session, base_pre, base_inv, last_extend;
		int			nwrites;
		bool		careless, lost = false, granted = false;

		client_connect();
		if (shm->stop)
			break;
		snprintf(holder, sizeof holder, "c%d-s%" PRId64, id, ++seq);
		snprintf(ttl_s, sizeof ttl_s, "%d ms", ttl);

		/* open the session (not logged: it grants nothing by itself) */
		p[0] = holder;
		p[1] = ttl_s;
		base_inv = mono_us();
		r = PQexecParams(cconn, "SELECT " CLK ", lockservice.session_open($1, $2::interval), " CLK,
						 2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		{
			Op			dummy;

			memset(&dummy, 0, sizeof dummy);
			(void) classify_failure(r, &dummy);
			PQclear(r);
			sleep_us(rng_range(&crng, 0, 50000));
			continue;
		}
		base_pre = atoll(PQgetvalue(r, 0, 0));
		session = atoll(PQgetvalue(r, 0, 1));
		last_post = atoll(PQgetvalue(r, 0, 2));
		PQclear(r);
		snprintf(sess_s, sizeof sess_s, "%" PRId64, session);

		/* k distinct names, all or nothing */
		for (int i = 0; i < k; i++)
		{
			bool		dup;

			do
			{
				names[i] = (int) rng_range(&crng, 0, opt.names - 1);
				dup = false;
				for (int j = 0; j < i; j++)
					dup = dup || names[j] == names[i];
			} while (dup);
		}
		arr[0] = '{';
		arr[1] = '\0';
		for (int i = 0; i < k; i++)
		{
			strcat(arr, name_str(names[i]));
			strcat(arr, i + 1 < k ? "," : "}");
		}
		set_state(ST_ACQUIRING, names[0], 0);
		for (int attempt = 0; attempt < 2 && !granted && !shm->stop; attempt++)
		{
			char		type = attempt == 0 ? OP_ACQUIRE : OP_REACQUIRE;

			/* a wait shorter than the session's ttl: nothing renews it meanwhile */
			snprintf(wait_s, sizeof wait_s, "%d ms",
					 attempt == 0 ? (int) rng_range(&crng, ttl / 8, ttl / 2) : 0);
			for (int i = 0; i < k; i++)
			{
				memset(&ops[i], 0, sizeof ops[i]);
				ops[i].type = type;
				ops[i].name = names[i];
				snprintf(ops[i].holder, sizeof ops[i].holder, "%s", holder);
			}
			if (attempt > 0)
				client_connect();
			p[0] = arr;
			p[1] = sess_s;
			p[2] = wait_s;
			r = session_call(ops, k, "SELECT " CLK ", lockservice.lock_acquire_all($1::text[], $2::int8, $3::interval)::text, " CLK,
							 3, p);
			if (ops[0].outcome == OUT_OK && !PQgetisnull(r, 0, 1))
			{
				/* "{t1,t2,...}" in the order of the names given */
				char	   *c = PQgetvalue(r, 0, 1) + 1;

				for (int i = 0; i < k; i++)
				{
					tokens[i] = strtoll(c, &c, 10);
					c++;
					ops[i].result = ops[i].token = tokens[i];
				}
				granted = true;
			}
			PQclear(r);
			for (int i = 0; i < k; i++)
				log_complete(&ops[i]);
			if (ops[0].outcome != OUT_UNKNOWN)
				break;			/* retried (same session: same tokens) only when unknown */
		}
		if (!granted)
		{
			set_state(ST_IDLE, -1, 0);
			if (cconn)
			{
				p[0] = sess_s;
				PQclear(PQexecParams(cconn, "SELECT lockservice.session_close($1::int8)", 1, NULL, p,
									 NULL, NULL, 0));
			}
			sleep_us(rng_range(&crng, 0, 50000));
			continue;
		}
		/* each lock lives as long as the session: from its open on */
		for (int i = 0; i < k; i++)
			log_session_extends(names[i], tokens[i], base_pre, base_inv);
		last_extend = base_inv;
		set_state(ST_HOLDING, names[0], tokens[0]);

		nwrites = (int) rng_range(&crng, 1, 2 * k);
		careless = rng_range(&crng, 0, 4) == 0;
		for (int w = 0; w < nwrites && !shm->stop && !lost; w++)
		{
			int			i = (int) rng_range(&crng, 0, k - 1);
			Op			op;

			if (careless)
				sleep_us(rng_range(&crng, ttl * 300LL, ttl * 900LL));
			else
				sleep_us(rng_range(&crng, 0, ttl * 150LL));
			if (!cconn)
				client_connect();
			if (!careless && mono_us() - last_extend > ttl * 300LL)
			{
				/* one renewal of the session renews every lock in it */
				for (int j = 0; j < k; j++)
				{
					memset(&ops[j], 0, sizeof ops[j]);
					ops[j].type = OP_RENEW;
					ops[j].name = names[j];
					ops[j].token = tokens[j];
				}
				p[0] = sess_s;
				r = session_call(ops, k, "SELECT " CLK ", lockservice.session_renew($1::int8), " CLK,
								 1, p);
				for (int j = 0; j < k; j++)
				{
					if (ops[j].outcome == OUT_OK)
						ops[j].result = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
					log_complete(&ops[j]);
				}
				PQclear(r);
				if (ops[0].outcome == OUT_OK && ops[0].result == 0)
					lost = true;	/* the session ended: every lock is lost */
				if (ops[0].outcome == OUT_OK)
					last_extend = ops[0].t_inv;
				if (lost)
					break;
				if (!cconn)
					client_connect();
			}
			set_state(ST_WRITING, names[i], tokens[i]);
			do_write(&op, names[i], tokens[i]);
			set_state(ST_HOLDING, names[0], tokens[0]);
			if (op.outcome != OUT_OK)
				break;			/* fenced out, or the connection broke */
		}
		set_state(ST_RELEASING, names[0], tokens[0]);
		if (!cconn)
			client_connect();
		if (shm->stop)
			break;
		if (rng_range(&crng, 0, 1) == 0)
		{
			/* one by one, then the session */
			for (int i = 0; i < k && !shm->stop; i++)
			{
				Op			op;

				do_release(&op, names[i], tokens[i], OP_RELEASE);
				if (op.outcome == OUT_UNKNOWN)
				{
					client_connect();
					if (shm->stop)
						break;
					do_release(&op, names[i], tokens[i], OP_RERELEASE);
				}
			}
			if (cconn)
			{
				p[0] = sess_s;
				PQclear(PQexecParams(cconn, "SELECT lockservice.session_close($1::int8)", 1, NULL, p,
									 NULL, NULL, 0));
			}
		}
		else
		{
			/* closing the session releases every lock in it */
			for (int attempt = 0; attempt < 2 && !shm->stop; attempt++)
			{
				for (int j = 0; j < k; j++)
				{
					memset(&ops[j], 0, sizeof ops[j]);
					ops[j].type = attempt == 0 ? OP_RELEASE : OP_RERELEASE;
					ops[j].name = names[j];
					ops[j].token = tokens[j];
				}
				if (attempt > 0)
					client_connect();
				p[0] = sess_s;
				r = session_call(ops, k, "SELECT " CLK ", lockservice.session_close($1::int8), " CLK,
								 1, p);
				for (int j = 0; j < k; j++)
				{
					if (ops[j].outcome == OUT_OK)
						ops[j].result = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
					log_complete(&ops[j]);
				}
				PQclear(r);
				if (ops[0].outcome != OUT_UNKNOWN)
					break;
			}
		}
		set_state(ST_IDLE, -1, 0);
	}
}

static void
client_main(int id)
{
	char	   *path, fname[64];
	int64_t		seq = 0;
	int			ttl = opt.ttl_ms;

	my_client = id;
	is_coordinator = false;
	crng.s = opt.seed * 1000003ULL + (uint64_t) id * 7919ULL + 1;
	snprintf(fname, sizeof fname, "client-%02d.log", id);
	path = path_in_out(fname);
	oplog = fopen(path, "w");
	if (!oplog)
		_exit(2);
	free(path);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	if (opt.n_client_netns > 0)
	{
		/* this client's network: a namespace of the external cluster's */
		const char *ns = opt.client_netns[id % opt.n_client_netns];
		char		nspath[PATH_MAX];
		int			fd;

		snprintf(nspath, sizeof nspath, "%s%s", ns[0] == '/' ? "" : "/var/run/netns/", ns);
		fd = open(nspath, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
		{
			fprintf(stderr, "lscheck: client %d: cannot enter network namespace %s: %s\n", id,
					nspath, strerror(errno));
			_exit(2);
		}
		close(fd);
	}

	if (opt.sessions > 0)
		client_session_loop(id);
	while (!shm->stop)
	{
		Op			op;
		char		holder[32];
		int			name = (int) rng_range(&crng, 0, opt.names - 1);
		int64_t		token, last_extend;
		int			nwrites, w;
		bool		careless;

		client_connect();
		if (shm->stop)
			break;
		snprintf(holder, sizeof holder, "c%d-%" PRId64, id, ++seq);
		set_state(ST_ACQUIRING, name, 0);
		do_acquire(&op, name, holder, (int) rng_range(&crng, ttl / 4, 2 * ttl), OP_ACQUIRE);
		if (op.outcome == OUT_UNKNOWN)
		{
			/* the idempotent retry: same holder, no wait */
			client_connect();
			if (shm->stop)
				break;
			do_acquire(&op, name, holder, 0, OP_REACQUIRE);
		}
		if (op.outcome != OUT_OK || op.token == 0)
		{
			set_state(ST_IDLE, -1, 0);
			sleep_us(rng_range(&crng, 0, 50000));
			continue;
		}
		token = op.token;
		last_extend = mono_us();
		set_state(ST_HOLDING, name, token);

		nwrites = (int) rng_range(&crng, 1, 4);
		/* one hold in five runs past the ttl without renewing */
		careless = rng_range(&crng, 0, 4) == 0;
		for (w = 0; w < nwrites && !shm->stop; w++)
		{
			if (careless)
				sleep_us(rng_range(&crng, ttl * 300LL, ttl * 900LL));
			else
				sleep_us(rng_range(&crng, 0, ttl * 150LL));
			if (!cconn)
				client_connect();
			if (!careless && mono_us() - last_extend > ttl * 300LL)
			{
				do_renew(&op, name, token);
				if (op.outcome == OUT_OK && op.result == 0)
					break;		/* lease lost: stop writing */
				if (op.outcome == OUT_OK)
					last_extend = op.t_inv;
				if (!cconn)
					client_connect();
			}
			set_state(ST_WRITING, name, token);
			do_write(&op, name, token);
			set_state(ST_HOLDING, name, token);
			if (op.outcome != OUT_OK)
				break;			/* fenced out, or the connection broke */
		}
		set_state(ST_RELEASING, name, token);
		if (!cconn)
			client_connect();
		if (shm->stop)
			break;
		do_release(&op, name, token, OP_RELEASE);
		if (op.outcome == OUT_UNKNOWN)
		{
			client_connect();
			if (shm->stop)
				break;
			do_release(&op, name, token, OP_RERELEASE);
		}
		set_state(ST_IDLE, -1, 0);
	}
	fclose(oplog);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* nemesis                                                             */
/* ------------------------------------------------------------------ */

enum
{
	NEM_PAUSE, NEM_TERMINATE, NEM_KILL, NEM_EXPIRE, NEM_CLOCK,
	/* an external cluster's faults, applied by --fault-cmd */
	NEM_PARTITION, NEM_PARTITION_DCS, NEM_PARTITION_REPLICAS, NEM_PARTITION_CLIENTS,
	NEM_SWITCHOVER, NEM_FAILOVER, NEM_KILL_PRIMARY, NEM_STOP_PATRONI,
	NEM_N
};
#define NEM_FIRST_HA NEM_PARTITION
static const char *nem_names[NEM_N] = {"pause", "terminate", "kill", "expire", "clock",
	"partition", "partition-dcs", "partition-replicas", "partition-clients",
	"switchover", "failover", "kill-primary", "stop-patroni"};

/* forced ends of leases (expiry bursts), for checks 3 and 4 */
typedef struct
{
	int			name;
	int64_t		pre,
				post;			/* server µs */
	int64_t		t_inv,
				t_cmp;
	char		how;			/* 'U' update, 'F' force_release */
}			ForcedEnd;

typedef struct
{
	int			kind;
	int64_t		t_inv,
				t_cmp;
	char		detail[256];
}			NemEvent;

/* a fault of an external cluster, for the report of what clients saw */
typedef struct
{
	int			kind;
	int64_t		t_inv;			/* the nemesis started it (monotonic µs) */
	int64_t		t_fault;		/* --fault-cmd returned: the fault is in effect */
	int64_t		t_primary;		/* a writable primary found (0: none until healed) */
	int64_t		t_heal;			/* healing began */
	int64_t		t_cmp;			/* healthy again */
}			HaEvent;

static HaEvent *haev;
static int	nhaev;

typedef struct
{
	int			name;
	bool		present;
	int64_t		token;
	int64_t		expires;
	bool		released;
}			SnapRow;

typedef struct
{
	int64_t		t_mono;			/* ops that completed before this are
								 * acknowledged before the crash */
	int64_t		server_now;
	SnapRow		rows[MAX_NAMES];
}			Snapshot;

static ForcedEnd *forced;
static int	nforced, cap_forced;
static NemEvent *nemev;
static int	nnemev;
static Snapshot *snaps;
static int	nsnaps;
static int	nem_count[NEM_N];
static FILE *nemlog;
static PGconn *admin;
static Rng	nrng;

static void
admin_connect(void)
{
	int64_t		deadline = mono_us() + 120 * 1000000LL;

	if (admin && PQstatus(admin) == CONNECTION_OK)
		return;
	if (admin)
		PQfinish(admin);
	admin = NULL;
	while (!admin)
	{
		admin = try_connect(opt.superuser, "lscheck-nemesis", opt.dbname);
		if (admin)
			break;
		if (mono_us() > deadline)
			die("cannot connect to the server as %s", opt.superuser);
		sleep_us(100000);
	}
}

/* run a query on the admin connection, reconnecting once when it broke */
static PGresult *
admin_exec(const char *sql)
{
	for (int attempt = 0;; attempt++)
	{
		PGresult   *r;

		admin_connect();
		r = PQexec(admin, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
			return r;
		if (PQstatus(admin) == CONNECTION_OK || attempt >= 3)
			die("%s: %s", sql, PQerrorMessage(admin));
		PQclear(r);
	}
}

static int64_t
server_now(void)
{
	PGresult   *r = admin_exec("SELECT " CLK);
	int64_t		v = atoll(PQgetvalue(r, 0, 0));

	PQclear(r);
	return v;
}

static void
nem_log(int kind, int64_t t_inv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
nem_log(int kind, int64_t t_inv, const char *fmt, ...)
{
	va_list		ap;
	NemEvent   *e;

	if (nnemev >= MAX_NEMESIS)
		return;
	e = &nemev[nnemev++];
	e->kind = kind;
	e->t_inv = t_inv;
	e->t_cmp = mono_us();
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof e->detail, fmt, ap);
	va_end(ap);
	nem_count[kind]++;
	fprintf(nemlog, "%s\t%" PRId64 "\t%" PRId64 "\t%s\n", nem_names[kind], e->t_inv, e->t_cmp,
			e->detail);
	fflush(nemlog);
	say("nemesis %s: %s", nem_names[kind], e->detail);
}

static void
add_forced(int name, int64_t pre, int64_t post, int64_t t_inv, char how)
{
	ForcedEnd  *f;

	if (nforced >= cap_forced)
	{
		cap_forced = cap_forced ? cap_forced * 2 : 64;
		forced = xrealloc(forced, sizeof(ForcedEnd) * (size_t) cap_forced);
	}
	f = &forced[nforced++];
	f->name = name;
	f->pre = pre;
	f->post = post;
	f->t_inv = t_inv;
	f->t_cmp = mono_us();
	f->how = how;
	fprintf(nemlog, "forced\t%c\t%d\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
			how, name, pre, post, f->t_inv, f->t_cmp);
	fflush(nemlog);
}

static bool
sleep_checked(int64_t us)
{
	int64_t		end = mono_us() + us;

	while (mono_us() < end)
	{
		if (interrupted)
			return false;
		sleep_us(end - mono_us() > 100000 ? 100000 : end - mono_us());
		reap_zombies();
	}
	return true;
}

static void
nem_pause(void)
{
	int			cand[MAX_CLIENTS], n = 0, k, chosen[3], nchosen = 0;
	int64_t		t_inv = mono_us();
	int64_t		dur = rng_range(&nrng, opt.ttl_ms * 1500LL, opt.ttl_ms * 3000LL);
	char		who[128] = "";

	/* prefer clients that hold a lease (the GC pause that matters) */
	for (int i = 0; i < opt.clients; i++)
		if (shm->c[i].state == ST_HOLDING || shm->c[i].state == ST_WRITING)
			cand[n++] = i;
	if (n == 0)
		for (int i = 0; i < opt.clients; i++)
			cand[n++] = i;
	k = (int) rng_range(&nrng, 1, opt.clients >= 4 ? 2 : 1);
	for (int j = 0; j < k && n > 0; j++)
	{
		int			pick = (int) rng_range(&nrng, 0, n - 1);

		chosen[nchosen++] = cand[pick];
		cand[pick] = cand[--n];
	}
	for (int j = 0; j < nchosen; j++)
	{
		if (child_pid[chosen[j]] <= 0)
			continue;
		kill(child_pid[chosen[j]], SIGSTOP);
		snprintf(who + strlen(who), sizeof who - strlen(who), "%sc%d(%s)", j ? "," : "",
				 chosen[j], shm->c[chosen[j]].state >= ST_HOLDING ? "holding" : "idle");
	}
	sleep_checked(dur);
	for (int j = 0; j < nchosen; j++)
		if (child_pid[chosen[j]] > 0)
			kill(child_pid[chosen[j]], SIGCONT);
	nem_log(NEM_PAUSE, t_inv, "SIGSTOP %s for %.2f s", who, (double) dur / 1e6);
}

static void
nem_terminate(void)
{
	int64_t		t_inv = mono_us();
	int			k = (int) rng_range(&nrng, 1, 3);
	char		sql[256];
	PGresult   *r;

	snprintf(sql, sizeof sql,
			 "SELECT string_agg(application_name, ',') FROM (SELECT application_name, "
			 "pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lsc-%%' "
			 "ORDER BY random() LIMIT %d) s", k);
	r = admin_exec(sql);
	nem_log(NEM_TERMINATE, t_inv, "pg_terminate_backend of %s",
			PQgetisnull(r, 0, 0) ? "(none)" : PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void
take_snapshot(int64_t t_mono)
{
	Snapshot   *s;
	PGresult   *r;

	if (nsnaps >= MAX_SNAPSHOTS)
		return;
	s = &snaps[nsnaps];
	memset(s, 0, sizeof *s);
	s->t_mono = t_mono;
	if (opt.sessions > 0)
		r = admin_exec("SELECT l.name, l.token, (extract(epoch from CASE WHEN l.session IS NULL "
					   "THEN l.expires_at ELSE coalesce(s.expires_at, l.granted_at) END)*1000000)::int8, "
					   "l.released_at IS NOT NULL, " CLK " FROM lockservice.leases l "
					   "LEFT JOIN lockservice.sessions s ON s.id = l.session "
					   "WHERE l.slot = 0 AND l.name LIKE 'lock-%'");
	else
		r = admin_exec("SELECT name, token, (extract(epoch from expires_at)*1000000)::int8, "
					   "released_at IS NOT NULL, " CLK " FROM lockservice.leases "
					   "WHERE slot = 0 AND name LIKE 'lock-%'");
	s->server_now = server_now();
	for (int i = 0; i < PQntuples(r); i++)
	{
		int			n = atoi(PQgetvalue(r, i, 0) + 5);

		if (n < 0 || n >= opt.names)
			continue;
		s->rows[n].present = true;
		s->rows[n].token = atoll(PQgetvalue(r, i, 1));
		s->rows[n].expires = atoll(PQgetvalue(r, i, 2));
		s->rows[n].released = strcmp(PQgetvalue(r, i, 3), "t") == 0;
	}
	PQclear(r);
	for (int n = 0; n < opt.names; n++)
		fprintf(nemlog, "snapshot\t%d\t%" PRId64 "\t%" PRId64 "\t%d\t%d\t%" PRId64 "\t%" PRId64 "\t%d\n",
				nsnaps, s->t_mono, s->server_now, n, s->rows[n].present, s->rows[n].token,
				s->rows[n].expires, s->rows[n].released);
	nsnaps++;
}

/*
 * The reap interval in effect.  lockservice 1.0 drops a
 * lockservice.reap_interval set in postgresql.conf while the preloaded
 * library loads (server log: invalid configuration parameter name
 * "lockservice.reap_interval", removing it); a reload applies it.
 */
static int	reap_note_printed = 0;

static void
ensure_reap_interval(void)
{
	PGresult   *r;
	char		want[32];

	snprintf(want, sizeof want, "%dms", opt.reap_ms);
	for (int tries = 0; tries < 50; tries++)
	{
		bool		same;

		r = admin_exec("SELECT current_setting('lockservice.reap_interval', true), "
					   "(SELECT setting FROM pg_settings WHERE name = 'lockservice.reap_interval')");
		same = !PQgetisnull(r, 0, 1) && atoi(PQgetvalue(r, 0, 1)) == opt.reap_ms;
		if (!same && !reap_note_printed++)
			printf("NOTE: lockservice.reap_interval from the configuration file is not in effect after "
				   "start (shows %s, configured %s): reloading (lockservice before commit fa20b2e dropped it at start)\n",
				   PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0), want);
		PQclear(r);
		if (same)
			return;
		PQclear(admin_exec("SELECT pg_reload_conf()"));
		sleep_us(100000);
		PQfinish(admin);
		admin = NULL;
	}
	printf("NOTE: lockservice.reap_interval still not %s after reloads\n", want);
}

static void
nem_kill(void)
{
	int64_t		t_inv = mono_us(), t_dead, t_up, t_snap;
	pid_t		pm = postmaster_pid();
	int64_t		deadline;

	if (pm <= 0)
		die("no postmaster.pid in %s", opt.pgdata);
	shm->gate = 1;
	if (admin)
		PQfinish(admin);
	admin = NULL;
	kill(pm, SIGKILL);
	deadline = mono_us() + 60 * 1000000LL;
	while (reap_zombies(), process_alive(pm))
	{
		if (mono_us() > deadline)
			die("postmaster %d did not die", (int) pm);
		sleep_us(20000);
	}
	t_dead = mono_us();
	server_start();
	t_up = mono_us();
	/* before any client may reconnect: what survived the crash */
	t_snap = mono_us();
	take_snapshot(t_snap);
	shm->gate = 0;
	ensure_reap_interval();
	nem_log(NEM_KILL, t_inv, "SIGKILL postmaster %d, restarted in %.2f s, snapshot %d",
			(int) pm, (double) (t_up - t_dead) / 1e6, nsnaps - 1);
}

static void
nem_expire(void)
{
	int64_t		t_inv = mono_us();
	PGresult   *r;
	char		detail[200] = "";

	if (rng_range(&nrng, 0, 1) == 0)
	{
		int64_t		now;

		/* superuser UPDATE: every live exclusive lease ends "now" */
		admin_exec("BEGIN");
		r = admin_exec("SELECT (extract(epoch from now())*1000000)::int8");
		now = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		/* in session mode the locks end with their sessions */
		if (opt.sessions > 0)
			PQclear(admin_exec("UPDATE lockservice.sessions SET expires_at = now() "
							   "WHERE expires_at > now()"));
		r = admin_exec("UPDATE lockservice.leases SET expires_at = now() "
					   "WHERE slot = 0 AND name LIKE 'lock-%' AND released_at IS NULL "
					   "AND owner <> 0 AND expires_at > now() RETURNING name, token");
		PQclear(admin_exec("COMMIT"));
		for (int n = 0; n < opt.names; n++)
			add_forced(n, now, server_now(), t_inv, 'U');
		snprintf(detail, sizeof detail, "UPDATE leases SET expires_at = now(): %d live leases",
				 PQntuples(r));
		PQclear(r);
	}
	else
	{
		int			k = (int) rng_range(&nrng, 1, opt.names);
		int			ended = 0;

		for (int j = 0; j < k; j++)
		{
			int			n = (int) rng_range(&nrng, 0, opt.names - 1);
			char		sql[1400];
			int64_t		pre, post;

			snprintf(sql, sizeof sql, "SELECT " CLK ", lockservice.force_release('%s'), " CLK,
					 name_str(n));
			r = admin_exec(sql);
			pre = atoll(PQgetvalue(r, 0, 0));
			post = atoll(PQgetvalue(r, 0, 2));
			ended += atoi(PQgetvalue(r, 0, 1));
			PQclear(r);
			add_forced(n, pre, post, t_inv, 'F');
		}
		snprintf(detail, sizeof detail, "force_release on %d names: %d leases ended", k, ended);
	}
	nem_log(NEM_EXPIRE, t_inv, "%s", detail);
}

static void
nem_clock(void)
{
	int64_t		t_inv = mono_us();
	int64_t		step = (rng_range(&nrng, opt.ttl_ms * 15LL, opt.ttl_ms * 30LL) + 9999) / 10000;

	if (step < 1)
		step = 1;
	clock_offset_s += step;
	write_offset_file(clock_offset_s);
	nem_log(NEM_CLOCK, t_inv, "server clock stepped forward %" PRId64 " s (offset now +%" PRId64 " s)",
			step, clock_offset_s);
}

/*
 * run --fault-cmd with ARGS (at most 3); its first output line goes to OUT.
 * A failing command ends the run: the cluster is in a state we did not ask
 * for.
 */
static void
fault_cmd(char *out, size_t outsz, const char *a1, const char *a2, const char *a3)
{
	char	   *cmd;
	FILE	   *p;
	int			st;
	char		line[512] = "";

	if (asprintf(&cmd, "%s %s %s %s 2>>'%s/fault-cmd.log'", opt.fault_cmd, a1, a2 ? a2 : "",
				 a3 ? a3 : "", opt.out) < 0)
		die("out of memory");
	fflush(NULL);
	p = popen(cmd, "r");
	if (!p)
		die("cannot run %s", cmd);
	if (!fgets(line, sizeof line, p))
		line[0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	if (st != 0)
		die("%s failed (status %d; see %s/fault-cmd.log): %s", cmd, st, opt.out, line);
	snprintf(out, outsz, "%s", line);
	free(cmd);
}

/* the current primary's address and start time, "" when none is reachable */
static void
primary_identity(char *out, size_t outsz)
{
	PGconn	   *c = try_connect(opt.superuser, "lscheck-nemesis", opt.dbname);
	PGresult   *r;

	out[0] = '\0';
	if (!c)
		return;
	r = PQexec(c, "SELECT inet_server_addr()::text || ' ' || pg_postmaster_start_time()::text");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, outsz, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

/*
 * A fault of the external cluster, applied by --fault-cmd.  Faults that can
 * change or restart the primary hold the clients' reconnections at the gate
 * until a primary other than the one before (another node, or the same one
 * restarted) accepts writes, and take a snapshot there first (check 4):
 * clients still connected to the old primary keep trying it.  Partitions and
 * the stopped Patroni last 3 s to --hold-max (seeded), then everything is
 * healed and the nemesis waits until the cluster is healthy again.
 */
static void
nem_ha(int kind)
{
	HaEvent    *e;
	bool		gate = kind != NEM_PARTITION_REPLICAS && kind != NEM_PARTITION_CLIENTS;
	bool		held = kind != NEM_SWITCHOVER && kind != NEM_FAILOVER && kind != NEM_KILL_PRIMARY;
	int64_t		hold = held ? rng_range(&nrng, opt.hold_min_ms * 1000LL, opt.hold_max_ms * 1000LL) : 0;
	int64_t		end;
	char		before[256], now[256], detail[512], healed[512], arg[64] = "";
	int			snap = -1;

	if (nhaev >= MAX_NEMESIS)
		return;
	e = &haev[nhaev];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->t_inv = mono_us();
	if (kind == NEM_PARTITION_CLIENTS)
	{
		/* one clients' namespace, by its short name (after the last '-') */
		const char *ns = opt.n_client_netns > 0 ?
			opt.client_netns[rng_range(&nrng, 0, opt.n_client_netns - 1)] : "c0";
		const char *dash = strrchr(ns, '-');

		snprintf(arg, sizeof arg, "%s", dash ? dash + 1 : ns);
	}
	primary_identity(before, sizeof before);
	if (gate)
	{
		shm->gate = 1;
		if (admin)
			PQfinish(admin);
		admin = NULL;
	}
	e->t_fault = mono_us();
	fault_cmd(detail, sizeof detail, "fault", nem_names[kind], arg);
	/* a switchover or failover starts with the command; the others are in effect after it */
	if (held || kind == NEM_KILL_PRIMARY)
		e->t_fault = mono_us();
	/* the switchover and failover commands return once they are done */
	end = e->t_fault + (held ? hold : 60 * 1000000LL);
	while (mono_us() < end && !interrupted)
	{
		if (gate && shm->gate)
		{
			primary_identity(now, sizeof now);
			if (now[0] && strcmp(now, before) != 0)
			{
				e->t_primary = mono_us();
				take_snapshot(e->t_primary);
				snap = nsnaps - 1;
				shm->gate = 0;
				if (!held)
					break;
			}
		}
		else if (!held)
			break;
		sleep_checked(200000);
	}
	e->t_heal = mono_us();
	fault_cmd(healed, sizeof healed, "heal", NULL, NULL);
	e->t_cmp = mono_us();
	if (gate && shm->gate)
	{
		/* the same primary as before: it kept its role through the fault */
		take_snapshot(mono_us());
		snap = nsnaps - 1;
		shm->gate = 0;
	}
	nhaev++;
	fprintf(nemlog, "ha\t%d\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
			kind, e->t_inv, e->t_fault, e->t_primary, e->t_heal, e->t_cmp);
	nem_log(kind, e->t_inv, "%s; held %.1f s; new primary %s; snapshot %d; %s, %.1f s after the fault",
			detail, (double) (e->t_heal - e->t_fault) / 1e6,
			e->t_primary ? "after" : "none", snap, healed, (double) (e->t_cmp - e->t_fault) / 1e6);
	if (e->t_primary)
		say("  writable primary %.2f s after the fault", (double) (e->t_primary - e->t_fault) / 1e6);
}

/* ------------------------------------------------------------------ */
/* setup, teardown                                                     */
/* ------------------------------------------------------------------ */

static void
write_conf(void)
{
	char	   *conf, *inc;
	FILE	   *f;
	char		line[1024];
	bool		included = false;

	conf = path_in_out("lscheck.conf");
	f = fopen(conf, "w");
	if (!f)
		die("cannot write %s", conf);
	fprintf(f,
			"# written by lscheck\n"
			"shared_preload_libraries = 'lockservice'\n"
			"lockservice.reap_interval = '%dms'\n"
			"max_connections = %d\n"
			"log_line_prefix = '%%m [%%p] %%b %%a: '\n"
			"log_min_messages = warning\n"
			"log_statement = none\n",
			opt.reap_ms, opt.clients * 2 + 30);
	if (opt.unsafe)
		fprintf(f,
				"# --unsafe-durability: acknowledged commits may be lost in a crash\n"
				"synchronous_commit = off\n"
				"lockservice.sync_grants = off\n"
				"wal_writer_delay = '10s'\n");
	else
		fprintf(f, "synchronous_commit = on\nlockservice.sync_grants = on\n");
	fclose(f);
	if (asprintf(&inc, "%s/postgresql.conf", opt.pgdata) < 0)
		die("out of memory");
	f = fopen(inc, "r");
	if (!f)
		die("cannot read %s", inc);
	while (fgets(line, sizeof line, f))
		if (strstr(line, "lscheck.conf") && strncmp(line, "include", 7) == 0)
		{
			/* an earlier run's include: rewrite it below if it differs */
			char		want[1024];

			snprintf(want, sizeof want, "include '%s'\n", conf);
			included = strcmp(line, want) == 0;
		}
	fclose(f);
	if (!included)
	{
		f = fopen(inc, "a");
		if (!f)
			die("cannot append to %s", inc);
		fprintf(f, "\ninclude '%s'\n", conf);
		fclose(f);
	}
	free(inc);
	free(conf);
}

static void
do_initdb(void)
{
	char	   *cmd, *confp;
	FILE	   *f;
	struct stat st;
	char	   *pv;

	if (asprintf(&pv, "%s/PG_VERSION", opt.pgdata) < 0)
		die("out of memory");
	if (stat(pv, &st) == 0)
	{
		free(pv);
		return;
	}
	free(pv);
	say("initdb %s", opt.pgdata);
	if (asprintf(&cmd, "'%s/initdb' -D '%s' -U '%s' -A trust --encoding=UTF8 --locale=C.UTF-8 "
				 ">'%s/initdb.log' 2>&1", opt.bindir, opt.pgdata, opt.superuser, opt.out) < 0)
		die("out of memory");
	if (system(cmd) != 0)
		die("initdb failed, see %s/initdb.log", opt.out);
	free(cmd);
	if (asprintf(&confp, "%s/postgresql.conf", opt.pgdata) < 0)
		die("out of memory");
	f = fopen(confp, "a");
	if (!f)
		die("cannot append to %s", confp);
	fprintf(f, "\nport = %d\nunix_socket_directories = '%s'\nlisten_addresses = ''\n",
			opt.port, opt.host);
	fclose(f);
	free(confp);
}

static void
setup_database(void)
{
	PGconn	   *c;
	PGresult   *r;
	char		sql[512];
	int64_t		deadline = mono_us() + 60 * 1000000LL;

	while (!(c = try_connect(opt.superuser, "lscheck-setup", "postgres")))
	{
		if (mono_us() > deadline)
			die("cannot connect to database postgres on %s:%d as %s", opt.host, opt.port,
				opt.superuser);
		sleep_us(200000);
	}
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", opt.dbname);
	PQclear(exec_ok(c, sql));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", opt.dbname);
	PQclear(exec_ok(c, sql));
	r = exec_ok(c, "SELECT 1 FROM pg_roles WHERE rolname = 'lscheck_client'");
	if (PQntuples(r) == 0)
		PQclear(exec_ok(c, "CREATE ROLE lscheck_client LOGIN"));
	PQclear(r);
	PQfinish(c);

	/*
	 * A replica listed first in a multi-host conninfo may not have replayed
	 * CREATE DATABASE yet, and libpq does not try the next host after a
	 * server's startup error: retry for a while.
	 */
	deadline = mono_us() + 60 * 1000000LL;
	while (!(c = try_connect(opt.superuser, "lscheck-setup", opt.dbname)))
	{
		if (mono_us() > deadline)
			die("cannot connect to database %s", opt.dbname);
		sleep_us(200000);
	}
	PQclear(exec_ok(c, "CREATE EXTENSION lockservice"));
	PQclear(exec_ok(c,
					"CREATE TABLE lscheck_register ("
					" id bigserial PRIMARY KEY, resource text NOT NULL,"
					" token bigint NOT NULL, op_id bigint NOT NULL UNIQUE,"
					" at timestamptz NOT NULL DEFAULT clock_timestamp())"));
	PQclear(exec_ok(c, "GRANT SELECT, INSERT ON lscheck_register TO lscheck_client"));
	PQclear(exec_ok(c, "GRANT USAGE ON SEQUENCE lscheck_register_id_seq TO lscheck_client"));
	r = exec_ok(c, "SELECT current_setting('synchronous_commit'), "
				"current_setting('lockservice.reap_interval'), "
				"current_setting('shared_preload_libraries')");
	say("server settings: synchronous_commit=%s reap_interval=%s shared_preload_libraries=%s",
		PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
	if (strcmp(PQgetvalue(r, 0, 0), opt.unsafe ? "off" : "on") != 0)
		die("synchronous_commit is not %s", opt.unsafe ? "off" : "on");
	PQclear(r);
	PQfinish(c);
}

static bool clients_killed = false;

static void
kill_clients(void)
{
	for (int i = 0; i < opt.clients; i++)
		if (child_pid[i] > 0)
		{
			kill(child_pid[i], SIGKILL);
			kill(child_pid[i], SIGCONT);
		}
	for (int i = 0; i < opt.clients; i++)
		if (child_pid[i] > 0)
		{
			while (waitpid(child_pid[i], NULL, 0) < 0 && errno == EINTR)
				;
			child_pid[i] = 0;
		}
	clients_killed = true;
}

static void
cleanup_and_exit(int code)
{
	if (!is_coordinator)
		_exit(code);
	if (!clients_killed)
		kill_clients();
	if (server_running && !opt.keep_server)
		server_stop();
	exit(code);
}

static void
on_signal(int sig)
{
	(void) sig;
	interrupted = 1;
}

/* ------------------------------------------------------------------ */
/* the end: faults stop, check 5 probes                                */
/* ------------------------------------------------------------------ */

typedef struct
{
	int64_t		elapsed_us;		/* -1: not acquired */
	int64_t		token;
	bool		write_ok;
	char		write_state[6];
}			Probe;

static Probe probes[MAX_NAMES];
static int64_t probe_bound_us;
static int64_t probe_srv_t0, probe_srv_t1;
static int64_t server_t0;		/* server µs at the start, for printing */

static void
final_probes(void)
{
	char		fname[64];
	char	   *path;
	int64_t		t0, deadline;
	PGresult   *r;

	/* the prober logs like a client, with client id = opt.clients */
	my_client = opt.clients;
	op_seq = 0;
	snprintf(fname, sizeof fname, "client-%02d.log", my_client);
	path = path_in_out(fname);
	oplog = fopen(path, "w");
	if (!oplog)
		die("cannot write %s", path);
	free(path);

	/* no client backend may linger in a wait: end them all */
	for (int tries = 0;; tries++)
	{
		r = admin_exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
					   "WHERE application_name LIKE 'lsc-%'");
		PQclear(r);
		r = admin_exec("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lsc-%'");
		if (atoi(PQgetvalue(r, 0, 0)) == 0 || tries > 100)
		{
			PQclear(r);
			break;
		}
		PQclear(r);
		sleep_us(100000);
	}

	cconn = try_connect(opt.superuser, "lscheck-probe", opt.dbname);
	if (!cconn)
		die("probe: cannot connect");
	probe_bound_us = (int64_t) (opt.ttl_ms + opt.reap_ms) * 1000;
	probe_srv_t0 = server_now();
	t0 = mono_us();
	deadline = t0 + probe_bound_us + (int64_t) opt.grace_ms * 1000;
	for (int n = 0; n < opt.names; n++)
	{
		Op			op;
		int64_t		left = (deadline - mono_us()) / 1000;

		if (left < 0)
			left = 0;
		do_acquire(&op, n, "final-probe", (int) left, OP_ACQUIRE);
		probes[n].elapsed_us = (op.outcome == OUT_OK && op.token) ? op.t_cmp - t0 : -1;
		probes[n].token = op.token;
		if (probes[n].elapsed_us < 0)
		{
			if (!cconn)
				cconn = try_connect(opt.superuser, "lscheck-probe", opt.dbname);
			continue;
		}
		/* the fence must accept the new, highest token */
		{
			bool		save = opt.fence;

			opt.fence = true;
			do_write(&op, n, probes[n].token);
			opt.fence = save;
		}
		probes[n].write_ok = op.outcome == OUT_OK;
		snprintf(probes[n].write_state, sizeof probes[n].write_state, "%s", op.sqlstate);
		do_release(&op, n, probes[n].token, OP_RELEASE);
	}
	client_disconnect();
	probe_srv_t1 = server_now();
	fclose(oplog);
	oplog = NULL;
}

/* ------------------------------------------------------------------ */
/* analysis                                                            */
/* ------------------------------------------------------------------ */

static Op  *ops;
static size_t nops, cap_ops;

typedef struct
{
	int64_t		id;
	int			name;
	int64_t		token;
	int64_t		op_id;
}			RegRow;

static RegRow *reg;
static size_t nreg;

static int
cmp_op_id(const void *a, const void *b)
{
	const Op   *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static Op  *
find_op(int64_t id)
{
	Op			key;

	key.id = id;
	return bsearch(&key, ops, nops, sizeof(Op), cmp_op_id);
}

static void
load_ops(void)
{
	for (int c = 0; c <= opt.clients; c++)
	{
		char		fname[64], line[1024];
		char	   *path;
		FILE	   *f;
		size_t		first = nops;
		int64_t		last = 0;

		snprintf(fname, sizeof fname, "client-%02d.log", c);
		path = path_in_out(fname);
		f = fopen(path, "r");
		free(path);
		if (!f)
			continue;
		while (fgets(line, sizeof line, f))
		{
			if (line[0] == 'I')
			{
				Op		   *op;
				char		type, holder[64];

				if (nops >= cap_ops)
				{
					cap_ops = cap_ops ? cap_ops * 2 : 4096;
					ops = xrealloc(ops, sizeof(Op) * cap_ops);
				}
				op = &ops[nops];
				memset(op, 0, sizeof *op);
				if (sscanf(line, "I\t%" SCNd64 "\t%d\t%c\t%d\t%63s\t%" SCNd64 "\t%" SCNd64,
						   &op->id, &op->client, &type, &op->name, holder, &op->token,
						   &op->t_inv) != 7)
					continue;	/* a torn last line (killed mid-write) */
				op->type = type;
				holder[sizeof op->holder - 1] = '\0';
				memcpy(op->holder, holder, sizeof op->holder);
				op->outcome = OUT_UNKNOWN;
				op->bound = last;
				nops++;
			}
			else if (line[0] == 'C' && nops > first)
			{
				Op		   *op = NULL;
				Op			c;
				int64_t		id, tok;
				char		outc, st[16];

				if (sscanf(line, "C\t%" SCNd64 "\t%c\t%" SCNd64 "\t%15s\t%" SCNd64 "\t%" SCNd64
						   "\t%" SCNd64 "\t%" SCNd64,
						   &id, &outc, &c.result, st, &c.pre, &c.post, &c.t_cmp, &tok) != 8)
					continue;
				/* its invocation: the last one, or (a session's call, logged
				 * per lock) one of the few before it */
				for (size_t k = nops; k > first && k + MAX_NAMES >= nops && !op; k--)
					if (ops[k - 1].id == id)
						op = &ops[k - 1];
				if (!op)
					continue;
				op->result = c.result;
				op->pre = c.pre;
				op->post = c.post;
				op->t_cmp = c.t_cmp;
				op->outcome = outc;
				op->token = tok;
				if (strcmp(st, "-") == 0)
					op->sqlstate[0] = '\0';
				else
				{
					memcpy(op->sqlstate, st, 5);
					op->sqlstate[5] = '\0';
				}
				if (op->outcome == OUT_UNKNOWN)
					op->t_cmp = 0;
				if (op->post > 0)
					last = op->post;
			}
		}
		fclose(f);
	}
	qsort(ops, nops, sizeof(Op), cmp_op_id);
}

static void
load_register(void)
{
	PGresult   *r = admin_exec("SELECT id, resource, token, op_id FROM lscheck_register ORDER BY id");
	char	   *path = path_in_out("register.tsv");
	FILE	   *f = fopen(path, "w");

	nreg = (size_t) PQntuples(r);
	reg = xcalloc(nreg, sizeof(RegRow));
	for (size_t i = 0; i < nreg; i++)
	{
		reg[i].id = atoll(PQgetvalue(r, (int) i, 0));
		reg[i].name = atoi(PQgetvalue(r, (int) i, 1) + 5);
		reg[i].token = atoll(PQgetvalue(r, (int) i, 2));
		reg[i].op_id = atoll(PQgetvalue(r, (int) i, 3));
		if (f)
			fprintf(f, "%" PRId64 "\t%s\t%" PRId64 "\t%" PRId64 "\n", reg[i].id,
					PQgetvalue(r, (int) i, 1), reg[i].token, reg[i].op_id);
	}
	if (f)
		fclose(f);
	free(path);
	PQclear(r);
}

static const char *
type_str(char t)
{
	switch (t)
	{
		case OP_ACQUIRE:
			return "acquire";
		case OP_REACQUIRE:
			return "acquire(retry)";
		case OP_RENEW:
			return "renew";
		case OP_RELEASE:
			return "release";
		case OP_RERELEASE:
			return "release(retry)";
		case OP_WRITE:
			return "write";
	}
	return "?";
}

static double
srv(int64_t us)
{
	return us ? (double) (us - server_t0) / 1e6 : 0.0;
}

static void
print_op(const char *mark, const Op *op)
{
	char		res[64];

	if (op->outcome != OUT_OK)
		snprintf(res, sizeof res, "%s%s%s", op->outcome == OUT_FAIL ? "FAILED" : "UNKNOWN",
				 op->sqlstate[0] ? " " : "", op->sqlstate);
	else if (op->type == OP_ACQUIRE || op->type == OP_REACQUIRE)
		snprintf(res, sizeof res, "ok %s", op->result ? "granted" : "NULL (not granted)");
	else if (op->type == OP_WRITE)
		snprintf(res, sizeof res, "ok (register id %" PRId64 ")", op->result);
	else
		snprintf(res, sizeof res, "ok %s", op->result ? "true" : "false");
	if (op->pre)
		printf("  %s c%-2d %-15s %-7s %-10s token %-16" PRId64 " %-28s server %9.3f..%9.3f s  op %" PRId64 "\n",
			   mark, op->client, type_str(op->type), name_str(op->name),
			   op->holder[0] != '-' ? op->holder : "", op->token, res, srv(op->pre), srv(op->post), op->id);
	else
		printf("  %s c%-2d %-15s %-7s %-10s token %-16" PRId64 " %-28s server    >%9.3f s             op %" PRId64 "\n",
			   mark, op->client, type_str(op->type), name_str(op->name),
			   op->holder[0] != '-' ? op->holder : "", op->token, res, srv(op->bound), op->id);
}

/* the history slice of name between two server times (plus forced ends) */
static int
cmp_slice(const void *a, const void *b)
{
	const Op   *x = *(Op *const *) a, *y = *(Op *const *) b;
	int64_t		tx = x->pre ? x->pre : x->bound, ty = y->pre ? y->pre : y->bound;

	return tx < ty ? -1 : tx > ty ? 1 : (x->id < y->id ? -1 : x->id > y->id);
}

static void
print_slice(int name, int64_t from, int64_t to, int64_t tok_a, int64_t tok_b)
{
	size_t		n = 0;
	Op		  **sel = xcalloc(nops + 1, sizeof(Op *));

	printf("  history of %s, server time %.3f..%.3f s, in order of invocation (* = the leases involved):\n",
		   name_str(name), srv(from), srv(to));
	for (size_t i = 0; i < nops; i++)
	{
		Op		   *op = &ops[i];
		int64_t		a = op->pre ? op->pre : op->bound;
		int64_t		b = op->post ? op->post : a;

		if (op->name != name || b < from || a > to)
			continue;
		sel[n++] = op;
	}
	qsort(sel, n, sizeof(Op *), cmp_slice);
	for (size_t i = 0; i < n && i < 80; i++)
		print_op(sel[i]->token && (sel[i]->token == tok_a || sel[i]->token == tok_b) ? "*" : " ",
				 sel[i]);
	if (n > 80)
		printf("  ... %zu more\n", n - 80);
	free(sel);
	for (int i = 0; i < nforced; i++)
		if (forced[i].name == name && forced[i].post >= from && forced[i].pre <= to)
			printf("    nemesis %s on %s at server %.3f..%.3f s\n",
				   forced[i].how == 'U' ? "UPDATE expires_at = now()" : "force_release",
				   name_str(name), srv(forced[i].pre), srv(forced[i].post));
}

/* a lease: one token on one name */
typedef struct
{
	int			name;
	int64_t		token;
	int64_t		start;			/* first ok grant's post */
	int64_t		exp_lb;			/* lower bound of expiry */
	int64_t		end;			/* definite end (lower bound) */
	int64_t		grant_op;
	bool		released_ok;	/* a release returned true */
	bool		maybe_released; /* some release may have ended it */
	/* the same on the clients' monotonic clock (the machine's) */
	int64_t		start_m;		/* first ok grant's completion */
	int64_t		end_m;			/* definite end: invocation + ttl of the last
								 * confirmed extension, or an earlier release
								 * or forced end's invocation */
}			Lease;

static Lease *leases;
static size_t nleases;

static int
cmp_lease(const void *a, const void *b)
{
	const Lease *x = a, *y = b;

	if (x->name != y->name)
		return x->name - y->name;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->token < y->token ? -1 : x->token > y->token;
}

/* (name, token) -> lease, an open-addressing hash over leases[] */
static size_t *lease_hash;
static size_t lease_hash_size;

static size_t
lease_slot(int name, int64_t token)
{
	uint64_t	h = (uint64_t) token * 0x9e3779b97f4a7c15ULL ^ (uint64_t) name;

	return (size_t) (h % lease_hash_size);
}

static void
lease_hash_build(void)
{
	free(lease_hash);
	lease_hash_size = nleases * 2 + 17;
	lease_hash = xcalloc(lease_hash_size, sizeof(size_t));	/* 0: empty, else index+1 */
	for (size_t i = 0; i < nleases; i++)
	{
		size_t		k = lease_slot(leases[i].name, leases[i].token);

		while (lease_hash[k])
			k = (k + 1) % lease_hash_size;
		lease_hash[k] = i + 1;
	}
}

static Lease *
lease_of(int name, int64_t token)
{
	size_t		k;

	if (!lease_hash_size)
		return NULL;
	for (k = lease_slot(name, token); lease_hash[k]; k = (k + 1) % lease_hash_size)
	{
		Lease	   *l = &leases[lease_hash[k] - 1];

		if (l->token == token && l->name == name)
			return l;
	}
	return NULL;
}

static int	results_failed = 0;

static void
verdict(int check, const char *what, bool ok, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
verdict(int check, const char *what, bool ok, const char *fmt, ...)
{
	va_list		ap;

	printf("check %d %s: %s (", check, what, ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
	if (!ok)
		results_failed++;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a, y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

typedef struct
{
	int64_t		key;
	size_t		idx;
}			KeyIdx;

static int
cmp_keyidx(const void *a, const void *b)
{
	const KeyIdx *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static void
build_leases(void)
{
	/* one lease per (name, token) granted ok */
	leases = xcalloc(nops + 1, sizeof(Lease));
	lease_hash_size = nops * 2 + 17;
	lease_hash = xcalloc(lease_hash_size, sizeof(size_t));
	for (size_t i = 0; i < nops; i++)
	{
		Op		   *op = &ops[i];
		Lease	   *l;

		if ((op->type != OP_ACQUIRE && op->type != OP_REACQUIRE) || op->outcome != OUT_OK ||
			op->token == 0)
			continue;
		l = lease_of(op->name, op->token);
		if (!l)
		{
			size_t		k = lease_slot(op->name, op->token);

			l = &leases[nleases++];
			l->name = op->name;
			l->token = op->token;
			l->start = op->post;
			l->start_m = op->t_cmp;
			l->grant_op = op->id;
			l->exp_lb = 0;
			while (lease_hash[k])
				k = (k + 1) % lease_hash_size;
			lease_hash[k] = nleases;
		}
		if (op->post < l->start)
			l->start = op->post;
		if (op->t_cmp < l->start_m)
			l->start_m = op->t_cmp;
		/*
		 * A lock in a session ends with its session, which may end before
		 * the grant's time + ttl: its expiry comes from the session's
		 * open and renewals, logged as renewals of each lock (sessions).
		 */
		if (opt.sessions > 0)
			continue;
		if (op->pre + opt.ttl_ms * 1000LL > l->exp_lb)
			l->exp_lb = op->pre + opt.ttl_ms * 1000LL;
		if (op->t_inv + opt.ttl_ms * 1000LL > l->end_m)
			l->end_m = op->t_inv + opt.ttl_ms * 1000LL;
	}
	for (size_t i = 0; i < nops; i++)
	{
		Op		   *op = &ops[i];
		Lease	   *l;

		if (op->token == 0 || !(l = lease_of(op->name, op->token)))
			continue;
		if (op->type == OP_RENEW && op->outcome == OUT_OK && op->result == 1 &&
			op->pre + opt.ttl_ms * 1000LL > l->exp_lb)
			l->exp_lb = op->pre + opt.ttl_ms * 1000LL;
		if (op->type == OP_RENEW && op->outcome == OUT_OK && op->result == 1 &&
			op->t_inv + opt.ttl_ms * 1000LL > l->end_m)
			l->end_m = op->t_inv + opt.ttl_ms * 1000LL;
	}
	for (size_t i = 0; i < nleases; i++)
		leases[i].end = leases[i].exp_lb;
	/* releases: the earliest moment each could have taken effect */
	for (size_t i = 0; i < nops; i++)
	{
		Op		   *op = &ops[i];
		Lease	   *l;
		int64_t		at;

		if ((op->type != OP_RELEASE && op->type != OP_RERELEASE) || op->token == 0 ||
			!(l = lease_of(op->name, op->token)))
			continue;
		if (op->outcome == OUT_OK && op->result == 0)
			continue;			/* ended nothing */
		at = op->outcome == OUT_OK ? op->pre : op->bound;
		if (op->outcome == OUT_OK)
			l->released_ok = true;
		else
			l->maybe_released = true;
		if (at < l->end)
			l->end = at;
		/* on the clients' clock: no release takes effect before it is invoked */
		if (op->t_inv < l->end_m)
			l->end_m = op->t_inv;
	}
	/* nemesis: forced ends */
	for (int f = 0; f < nforced; f++)
		for (size_t i = 0; i < nleases; i++)
		{
			if (leases[i].name == forced[f].name && leases[i].start <= forced[f].post &&
				forced[f].pre < leases[i].end)
				leases[i].end = forced[f].pre;
			if (leases[i].name == forced[f].name && leases[i].start_m <= forced[f].t_cmp &&
				forced[f].t_inv < leases[i].end_m)
				leases[i].end_m = forced[f].t_inv;
		}
	qsort(leases, nleases, sizeof(Lease), cmp_lease);
	lease_hash_build();
}

static void
check1(void)
{
	size_t		bad = 0, odd = 0, bad_global = 0, dup = 0;
	size_t		printed = 0, ngrants = 0, pairs = 0;
	KeyIdx	   *by_inv, *by_cmp;
	size_t		n = 0;

	/* per name, in grant order (leases sorted by name, start) */
	for (size_t i = 0; i < nleases; i++)
	{
		if (leases[i].token & 1)
			odd++;
		if (i > 0 && leases[i].name == leases[i - 1].name &&
			leases[i].token <= leases[i - 1].token)
		{
			bad++;
			if (printed++ < MAX_PRINT)
			{
				printf("VIOLATION check 1: %s granted token %" PRId64 " at server %.3f s after token %" PRId64
					   " at %.3f s\n", name_str(leases[i].name), leases[i].token,
					   srv(leases[i].start), leases[i - 1].token, srv(leases[i - 1].start));
				print_slice(leases[i].name, leases[i - 1].start - 1000, leases[i].start + 1000,
							leases[i].token, leases[i - 1].token);
			}
		}
	}
	/* one token, one lease */
	{
		int64_t    *toks = xcalloc(nleases, sizeof(int64_t));

		for (size_t i = 0; i < nleases; i++)
			toks[i] = leases[i].token;
		qsort(toks, nleases, sizeof(int64_t), cmp_int64);
		for (size_t i = 1; i < nleases; i++)
			if (toks[i] == toks[i - 1])
			{
				dup++;
				if (printed++ < MAX_PRINT)
					printf("VIOLATION check 1: token %" PRId64 " granted on two names\n", toks[i]);
			}
		free(toks);
	}
	/* globally: a grant acknowledged before another was invoked has a lower token */
	by_inv = xcalloc(nops + 1, sizeof(KeyIdx));
	by_cmp = xcalloc(nops + 1, sizeof(KeyIdx));
	for (size_t i = 0; i < nops; i++)
		if (ops[i].type == OP_ACQUIRE && ops[i].outcome == OUT_OK && ops[i].token)
		{
			by_inv[n].key = ops[i].t_inv;
			by_inv[n].idx = i;
			by_cmp[n].key = ops[i].t_cmp;
			by_cmp[n].idx = i;
			n++;
		}
	ngrants = n;
	qsort(by_inv, n, sizeof(KeyIdx), cmp_keyidx);
	qsort(by_cmp, n, sizeof(KeyIdx), cmp_keyidx);
	{
		size_t		j = 0;
		int64_t		maxtok = 0;
		size_t		maxidx = 0;

		for (size_t i = 0; i < n; i++)
		{
			Op		   *b = &ops[by_inv[i].idx];

			while (j < n && by_cmp[j].key < b->t_inv)
			{
				if (ops[by_cmp[j].idx].token > maxtok)
				{
					maxtok = ops[by_cmp[j].idx].token;
					maxidx = by_cmp[j].idx;
				}
				j++;
			}
			pairs += j;
			if (j > 0 && b->token <= maxtok)
			{
				bad_global++;
				if (printed++ < MAX_PRINT)
				{
					printf("VIOLATION check 1: token %" PRId64 " granted after token %" PRId64
						   " had been acknowledged (real-time order)\n", b->token, maxtok);
					print_op("*", &ops[maxidx]);
					print_op("*", b);
				}
			}
		}
	}
	free(by_inv);
	free(by_cmp);
	verdict(1, "token order", bad + odd + bad_global + dup == 0,
			"%zu leases granted on %d names, %zu out of order per name; %zu fresh grants checked "
			"against %zu earlier acknowledged grants, %zu out of real-time order; %zu odd tokens, %zu reused",
			nleases, opt.names, bad, ngrants, pairs, bad_global, odd, dup);
}

static void
check2(void)
{
	int64_t		maxtok[MAX_NAMES] = {0};
	size_t		maxrow[MAX_NAMES] = {0};
	size_t		bad = 0, printed = 0, refused = 0, tried = 0;

	for (size_t i = 0; i < nops; i++)
		if (ops[i].type == OP_WRITE)
		{
			tried++;
			if (ops[i].outcome == OUT_FAIL && strcmp(ops[i].sqlstate, "LS001") == 0)
				refused++;
		}
	for (size_t i = 0; i < nreg; i++)
	{
		int			n = reg[i].name;

		if (n < 0 || n >= MAX_NAMES)
			continue;
		if (reg[i].token < maxtok[n])
		{
			bad++;
			if (printed++ < MAX_PRINT)
			{
				Op		   *lo = find_op(reg[i].op_id), *hi = find_op(reg[maxrow[n]].op_id);

				printf("VIOLATION check 2: register %s accepted token %" PRId64 " (row %" PRId64
					   ") after token %" PRId64 " (row %" PRId64 ")\n", name_str(n), reg[i].token,
					   reg[i].id, maxtok[n], reg[maxrow[n]].id);
				if (hi)
					print_op("*", hi);
				if (lo)
					print_op("*", lo);
				if (lo && hi)
				{
					Lease	   *l = lease_of(n, lo->token);
					int64_t		from = l ? l->start : (lo->pre ? lo->pre : lo->bound);

					print_slice(n, from - 1000, (lo->post ? lo->post : lo->pre) + 1000,
								lo->token, hi->token);
				}
			}
		}
		else
		{
			maxtok[n] = reg[i].token;
			maxrow[n] = i;
		}
	}
	verdict(2, "register (fencing)", bad == 0,
			"%zu writes tried, %zu accepted, %zu accepted with a lower token than an earlier one; "
			"%zu refused by fence (LS001)%s",
			tried, nreg, bad, refused, opt.fence ? "" : "; fencing DISABLED (--no-fence)");
}

static int
cmp_lease_token(const void *a, const void *b)
{
	const Lease *x = *(const Lease *const *) a, *y = *(const Lease *const *) b;

	if (x->name != y->name)
		return x->name - y->name;
	return x->token < y->token ? -1 : x->token > y->token;
}

/*
 * Check 3 again on the clients' clock (every client and server runs on
 * this machine): in token order, a lease granted (its acquire completed)
 * before the previous one's definite end, counted from the invocation of
 * its last confirmed extension plus the ttl.  Not a check: a server clock
 * ahead of the machine's (the clock nemesis, a node under --faketime)
 * shortens leases in real time by design of the timing; this says by how
 * much.  With one clock for all it is 0.
 */
static void
real_time_overlaps(void)
{
	Lease	  **byt = xcalloc(nleases + 1, sizeof(Lease *));
	size_t		n = 0, printed = 0;
	int64_t		worst = 0;

	for (size_t i = 0; i < nleases; i++)
		byt[i] = &leases[i];
	qsort(byt, nleases, sizeof(Lease *), cmp_lease_token);
	for (size_t i = 1; i < nleases; i++)
	{
		const Lease *j = byt[i - 1], *l = byt[i];

		if (j->name != l->name || j->start_m >= j->end_m || l->start_m >= j->end_m)
			continue;
		n++;
		if (j->end_m - l->start_m > worst)
			worst = j->end_m - l->start_m;
		if (printed++ < MAX_PRINT)
			printf("# real time: %s lease %" PRId64 " granted %.3f s before lease %" PRId64
				   " could have ended (clients' clock)\n", name_str(l->name), l->token,
				   (double) (j->end_m - l->start_m) / 1e6, j->token);
	}
	printf("# check 3 on the clients' clock: %zu leases granted before the previous one's ttl had run "
		   "out in real time%s", n, n ? "" : "\n");
	if (n)
		printf(", the earliest %.3f s before (a server clock ahead of the machine's shortens leases)\n",
			   (double) worst / 1e6);
	free(byt);
}

static void
check3(void)
{
	size_t		bad = 0, printed = 0, unknown_acq = 0;

	for (size_t i = 0; i < nops; i++)
		if ((ops[i].type == OP_ACQUIRE || ops[i].type == OP_REACQUIRE) &&
			ops[i].outcome == OUT_UNKNOWN)
			unknown_acq++;
	for (size_t i = 0; i < nleases; i++)
	{
		/* against every earlier lease of the name still definitely held */
		for (size_t j = i; j-- > 0 && leases[j].name == leases[i].name;)
		{
			if (leases[j].end > leases[i].start && leases[j].start < leases[j].end)
			{
				bad++;
				if (printed++ < MAX_PRINT)
				{
					printf("VIOLATION check 3: %s: lease %" PRId64 " granted at server %.3f s while lease %"
						   PRId64 " (granted %.3f s) was held until at least %.3f s\n",
						   name_str(leases[i].name), leases[i].token, srv(leases[i].start),
						   leases[j].token, srv(leases[j].start), srv(leases[j].end));
					print_slice(leases[i].name, leases[j].start - 1000, leases[i].start + 1000,
								leases[i].token, leases[j].token);
				}
				break;
			}
		}
	}
	verdict(3, "mutual exclusion", bad == 0,
			"%zu leases, %zu granted while another was definitely held; %zu acquires with unknown "
			"outcome counted as possibly held",
			nleases, bad, unknown_acq);
	real_time_overlaps();
}

static void
check4(void)
{
	size_t		ok_writes = 0, lost_writes = 0, phantom = 0, printed = 0;
	size_t		lost_snap = 0, checked_snap = 0, lost_live = 0, live_checked = 0;
	size_t		releases_undone = 0;
	int64_t    *present;
	size_t		np = nreg;

	/* (a) every acknowledged write is in the register, no failed one is */
	present = xcalloc(np + 1, sizeof(int64_t));
	for (size_t i = 0; i < nreg; i++)
		present[i] = reg[i].op_id;
	qsort(present, np, sizeof(int64_t), cmp_int64);
	for (size_t i = 0; i < nops; i++)
	{
		Op		   *op = &ops[i];
		bool		there;

		if (op->type != OP_WRITE)
			continue;
		there = bsearch(&op->id, present, np, sizeof(int64_t), cmp_int64) != NULL;
		if (op->outcome == OUT_OK)
		{
			ok_writes++;
			if (!there)
			{
				lost_writes++;
				if (printed++ < MAX_PRINT)
				{
					printf("VIOLATION check 4: acknowledged write lost:\n");
					print_op("*", op);
				}
			}
		}
		else if (op->outcome == OUT_FAIL && there)
		{
			phantom++;
			if (printed++ < MAX_PRINT)
			{
				printf("VIOLATION check 4: a write reported as failed is in the register:\n");
				print_op("*", op);
			}
		}
	}
	free(present);

	/* (b) after every crash: the lease table reflects every acknowledged op */
	for (int s = 0; s < nsnaps; s++)
	{
		Snapshot   *sn = &snaps[s];

		for (int n = 0; n < opt.names; n++)
		{
			Lease	   *last = NULL;
			SnapRow    *row = &sn->rows[n];
			const char *why = NULL;
			bool		forced_after = false;
			int64_t		exp_lb = 0;
			int64_t		exp_ub = 0;

			/* the highest token acknowledged on n before the snapshot */
			for (size_t i = 0; i < nops; i++)
			{
				Op		   *op = &ops[i];

				if (op->name != n || op->outcome != OUT_OK || op->t_cmp >= sn->t_mono ||
					(op->type != OP_ACQUIRE && op->type != OP_REACQUIRE) || op->token == 0)
					continue;
				if (!last || op->token > last->token)
					last = lease_of(n, op->token);
			}
			if (!last)
				continue;
			checked_snap++;
			/* what was acknowledged about it before the crash */
			{
				bool		released = false, maybe = false;

				for (size_t i = 0; i < nops; i++)
				{
					Op		   *op = &ops[i];

					if (op->name != n || op->token != last->token || op->t_inv >= sn->t_mono)
						continue;
					if ((op->type == OP_RELEASE || op->type == OP_RERELEASE))
					{
						if (op->outcome == OUT_OK && op->result == 1 && op->t_cmp < sn->t_mono)
							released = true;
						else if (op->outcome != OUT_OK || op->t_cmp >= sn->t_mono)
							maybe = true;
					}
					if (op->outcome == OUT_OK && op->t_cmp < sn->t_mono &&
						((op->type == OP_RENEW && op->result == 1) ||
						 (opt.sessions == 0 &&
						  (op->type == OP_ACQUIRE || op->type == OP_REACQUIRE))) &&
						op->pre + opt.ttl_ms * 1000LL > exp_lb)
						exp_lb = op->pre + opt.ttl_ms * 1000LL;
					/* the latest expiry any grant or renewal can have set */
					if (op->outcome != OUT_FAIL &&
						(op->type == OP_RENEW || op->type == OP_ACQUIRE ||
						 op->type == OP_REACQUIRE))
					{
						int64_t		done = (op->outcome == OUT_OK && op->post) ?
							op->post : sn->server_now;

						if (done + opt.ttl_ms * 1000LL > exp_ub)
							exp_ub = done + opt.ttl_ms * 1000LL;
					}
				}
				for (int f = 0; f < nforced; f++)
					if (forced[f].name == n && forced[f].t_inv < sn->t_mono &&
						forced[f].post >= last->start)
						forced_after = true;
				if (!row->present)
				{
					if (!released && !maybe && !forced_after && sn->server_now < exp_lb)
						why = "the lease row is gone";
				}
				else if (row->token < last->token)
					why = "the lease row holds an older token (acquire lost)";
				else if (row->token == last->token)
				{
					if (released && !row->released)
					{
						/*
						 * A transaction that only released commits without
						 * waiting for the disk: a crash may undo it, which
						 * brings the lease back until its own expiry.  A
						 * later grant of the name would be durable and
						 * carry the release with it (then row->token is
						 * that grant's).  So only the lease's end may move,
						 * and never past the expiry it already had.
						 */
						if (row->expires > exp_ub)
							why = "a release undone by the crash brought the lease back past its expiry";
						else
							releases_undone++;
					}
					else if (!released && !maybe && !forced_after && row->released)
						why = "lease released without a release";
					else if (!released && !maybe && !forced_after && row->expires < exp_lb)
						why = "acknowledged acquire/renew lost (expires_at earlier than acknowledged)";
				}
			}
			if (why)
			{
				lost_snap++;
				if (printed++ < MAX_PRINT)
				{
					printf("VIOLATION check 4: after crash %d, %s: %s; table: %s token %" PRId64
						   " expires %.3f s%s\n", s, name_str(n), why,
						   row->present ? "row" : "no row", row->token, srv(row->expires),
						   row->released ? " released" : "");
					print_slice(n, last->start - 1000, sn->server_now, last->token, 0);
				}
			}
		}
	}

	/* (c) during the run: the server never said a lease was gone while it was live */
	for (size_t i = 0; i < nops; i++)
	{
		Op		   *op = &ops[i];
		Lease	   *l;

		if (op->outcome != OUT_OK || op->result != 0 || op->token == 0 ||
			(op->type != OP_RENEW && op->type != OP_RELEASE) ||
			!(l = lease_of(op->name, op->token)))
			continue;
		live_checked++;
		/* a crash between may legitimately lose nothing either */
		if (op->post < l->end && op->post > l->start)
		{
			lost_live++;
			if (printed++ < MAX_PRINT)
			{
				printf("VIOLATION check 4: %s returned false at server %.3f s, but lease %" PRId64
					   " was held until at least %.3f s\n", type_str(op->type), srv(op->post),
					   l->token, srv(l->end));
				print_slice(op->name, l->start - 1000, op->post + 1000, l->token, 0);
			}
		}
	}
	if (releases_undone > 0)
		printf("# check 4: %zu acknowledged releases were undone by a crash (asynchronous commit of a "
			   "release-only transaction, allowed): each lease came back no longer than its expiry\n",
			   releases_undone);
	verdict(4, "durability", lost_writes + phantom + lost_snap + lost_live == 0,
			"%zu acknowledged writes, %zu lost, %zu failed writes present; %d crash snapshots, "
			"%zu name states checked, %zu lost; %zu renew/release answers 'not held', %zu while "
			"acknowledged live",
			ok_writes, lost_writes, phantom, nsnaps, checked_snap, lost_snap, live_checked, lost_live);
}

static void
check5(void)
{
	int64_t		worst = 0;
	int			bad = 0, wbad = 0;

	for (int n = 0; n < opt.names; n++)
	{
		if (probes[n].elapsed_us < 0 || probes[n].elapsed_us > probe_bound_us + opt.grace_ms * 1000LL)
		{
			bad++;
			printf("VIOLATION check 5: %s not acquirable within %.2f s after faults stopped\n",
				   name_str(n), (double) (probe_bound_us + opt.grace_ms * 1000LL) / 1e6);
			print_slice(n, probe_srv_t0 - 10 * 1000000LL, probe_srv_t1, 0, 0);
		}
		else if (probes[n].elapsed_us > worst)
			worst = probes[n].elapsed_us;
		if (probes[n].elapsed_us >= 0 && !probes[n].write_ok)
		{
			wbad++;
			printf("VIOLATION check 5: fenced write with the new token %" PRId64 " on %s refused (%s)\n",
				   probes[n].token, name_str(n), probes[n].write_state);
		}
	}
	verdict(5, "recovery", bad + wbad == 0,
			"%d names acquirable after clients were killed holding leases, slowest %.2f s; bound "
			"ttl + reap_interval = %.2f s (+ %.2f s grace); %d fenced writes with the new token refused",
			opt.names - bad, (double) worst / 1e6, (double) probe_bound_us / 1e6,
			(double) opt.grace_ms / 1e3, wbad);
}

static void
summarize_ops(void)
{
	size_t		cnt[128][3];

	memset(cnt, 0, sizeof cnt);
	for (size_t i = 0; i < nops; i++)
	{
		int			o = ops[i].outcome == OUT_OK ? 0 : ops[i].outcome == OUT_FAIL ? 1 : 2;

		cnt[(unsigned char) ops[i].type][o]++;
	}
	printf("operations (ok / failed / unknown):");
	{
		const char	types[] = {OP_ACQUIRE, OP_REACQUIRE, OP_RENEW, OP_WRITE, OP_RELEASE, OP_RERELEASE};

		for (size_t t = 0; t < sizeof types; t++)
		{
			unsigned char c = (unsigned char) types[t];

			printf(" %s %zu/%zu/%zu;", type_str(types[t]), cnt[c][0], cnt[c][1], cnt[c][2]);
		}
	}
	printf("\n");
	{
		size_t		granted = 0, null = 0, renew_false = 0;

		for (size_t i = 0; i < nops; i++)
		{
			if ((ops[i].type == OP_ACQUIRE || ops[i].type == OP_REACQUIRE) && ops[i].outcome == OUT_OK)
				(ops[i].result ? granted++ : null++);
			if (ops[i].type == OP_RENEW && ops[i].outcome == OUT_OK && !ops[i].result)
				renew_false++;
		}
		printf("acquires granted %zu, not granted within wait %zu; renewals refused %zu\n",
			   granted, null, renew_false);
	}
	printf("nemesis:");
	for (int k = 0; k < NEM_N; k++)
		if (k < NEM_FIRST_HA || nem_count[k] > 0)
			printf(" %s %d;", nem_names[k], nem_count[k]);
	printf(" clock offset at the end +%" PRId64 " s\n", clock_offset_s);
	if (clock_enabled && clock_offset_s > 0)
		printf("clock nemesis %s: server clock ahead of the real one by %.2f s at the end\n",
			   clock_ahead_us > clock_offset_s * 1000000 - 1000000 ? "took effect" : "DID NOT take effect",
			   (double) clock_ahead_us / 1e6);
}

/* ------------------------------------------------------------------ */
/* saved state, to analyze a history again (--analyze DIR)             */
/* ------------------------------------------------------------------ */

static void
write_run_info(void)
{
	char	   *path = path_in_out("run.info");
	FILE	   *f = fopen(path, "w");

	if (!f)
		die("cannot write %s", path);
	fprintf(f, "seed %" PRIu64 "\nclients %d\nnames %d\nttl_ms %d\nreap_ms %d\ngrace_ms %d\n"
			"fence %d\nserver_t0 %" PRId64 "\nprobe_bound_us %" PRId64 "\nprobe_srv_t0 %" PRId64
			"\nprobe_srv_t1 %" PRId64 "\nclock_enabled %d\nclock_offset_s %" PRId64
			"\nclock_ahead_us %" PRId64 "\nsessions %d\n",
			opt.seed, opt.clients, opt.names, opt.ttl_ms, opt.reap_ms, opt.grace_ms, opt.fence,
			server_t0, probe_bound_us, probe_srv_t0, probe_srv_t1, clock_enabled, clock_offset_s,
			clock_ahead_us, opt.sessions);
	for (int k = 0; k < NEM_N; k++)
		fprintf(f, "nemesis %d %d\n", k, nem_count[k]);
	for (int n = 0; n < opt.names; n++)
		fprintf(f, "probe %d %" PRId64 " %" PRId64 " %d %s\n", n, probes[n].elapsed_us,
				probes[n].token, probes[n].write_ok, probes[n].write_state[0] ? probes[n].write_state : "-");
	fclose(f);
	free(path);
}

static void
load_saved_run(void)
{
	char	   *path = path_in_out("run.info");
	FILE	   *f = fopen(path, "r");
	char		line[1024];
	int			iv;

	if (!f)
		die("cannot read %s", path);
	while (fgets(line, sizeof line, f))
	{
		int			k, v, n, w;
		int64_t		a, b;
		char		st[16];

		if (sscanf(line, "seed %" SCNu64, &opt.seed) == 1 ||
			sscanf(line, "clients %d", &opt.clients) == 1 ||
			sscanf(line, "names %d", &opt.names) == 1 ||
			sscanf(line, "ttl_ms %d", &opt.ttl_ms) == 1 ||
			sscanf(line, "sessions %d", &opt.sessions) == 1 ||
			sscanf(line, "reap_ms %d", &opt.reap_ms) == 1 ||
			sscanf(line, "grace_ms %d", &opt.grace_ms) == 1 ||
			sscanf(line, "server_t0 %" SCNd64, &server_t0) == 1 ||
			sscanf(line, "probe_bound_us %" SCNd64, &probe_bound_us) == 1 ||
			sscanf(line, "probe_srv_t0 %" SCNd64, &probe_srv_t0) == 1 ||
			sscanf(line, "probe_srv_t1 %" SCNd64, &probe_srv_t1) == 1 ||
			sscanf(line, "clock_offset_s %" SCNd64, &clock_offset_s) == 1 ||
			sscanf(line, "clock_ahead_us %" SCNd64, &clock_ahead_us) == 1)
			continue;
		if (sscanf(line, "fence %d", &iv) == 1)
			opt.fence = iv;
		else if (sscanf(line, "clock_enabled %d", &iv) == 1)
			clock_enabled = iv;
		else if (sscanf(line, "nemesis %d %d", &k, &v) == 2 && k >= 0 && k < NEM_N)
			nem_count[k] = v;
		else if (sscanf(line, "probe %d %" SCNd64 " %" SCNd64 " %d %15s", &n, &a, &b, &w, st) == 5 &&
				 n >= 0 && n < MAX_NAMES)
		{
			probes[n].elapsed_us = a;
			probes[n].token = b;
			probes[n].write_ok = w;
			snprintf(probes[n].write_state, sizeof probes[n].write_state, "%.5s",
					 strcmp(st, "-") ? st : "");
		}
	}
	fclose(f);
	free(path);

	/* forced ends and crash snapshots */
	path = path_in_out("nemesis.log");
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s", path);
	while (fgets(line, sizeof line, f))
	{
		char		how;
		int			name, k, n, present, released;
		int64_t		pre, post, ti, tc, tm, now, tok, exp;

		if (sscanf(line, "ha\t%d\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64,
				   &k, &haev[nhaev].t_inv, &haev[nhaev].t_fault, &haev[nhaev].t_primary,
				   &haev[nhaev].t_heal, &haev[nhaev].t_cmp) == 6 && nhaev < MAX_NEMESIS)
			haev[nhaev++].kind = k;
		else if (sscanf(line, "forced\t%c\t%d\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64,
				   &how, &name, &pre, &post, &ti, &tc) == 6)
		{
			add_forced(name, pre, post, ti, how);
			forced[nforced - 1].t_cmp = tc;
		}
		else if (sscanf(line, "snapshot\t%d\t%" SCNd64 "\t%" SCNd64 "\t%d\t%d\t%" SCNd64 "\t%" SCNd64 "\t%d",
						&k, &tm, &now, &n, &present, &tok, &exp, &released) == 8 &&
				 k >= 0 && k < MAX_SNAPSHOTS && n >= 0 && n < MAX_NAMES)
		{
			if (k >= nsnaps)
				nsnaps = k + 1;
			snaps[k].t_mono = tm;
			snaps[k].server_now = now;
			snaps[k].rows[n].present = present;
			snaps[k].rows[n].token = tok;
			snaps[k].rows[n].expires = exp;
			snaps[k].rows[n].released = released;
		}
	}
	fclose(f);
	free(path);

	/* the register */
	path = path_in_out("register.tsv");
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s", path);
	{
		size_t		cap = 1024;

		reg = xcalloc(cap, sizeof(RegRow));
		while (fgets(line, sizeof line, f))
		{
			char		res[64];

			if (nreg >= cap)
			{
				cap *= 2;
				reg = xrealloc(reg, cap * sizeof(RegRow));
			}
			if (sscanf(line, "%" SCNd64 "\t%63s\t%" SCNd64 "\t%" SCNd64, &reg[nreg].id, res,
					   &reg[nreg].token, &reg[nreg].op_id) == 4)
			{
				reg[nreg].name = atoi(res + 5);
				nreg++;
			}
		}
	}
	fclose(f);
	free(path);
}

/* median and maximum of V[0..n-1] (sorted in place), in seconds */
static void
median_max(int64_t *v, int n, double *med, double *max)
{
	qsort(v, (size_t) n, sizeof(int64_t), cmp_int64);
	*med = n ? (double) v[n / 2] / 1e6 : -1;
	*max = n ? (double) v[n - 1] / 1e6 : -1;
}

/*
 * What clients saw around each fault of an external cluster, per kind:
 * from the fault to the first grant invoked after it (median, worst), to a
 * writable new primary, and the longest acquire and renewal in flight
 * during it.  Not a check: the numbers for the README.
 */
static void
ha_report(void)
{
	if (nhaev == 0)
		return;
	printf("faults of the cluster (seconds from the fault; median / worst over the run):\n");
	printf("  %-19s %3s  %-15s  %-15s  %-15s  %-15s  %s\n", "fault", "n", "first grant",
		   "new primary", "acquire blocked", "renewal blocked", "no grant after");
	for (int k = NEM_FIRST_HA; k < NEM_N; k++)
	{
		int64_t    *grant = xcalloc((size_t) nhaev, sizeof(int64_t));
		int64_t    *prim = xcalloc((size_t) nhaev, sizeof(int64_t));
		int64_t    *acq = xcalloc((size_t) nhaev, sizeof(int64_t));
		int64_t    *ren = xcalloc((size_t) nhaev, sizeof(int64_t));
		int			n = 0, ng = 0, np = 0, nnone = 0;
		double		gm, gx, pm, px, am, ax, rm, rx;

		for (int i = 0; i < nhaev; i++)
		{
			const HaEvent *e = &haev[i];
			int64_t		first = INT64_MAX, amax = 0, rmax = 0;

			if (e->kind != k)
				continue;
			n++;
			for (size_t j = 0; j < nops; j++)
			{
				const Op   *op = &ops[j];
				bool		acquire = op->type == OP_ACQUIRE || op->type == OP_REACQUIRE;

				if (op->t_cmp == 0)
					continue;
				if (acquire && op->outcome == OUT_OK && op->result != 0 &&
					op->t_inv >= (e->t_primary ? e->t_primary : e->t_fault) && op->t_cmp < first)
					first = op->t_cmp;
				/* in flight while the fault lasted */
				if (op->t_inv <= e->t_cmp && op->t_cmp >= e->t_fault)
				{
					if (acquire && op->t_cmp - op->t_inv > amax)
						amax = op->t_cmp - op->t_inv;
					if (op->type == OP_RENEW && op->t_cmp - op->t_inv > rmax)
						rmax = op->t_cmp - op->t_inv;
				}
			}
			if (first != INT64_MAX)
				grant[ng++] = first - e->t_fault;
			else
				nnone++;
			if (e->t_primary)
				prim[np++] = e->t_primary - e->t_fault;
			acq[n - 1] = amax;
			ren[n - 1] = rmax;
		}
		if (n > 0)
		{
			char		g[32], pr[32], a[32], r[32];

			median_max(grant, ng, &gm, &gx);
			median_max(prim, np, &pm, &px);
			median_max(acq, n, &am, &ax);
			median_max(ren, n, &rm, &rx);
			snprintf(g, sizeof g, ng ? "%.2f / %.2f" : "-", gm, gx);
			snprintf(pr, sizeof pr, np ? "%.2f / %.2f" : "-", pm, px);
			snprintf(a, sizeof a, "%.2f / %.2f", am, ax);
			snprintf(r, sizeof r, "%.2f / %.2f", rm, rx);
			printf("  %-19s %3d  %-15s  %-15s  %-15s  %-15s  %d\n", nem_names[k], n, g, pr, a, r,
				   nnone);
		}
		free(grant);
		free(prim);
		free(acq);
		free(ren);
	}
}

static int
analyze(void)
{
	load_ops();
	build_leases();
	printf("\n== results (seed %" PRIu64 ", history in %s) ==\n", opt.seed, opt.out);
	summarize_ops();
	ha_report();
	check1();
	check2();
	check3();
	check4();
	check5();
	printf("RESULT: %s (%d of 5 checks failed; seed %" PRIu64 ")\n", results_failed ? "FAIL" : "PASS",
		   results_failed, opt.seed);
	fflush(stdout);
	return results_failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void
usage(void)
{
	printf("usage: lscheck --pgdata DIR --host SOCKETDIR --port N [options]\n"
		   "       lscheck --conninfo CONNINFO [--fault-cmd CMD] [options]\n"
		   "\n"
		   "  --pgdata DIR        data directory (created with initdb when --initdb and missing)\n"
		   "  --host DIR          unix socket directory of the server\n"
		   "  --port N            server port\n"
		   "  --bindir DIR        PostgreSQL programs (default /usr/lib/postgresql/15/bin)\n"
		   "  --out DIR           logs and history (default ./lscheck-out)\n"
		   "  --superuser NAME    superuser to connect as (default: $USER)\n"
		   "  --initdb            create the cluster when --pgdata has none\n"
		   "  --clients N         client processes (default 16)\n"
		   "  --names N           lock names (default 3)\n"
		   "  --duration S        seconds of faults (default 60)\n"
		   "  --ttl MS            lease ttl (default 1500)\n"
		   "  --reap-interval MS  lockservice.reap_interval (default 1000)\n"
		   "  --grace MS          extra time allowed in check 5 (default 3000)\n"
		   "  --seed N            random seed (default: from the time; always printed)\n"
		   "  --nemesis LIST      comma list of pause,terminate,kill,expire,clock or all, none\n"
		   "                      (default all)\n"
		   "  --no-fence          clients write without fence(): must FAIL check 2\n"
		   "  --unsafe-durability synchronous_commit = off, lockservice.sync_grants = off,\n"
		   "                      wal_writer_delay = 10s: check 4 is expected to FAIL under kill\n"
		   "  --faketime-lib PATH libfaketime (default /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1)\n"
		   "  --keep-server       leave the server running at the end\n"
		   "  --analyze DIR       run the checks again on the history saved in DIR (--out of a run)\n"
		   "\n"
		   "An external cluster (test/safety/run.sh --patroni):\n"
		   "  --conninfo STR      libpq conninfo of the cluster (multi-host, target_session_attrs=\n"
		   "                      read-write); dbname, user and application_name are added.\n"
		   "                      The checker then neither starts nor stops a server\n"
		   "  --fault-cmd CMD     applies the cluster's faults: CMD fault KIND [ARG], CMD heal\n"
		   "                      (scripts/ha.sh); enables the nemeses partition, partition-dcs,\n"
		   "                      partition-replicas, partition-clients, switchover, failover,\n"
		   "                      kill-primary, stop-patroni (\"all\": these with pause,\n"
		   "                      terminate, expire)\n"
		   "  --client-netns LIST clients enter these network namespaces in turn (needs root)\n"
		   "  --hold-min MS, --hold-max MS  partitions and the stopped Patroni last that long\n"
		   "                      (seeded; default 3000 to 20000)\n"
		   "\n"
		   "The checker owns the server: it stops it if running, adds its settings\n"
		   "(include 'OUT/lscheck.conf'), starts it (with libfaketime preloaded for the\n"
		   "clock nemesis), recreates database lscheck, and stops the server at the end.\n"
		   "Exit status: 0 all checks passed, 1 a check failed, 2 setup error.\n");
}

/*
 * --nemesis LIST.  "all" means every fault the mode can apply: with a server
 * of our own the first five, with --conninfo (an external cluster) pause,
 * terminate, expire and the cluster's faults; resolved in main().
 */
static bool nem_all;

static void
parse_nemesis(const char *s)
{
	char	   *copy = strdup(s), *tok, *save = NULL;

	memset(opt.nem_on, 0, sizeof opt.nem_on);
	nem_all = false;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		int			k;

		if (strcmp(tok, "all") == 0)
		{
			nem_all = true;
			continue;
		}
		if (strcmp(tok, "none") == 0)
			continue;
		for (k = 0; k < NEM_N; k++)
			if (strcmp(tok, nem_names[k]) == 0)
				break;
		if (k == NEM_N)
		{
			fprintf(stderr, "lscheck: unknown nemesis '%s'\n", tok);
			exit(2);
		}
		opt.nem_on[k] = true;
	}
	free(copy);
}

int
main(int argc, char **argv)
{
	static struct option longopts[] = {
		{"pgdata", required_argument, NULL, 'D'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"bindir", required_argument, NULL, 'b'},
		{"out", required_argument, NULL, 'o'},
		{"superuser", required_argument, NULL, 'U'},
		{"initdb", no_argument, NULL, 'I'},
		{"clients", required_argument, NULL, 'c'},
		{"names", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'd'},
		{"ttl", required_argument, NULL, 't'},
		{"reap-interval", required_argument, NULL, 'r'},
		{"grace", required_argument, NULL, 'g'},
		{"seed", required_argument, NULL, 's'},
		{"nemesis", required_argument, NULL, 'N'},
		{"no-fence", no_argument, NULL, 'F'},
		{"unsafe-durability", no_argument, NULL, 'X'},
		{"faketime-lib", required_argument, NULL, 'L'},
		{"keep-server", no_argument, NULL, 'K'},
		{"analyze", required_argument, NULL, 'A'},
		{"conninfo", required_argument, NULL, 'C'},
		{"fault-cmd", required_argument, NULL, 'M'},
		{"client-netns", required_argument, NULL, 'S'},
		{"hold-max", required_argument, NULL, 'H'},
		{"hold-min", required_argument, NULL, 'h' + 256},
		{"sessions", required_argument, NULL, 's' + 256},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	bool		seed_given = false;
	const char *analyze_dir = NULL;
	int			order[NEM_N], norder = 0, pos = 0;
	int64_t		fault_end;
	struct sigaction sa;

	run_start_mono = mono_us();
	coordinator_pid = getpid();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	opt.bindir = "/usr/lib/postgresql/15/bin";
	opt.out = "lscheck-out";
	opt.dbname = "lscheck";
	{
		struct passwd *pw = getpwuid(getuid());

		opt.superuser = pw ? strdup(pw->pw_name) : "postgres";
	}
	opt.clients = 16;
	opt.names = 3;
	opt.duration = 60;
	opt.ttl_ms = 1500;
	opt.reap_ms = 1000;
	opt.grace_ms = 3000;
	opt.hold_min_ms = 3000;
	opt.hold_max_ms = 20000;
	opt.fence = true;
	opt.faketime_lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
	parse_nemesis("all");

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'D':
				opt.pgdata = optarg;
				break;
			case 'h':
				opt.host = optarg;
				break;
			case 'p':
				opt.port = atoi(optarg);
				break;
			case 'b':
				opt.bindir = optarg;
				break;
			case 'o':
				opt.out = optarg;
				break;
			case 'U':
				opt.superuser = optarg;
				break;
			case 'I':
				opt.initdb = true;
				break;
			case 'c':
				opt.clients = atoi(optarg);
				break;
			case 'n':
				opt.names = atoi(optarg);
				break;
			case 'd':
				opt.duration = atoi(optarg);
				break;
			case 't':
				opt.ttl_ms = atoi(optarg);
				break;
			case 'r':
				opt.reap_ms = atoi(optarg);
				break;
			case 'g':
				opt.grace_ms = atoi(optarg);
				break;
			case 's':
				opt.seed = strtoull(optarg, NULL, 10);
				seed_given = true;
				break;
			case 'N':
				parse_nemesis(optarg);
				break;
			case 'F':
				opt.fence = false;
				break;
			case 'X':
				opt.unsafe = true;
				break;
			case 'L':
				opt.faketime_lib = optarg;
				break;
			case 'K':
				opt.keep_server = true;
				break;
			case 'A':
				analyze_dir = optarg;
				break;
			case 'C':
				opt.conninfo = optarg;
				break;
			case 'M':
				opt.fault_cmd = optarg;
				break;
			case 'S':
				{
					char	   *copy = strdup(optarg), *tok, *save = NULL;

					opt.n_client_netns = 0;
					for (tok = strtok_r(copy, ",", &save); tok && opt.n_client_netns < 8;
						 tok = strtok_r(NULL, ",", &save))
						opt.client_netns[opt.n_client_netns++] = tok;
				}
				break;
			case 'H':
				opt.hold_max_ms = atoi(optarg);
				break;
			case 'h' + 256:
				opt.hold_min_ms = atoi(optarg);
				break;
			case 's' + 256:
				opt.sessions = atoi(optarg);
				break;
			default:
				usage();
				exit(c == '?' && optind > 0 && strcmp(argv[optind - 1], "--help") == 0 ? 0 : 2);
		}
	}
	if (analyze_dir)
	{
		/* check a saved history again: no server, no clients */
		opt.out = analyze_dir;
		snaps = xcalloc(MAX_SNAPSHOTS, sizeof(Snapshot));
		haev = xcalloc(MAX_NEMESIS, sizeof(HaEvent));
		nemlog = fopen("/dev/null", "w");
		load_saved_run();
		return analyze();
	}
	if (!opt.conninfo && (!opt.pgdata || !opt.host || opt.port <= 0))
	{
		usage();
		exit(2);
	}
	/* which faults "all" means, and which this mode can apply */
	for (int k = 0; k < NEM_N; k++)
	{
		bool		own = k < NEM_FIRST_HA;
		bool		possible = opt.conninfo ? (k == NEM_PAUSE || k == NEM_TERMINATE ||
											   k == NEM_EXPIRE || (!own && opt.fault_cmd))
			: own;

		if (nem_all)
			opt.nem_on[k] = possible;
		else if (opt.nem_on[k] && !possible)
		{
			fprintf(stderr, "lscheck: nemesis %s needs %s\n", nem_names[k],
					own ? "a server of the checker's own (--pgdata; not --conninfo)"
					: "--conninfo and --fault-cmd");
			exit(2);
		}
	}
	if (opt.hold_min_ms < 100 || opt.hold_max_ms < opt.hold_min_ms)
	{
		fprintf(stderr, "lscheck: --hold-min must be at least 100 ms and at most --hold-max\n");
		exit(2);
	}
	if (opt.clients < 1 || opt.clients >= MAX_CLIENTS - 1 || opt.names < 1 ||
		opt.names > MAX_NAMES || opt.ttl_ms < 100 || opt.duration < 0 || opt.reap_ms < 10)
	{
		fprintf(stderr, "lscheck: bad --clients, --names, --ttl, --reap-interval or --duration\n");
		exit(2);
	}
	if (!seed_given)
		opt.seed = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 16);
	nrng.s = opt.seed;
	mkdir(opt.out, 0755);
	{
		/*
		 * absolute from here on: the server reads OUT/lscheck.conf through an
		 * include in its own postgresql.conf, relative to the data directory
		 */
		char	   *abs = realpath(opt.out, NULL);

		if (abs == NULL)
			die("cannot use --out %s: %s", opt.out, strerror(errno));
		opt.out = abs;
	}

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* the clock nemesis needs libfaketime */
	if (opt.nem_on[NEM_CLOCK] && access(opt.faketime_lib, R_OK) != 0)
	{
		printf("NOTE: clock nemesis skipped: %s not found (Debian package libfaketime)\n",
			   opt.faketime_lib);
		opt.nem_on[NEM_CLOCK] = false;
	}
	clock_enabled = opt.nem_on[NEM_CLOCK];
	if (clock_enabled)
	{
		char		buf[PATH_MAX];

		faketime_file = path_in_out("faketime.rc");
		if (faketime_file[0] != '/' && getcwd(buf, sizeof buf))
		{
			char	   *abs;

			if (asprintf(&abs, "%s/%s", buf, faketime_file) < 0)
				die("out of memory");
			faketime_file = abs;
		}
		write_offset_file(0);
	}

	{
		char		kinds[512] = "";
		char		mode[64] = "";

		for (int k = 0; k < NEM_N; k++)
			if (opt.nem_on[k])
				snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s",
						 kinds[0] ? "," : "", nem_names[k]);
		if (opt.sessions > 0)
			snprintf(mode, sizeof mode, ", session mode (%d names a session)",
					 opt.sessions < opt.names ? opt.sessions : opt.names);
		printf("lscheck: seed %" PRIu64 ", %d clients, %d names, ttl %d ms, reap_interval %d ms, "
			   "faults for %d s, nemesis %s, fencing %s%s%s%s\n",
			   opt.seed, opt.clients, opt.names, opt.ttl_ms, opt.reap_ms, opt.duration,
			   kinds[0] ? kinds : "none", opt.fence ? "on" : "OFF", mode,
			   opt.unsafe ? ", UNSAFE durability (synchronous_commit = off, sync_grants = off)" : "",
			   opt.conninfo ? ", external cluster" : "");
	}
	printf("reproduce with: --seed %" PRIu64 " (fault kinds and targets follow the seed; timing does not)\n",
		   opt.seed);

	/* the server: ours, or an external cluster */
	if (!opt.conninfo)
	{
		if (opt.initdb)
			do_initdb();
		write_conf();
		if (postmaster_pid() > 0)
			server_stop();
		server_start();
	}
	setup_database();

	nemlog = fopen(path_in_out("nemesis.log"), "w");
	if (!nemlog)
		die("cannot write nemesis.log");
	nemev = xcalloc(MAX_NEMESIS, sizeof(NemEvent));
	haev = xcalloc(MAX_NEMESIS, sizeof(HaEvent));
	snaps = xcalloc(MAX_SNAPSHOTS, sizeof(Snapshot));
	admin_connect();
	ensure_reap_interval();
	server_t0 = server_now();

	/* the clients */
	shm = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(shm, 0, sizeof(Shared));
	fflush(NULL);
	for (int i = 0; i < opt.clients; i++)
	{
		pid_t		pid = fork();

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0)
		{
			/* never outlive the coordinator */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != coordinator_pid)
				_exit(2);
			if (admin)
			{
				/* not ours to use; do not send a Terminate either */
				admin = NULL;
			}
			client_main(i);
		}
		child_pid[i] = pid;
		shm->c[i].pid = pid;
	}
	say("%d clients started", opt.clients);

	/* the nemesis: a seeded shuffle of the enabled faults, round after round */
	fault_end = mono_us() + (int64_t) opt.duration * 1000000;
	/* an external cluster's run always ends a round: every fault enabled happens */
	while ((mono_us() < fault_end || (opt.conninfo && pos < norder)) && !interrupted)
	{
		int			kind;

		if (pos >= norder)
		{
			norder = 0;
			for (int k = 0; k < NEM_N; k++)
				if (opt.nem_on[k])
					order[norder++] = k;
			for (int i = norder - 1; i > 0; i--)
			{
				int			j = (int) rng_range(&nrng, 0, i);
				int			t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
			pos = 0;
		}
		if (!sleep_checked(rng_range(&nrng, 500000, 1500000)))
			break;
		if (norder == 0)
			continue;
		kind = order[pos++];
		switch (kind)
		{
			case NEM_PAUSE:
				nem_pause();
				break;
			case NEM_TERMINATE:
				nem_terminate();
				break;
			case NEM_KILL:
				nem_kill();
				break;
			case NEM_EXPIRE:
				nem_expire();
				break;
			case NEM_CLOCK:
				nem_clock();
				break;
			default:
				nem_ha(kind);
				break;
		}
	}
	if (interrupted)
	{
		printf("interrupted\n");
		cleanup_and_exit(2);
	}

	/* faults stop; clients run on undisturbed for a moment, then die holding leases */
	for (int i = 0; i < opt.clients; i++)
		if (child_pid[i] > 0)
			kill(child_pid[i], SIGCONT);
	say("faults stopped; clients run 2 s more, then are killed");
	sleep_checked(2000000);
	shm->stop = 1;
	kill_clients();
	say("clients killed; probing every lock (check 5)");
	final_probes();
	load_register();
	if (clock_enabled)
	{
		struct timeval tv;
		int64_t		real, srvnow;

		srvnow = server_now();
		gettimeofday(&tv, NULL);
		real = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
		clock_ahead_us = srvnow - real;
		say("server clock is %.2f s ahead of the real clock (faketime offset +%" PRId64 " s)",
			(double) clock_ahead_us / 1e6, clock_offset_s);
	}
	if (!opt.conninfo)
	{
		say("done; stopping the server");
		if (!opt.keep_server)
			server_stop();
	}
	if (admin)
		PQfinish(admin);
	admin = NULL;

	write_run_info();
	return analyze();
}
