/*-------------------------------------------------------------------------
 *
 * lockctl_run.c
 *	  lockctl run and lockctl elect: hold a lease while a command runs.
 *
 * The supervisor: waits for the lease, starts the command in its own
 * process group, renews the lease with the keepalive (lockservice_client.c)
 * and, when the lease is lost, sends the group SIGTERM at once and SIGKILL
 * after --grace.  Signals to lockctl are forwarded to the group.  When the
 * command ends, what is left of its process group is stopped the same way
 * before the lease is released, so the protected work never outlives the
 * lease it ran under.
 *
 * What stops the command if lockctl itself dies:
 *	- the command gets SIGKILL from the kernel when lockctl dies, also by
 *	  SIGKILL or a crash (PR_SET_PDEATHSIG);
 *	- that covers the command's own process only.  Its children get no
 *	  signal unless they die with it (a shell's pipeline usually does), and
 *	  a set-user-ID program clears the setting when it starts.
 *	- the lease itself then ends at its ttl on the server.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockctl.h"

/* ---- private variables ---- */

/* the signals lockctl passes on to the command's process group */
static const int forwarded_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2
};
#define N_FORWARDED (int) (sizeof(forwarded_signals) / sizeof(forwarded_signals[0]))

/* process group of the running command; 0 before it started */
static volatile pid_t command_pgid = 0;
/* a forwarded signal that arrived before the command started */
static volatile int interrupted = 0;
/* written by the signal handlers to wake the main loop */
static int wake_pipe[2] = {-1, -1};
/* dispositions and mask lockctl started with, restored for the command */
static struct sigaction original_actions[N_FORWARDED + 2];
static sigset_t original_mask;

static const char *const run_help =
"Usage: lockctl run NAME... [OPTIONS] -- COMMAND [ARGS...]\n"
"\n"
"Waits for the lease NAME, runs COMMAND while renewing the lease, releases it\n"
"when COMMAND ends and exits with COMMAND's status.  COMMAND gets\n"
"LOCKSERVICE_NAME, LOCKSERVICE_TOKEN (the fencing token) and\n"
"LOCKSERVICE_HOLDER in its environment, and runs in its own process group.\n"
"\n"
"Several names: lockctl opens one session (--ttl, --holder) and waits for all\n"
"the names at once, holding none of them while it waits (overlapping sets\n"
"never deadlock); the session's one renewal keeps them all, and they are lost\n"
"together.  COMMAND also gets LOCKSERVICE_NAME_<i> and LOCKSERVICE_TOKEN_<i>\n"
"for each name (from 1, in the order given), LOCKSERVICE_TOKENS (the tokens,\n"
"space-separated) and LOCKSERVICE_SESSION; LOCKSERVICE_NAME and _TOKEN are\n"
"the first name's.  When COMMAND ends the session is closed.\n"
"\n"
"  --ttl=D           lease (or session) length (default 30s)\n"
"  --wait=D          how long to wait for the lease (default 0: try once;\n"
"                    'forever' waits without limit)\n"
"  --grace=D         time between SIGTERM and SIGKILL (default 10s)\n"
"  --holder=ID       holder id (default: host:pid:random)\n"
"  --renew-every=D   time between renewals (default ttl/3)\n"
"  --margin=D        safety margin (default ttl/5): without a confirmed\n"
"                    renewal the lease counts as lost at ttl - margin after\n"
"                    the last confirmed renewal was sent\n"
"\n"
"Lease lost (a renewal answered false, or no renewal was confirmed in time):\n"
"COMMAND's process group gets SIGTERM at once and SIGKILL after --grace (or\n"
"earlier, when the lease could still be running out on the server, at its\n"
"local deadline); lockctl exits with 3.\n"
"Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to\n"
"lockctl are passed to COMMAND's process group.  If lockctl dies, even by\n"
"SIGKILL, COMMAND gets SIGKILL (PR_SET_PDEATHSIG); its own children do not.\n"
"When COMMAND ends, processes left in its group get SIGTERM (SIGKILL after\n"
"--grace) before the lease is released.  COMMAND is not in the terminal's\n"
"foreground: reading from the terminal stops it.\n"
"\n"
"Exit status: COMMAND's status (128+N when killed by signal N, 126 not\n"
"executable, 127 not found), 2 not acquired within --wait, 3 lease lost,\n"
"1 usage or server error, 4 connection failed before COMMAND started.\n";

static const char *const elect_help =
"Usage: lockctl elect NAME... [OPTIONS] -- COMMAND [ARGS...]\n"
"\n"
"Campaigns for leadership of NAME: waits without limit for the lease (and\n"
"through connection failures), then runs COMMAND as the leader with the same\n"
"guarantees as 'lockctl run'.  Options as for run, without --wait.  Several\n"
"instances on several machines campaign for the same NAME; one at a time\n"
"runs COMMAND.  Several names are taken all at once in one session, as for\n"
"run.  The first connection must succeed (exit 4 otherwise, so a\n"
"wrong connection string shows at once); later failures are retried.\n"
"Exit status as for run.\n";

/* ---- signal handling ---- */

/* forwards a signal to the command's group, or records it before the start */
static void
ForwardSignal(int sig)
{
	int			saved_errno = errno;
	pid_t		pgid = command_pgid;

	if (pgid > 0)
		(void) kill(-pgid, sig);
	else
		interrupted = sig;
	if (write(wake_pipe[1], "s", 1) < 0)
	{
		/* the pipe is full: the main loop wakes anyway */
	}
	errno = saved_errno;
}

/* wakes the main loop when a child process changes state */
static void
ChildSignal(int sig)
{
	int			saved_errno = errno;

	(void) sig;
	if (write(wake_pipe[1], "c", 1) < 0)
	{
		/* the pipe is full: the main loop wakes anyway */
	}
	errno = saved_errno;
}

/* installs the handlers; false after printing why */
static bool
SetUpSignals(void)
{
	struct sigaction sa;
	int			i;

	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
	{
		lc_error("could not create a pipe: %s", strerror(errno));
		return false;
	}
	sigprocmask(SIG_SETMASK, NULL, &original_mask);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;			/* no SA_RESTART: waits see EINTR */
	sa.sa_handler = ForwardSignal;
	for (i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded_signals[i], &sa, &original_actions[i]);
	sa.sa_handler = ChildSignal;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, &original_actions[N_FORWARDED]);
	/* SIGPIPE was set to SIG_IGN by main; the command gets the default */
	return true;
}

/* in the command's process: dispositions and mask as lockctl found them */
static void
RestoreSignals(void)
{
	struct sigaction dfl;
	int			i;

	for (i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded_signals[i], &original_actions[i], NULL);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &original_mask, NULL);
}

/* waits up to ms for a signal; drains the wake-up pipe */
static void
SleepUntilWoken(int64_t ms)
{
	struct pollfd pfd;
	char		buf[64];

	pfd.fd = wake_pipe[0];
	pfd.events = POLLIN;
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	if (ms > 0)
		(void) poll(&pfd, 1, (int) ms);
	while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* ---- the command ---- */

/*
 * The command's environment: LOCKSERVICE_NAME and LOCKSERVICE_TOKEN of the
 * first name, LOCKSERVICE_NAME_<i> and LOCKSERVICE_TOKEN_<i> of each (from
 * 1, in the order given), LOCKSERVICE_TOKENS (space-separated, same order),
 * LOCKSERVICE_HOLDER, and LOCKSERVICE_SESSION when a session keeps them.
 * Runs in the child between fork and exec.
 */
static void
SetCommandEnvironment(const char *const *names, int nnames,
					  const int64_t *tokens, const char *holder,
					  int64_t session)
{
	char		var[64];
	char		value[32];
	size_t		size = (size_t) nnames * 21 + 1;
	char	   *all = malloc(size);

	for (int i = 0; i < nnames; i++)
	{
		snprintf(value, sizeof(value), "%" PRId64, tokens[i]);
		snprintf(var, sizeof(var), "LOCKSERVICE_NAME_%d", i + 1);
		setenv(var, names[i], 1);
		snprintf(var, sizeof(var), "LOCKSERVICE_TOKEN_%d", i + 1);
		setenv(var, value, 1);
		if (i == 0)
		{
			setenv("LOCKSERVICE_NAME", names[i], 1);
			setenv("LOCKSERVICE_TOKEN", value, 1);
		}
		if (all != NULL)
		{
			if (i == 0)
				all[0] = '\0';
			else
				strcat(all, " ");
			strcat(all, value);
		}
	}
	if (all != NULL)
		setenv("LOCKSERVICE_TOKENS", all, 1);
	free(all);
	setenv("LOCKSERVICE_HOLDER", holder, 1);
	if (session != 0)
	{
		snprintf(value, sizeof(value), "%" PRId64, session);
		setenv("LOCKSERVICE_SESSION", value, 1);
	}
}

/* starts argv in its own process group; returns its pid, or -1 */
static pid_t
StartCommand(char **command, const char *const *names, int nnames,
			 const int64_t *tokens, const char *holder, int64_t session)
{
	sigset_t	all;
	sigset_t	before;
	pid_t		parent = getpid();
	pid_t		pid;

	/* no forwarded signal may fall between fork and the group's creation */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &before);
	pid = fork();
	if (pid < 0)
	{
		sigprocmask(SIG_SETMASK, &before, NULL);
		lc_error("could not start the command: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
	{
		(void) setpgid(0, 0);
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(LC_EXIT_LOST);	/* lockctl died before we got here */
		RestoreSignals();
		SetCommandEnvironment(names, nnames, tokens, holder, session);
		execvp(command[0], command);
		fprintf(stderr, "lockctl: cannot run \"%s\": %s\n", command[0],
				strerror(errno));
		_exit(errno == ENOENT ? LC_EXIT_NOT_FOUND : LC_EXIT_NOT_EXEC);
	}
	(void) setpgid(pid, pid);	/* either of us may get there first */
	command_pgid = pid;
	sigprocmask(SIG_SETMASK, &before, NULL);
	return pid;
}

/* reaps every exited child; sets *status when the command was one */
static bool
ReapChildren(pid_t command, int *status)
{
	bool		command_ended = false;
	pid_t		pid;
	int			st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == command)
		{
			*status = st;
			command_ended = true;
		}
	return command_ended;
}

/* true while any process is left in the group */
static bool
GroupAlive(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/* the exit code for a wait status */
static int
ExitCodeOf(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return LC_EXIT_ERROR;
}

/* keepalive progress: renewals with -vv, trouble with -v */
static void
KeepaliveLog(void *arg, const char *message)
{
	(void) arg;
	if (lc_common.verbose >= 2 ||
		(lc_common.verbose >= 1 && strncmp(message, "renewed", 7) != 0))
		lc_error("%s", message);
}

/* ---- run and elect ---- */

typedef struct RunOptions
{
	const char *const *names;	/* several: all or none, in one session */
	int			nnames;
	char	  **command;
	int64_t		ttl;
	int64_t		wait;
	int64_t		grace;
	int64_t		interval;		/* 0: ttl/3 */
	int64_t		margin;			/* -1: ttl/5 */
	const char *holder;
	bool		elect;
} RunOptions;

/* what lockctl holds: one lease, or a session that keeps every name */
typedef struct Held
{
	LsClient   *client;			/* renews and releases */
	LsKeepalive *ka;			/* NULL until something is held */
	int64_t		session;		/* 0: one lease of its own */
	int64_t    *tokens;			/* one per name */
	char		what[96];		/* "lease NAME" or "session N", for messages */
} Held;

/* a keepalive for what was just granted, with the run's settings */
static bool
StartKeepalive(Held *held, RunOptions *opts, int64_t sent_at)
{
	if (held->session != 0)
	{
		held->ka = ls_keepalive_new_session(held->client, held->session,
											opts->ttl, sent_at);
		snprintf(held->what, sizeof(held->what), "session %" PRId64,
				 held->session);
	}
	else
	{
		held->ka = ls_keepalive_new(held->client, opts->names[0],
									held->tokens[0], opts->ttl, sent_at);
		snprintf(held->what, sizeof(held->what), "lease %s", opts->names[0]);
	}
	if (held->ka == NULL)
	{
		lc_error("out of memory");
		return false;
	}
	if (opts->interval > 0)
		ls_keepalive_set_interval(held->ka, opts->interval);
	if (opts->margin >= 0)
		ls_keepalive_set_margin(held->ka, opts->margin);
	ls_keepalive_set_log(held->ka, KeepaliveLog, NULL);
	return true;
}

/*
 * Releases what is held, trying until limit; best effort.  A session is
 * closed, which releases every lock in it.
 */
static void
ReleaseHeld(Held *held, RunOptions *opts, int64_t limit, bool quiet)
{
	LsStatus	st;
	int64_t		backoff = 100;

	for (;;)
	{
		ls_set_deadline(held->client, limit);
		if (held->session != 0)
			st = ls_session_close(held->client, held->session);
		else
			st = ls_release(held->client, opts->names[0], held->tokens[0]);
		ls_set_deadline(held->client, 0);
		if (st == LS_OK)
		{
			if (held->session != 0)
				lc_info("closed session %" PRId64 ": released its %d locks",
						held->session, opts->nnames);
			else
				lc_info("released %s", opts->names[0]);
			return;
		}
		if (st == LS_NO)
		{
			if (!quiet)
				lc_error("warning: the %s had already ended when it was released",
						 held->what);
			return;
		}
		if ((st != LS_UNCONFIRMED && st != LS_NOT_CONNECTED) ||
			ls_now_ms() + backoff >= limit)
			break;
		SleepUntilWoken(backoff);
		backoff *= 2;
	}
	if (!quiet)
		lc_error("could not release the %s (%s); it ends by itself at its ttl",
				 held->what, ls_error(held->client));
}

/* drops a session that ended or was never used: best effort, quiet */
static void
DropSession(Held *held, RunOptions *opts)
{
	if (held->session != 0)
		ReleaseHeld(held, opts, ls_now_ms() + 1000, true);
	ls_set_wait_keepalive(held->client, NULL);
	ls_keepalive_free(held->ka);
	held->ka = NULL;
	held->session = 0;
}

/* the names, for messages: "a", or "a, b and c" (static buffer) */
static const char *
NamesText(RunOptions *opts)
{
	static char text[512];

	text[0] = '\0';
	for (int i = 0; i < opts->nnames; i++)
	{
		size_t		len = strlen(text);

		snprintf(text + len, sizeof(text) - len, "%s%s",
				 i == 0 ? "" : i == opts->nnames - 1 ? " and " : ", ",
				 opts->names[i]);
	}
	return text;
}

/*
 * Several names: opens the session that will keep them, on held->client,
 * and keeps it alive through the waiting acquire on client.
 */
static LsStatus
OpenSession(LsClient *client, Held *held, RunOptions *opts,
			const char *holder)
{
	int64_t		sent_at;
	LsStatus	st;

	st = ls_session_open(held->client, holder, opts->ttl, &held->session,
						 &sent_at);
	if (st != LS_OK)
	{
		held->session = 0;
		return st;
	}
	lc_info("opened session %" PRId64, held->session);
	if (!StartKeepalive(held, opts, sent_at))
	{
		DropSession(held, opts);
		return LS_BAD_ARGUMENT;
	}
	ls_set_wait_keepalive(client, held->ka);
	return LS_OK;
}

/*
 * Waits for the lease, or with several names for all of them in one
 * session.  Returns LC_EXIT_OK with held filled in, or the exit code after
 * printing why (nothing held).
 */
static int
AcquireForRun(LsClient *client, RunOptions *opts, const char *holder,
			  Held *held)
{
	const char *what = opts->elect ? "elect" : "run";
	int64_t		start = ls_now_ms();
	int64_t		give_up = opts->wait == LS_WAIT_FOREVER ? 0 : start + opts->wait;
	int64_t		backoff = 100;
	int64_t		first_failure = 0;
	int64_t		last_report = 0;
	int64_t		sent_at = 0;
	bool		in_session = opts->nnames > 1;
	LsClient   *failed = client;	/* the client whose call failed */

	ls_set_interrupt_flag(client, &interrupted);
	ls_set_interrupt_flag(held->client, &interrupted);
	for (;;)
	{
		int64_t		wait = LS_WAIT_FOREVER;
		int64_t		now = ls_now_ms();
		LsStatus	st = LS_OK;

		if (give_up != 0)
			wait = give_up > now ? give_up - now : 0;
		failed = held->client;
		if (in_session && held->session == 0)
			st = OpenSession(client, held, opts, holder);
		if (st == LS_OK)
		{
			failed = client;
			if (in_session)
				st = ls_acquire_all_in_session(client, opts->names,
											   opts->nnames, held->session,
											   wait, held->tokens);
			else
				st = ls_acquire(client, opts->names[0], holder, opts->ttl,
								wait, held->tokens, &sent_at);
		}
		if (interrupted)
		{
			lc_error("%s: interrupted (signal %d) while waiting for %s; nothing acquired",
					 what, interrupted, NamesText(opts));
			ls_disconnect(client);	/* the server aborts the waiting grant */
			ls_set_interrupt_flag(held->client, NULL);
			DropSession(held, opts);
			return 128 + interrupted;
		}
		if (st == LS_OK)
			break;
		if (st == LS_NO)
		{
			for (int i = 0; i < opts->nnames; i++)
				lc_report_holder(client, opts->names[i]);
			lc_error("%s: %s %s not acquired; the command was not run",
					 what, NamesText(opts), in_session ? "were" : "was");
			DropSession(held, opts);
			return LC_EXIT_NO;
		}
		now = ls_now_ms();
		if (in_session && held->session != 0 &&
			(ls_keepalive_reason(held->ka) != LS_LOST_NOT_LOST ||
			 (st == LS_SERVER_ERROR &&
			  strcmp(ls_sqlstate(client), "LS006") == 0)))
		{
			/* the session ended while we waited: nothing held, start over */
			lc_error("%s: session %" PRId64 " ended while waiting for %s; opening a new one",
					 what, held->session, NamesText(opts));
			DropSession(held, opts);
			continue;
		}
		if (st == LS_SERVER_ERROR &&
			strcmp(ls_sqlstate(failed), "57014") == 0 &&
			(give_up == 0 || now < give_up))
		{
			/* statement_timeout or a cancel ended the wait: wait again */
			lc_info("%s: wait for %s interrupted by the server (%s); waiting again",
					what, NamesText(opts), ls_error(failed));
			continue;
		}
		if (st != LS_UNCONFIRMED && st != LS_NOT_CONNECTED)
		{
			int			rc = lc_failure(failed, st, what);

			DropSession(held, opts);
			return rc;
		}

		/*
		 * Connection trouble: retry (the same holder, or the same session,
		 * gets the same locks back if they were granted) for as long as we
		 * would wait, and at least 5 s.
		 */
		if (first_failure == 0)
			first_failure = now;
		if (give_up != 0 && now >= give_up && now >= first_failure + 5000)
		{
			lc_error("%s: %s; the command was not run", what, ls_error(failed));
			if (st == LS_UNCONFIRMED && !in_session)
				lc_error("%s may have been granted to holder %s; it then ends by itself within its ttl",
						 opts->names[0], holder);
			DropSession(held, opts);
			return LC_EXIT_CONNECTION;
		}
		/* say so at the first failure, then once a minute (all with -v) */
		if (lc_common.verbose > 0 || last_report == 0 ||
			now - last_report >= 60000)
		{
			lc_error("%s: %s; retrying", what, ls_error(failed));
			last_report = now;
		}
		SleepUntilWoken(backoff);
		if (interrupted)
		{
			lc_error("%s: interrupted (signal %d) while waiting for %s",
					 what, interrupted, NamesText(opts));
			ls_set_interrupt_flag(held->client, NULL);
			DropSession(held, opts);
			return 128 + interrupted;
		}
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
	ls_set_interrupt_flag(client, NULL);
	ls_set_interrupt_flag(held->client, NULL);
	if (in_session)
	{
		/* from now on the session's connection does everything */
		ls_set_wait_keepalive(client, NULL);
		ls_disconnect(client);
		return LC_EXIT_OK;
	}
	return StartKeepalive(held, opts, sent_at) ? LC_EXIT_OK : LC_EXIT_ERROR;
}

/* holds the lease while the command runs; returns the exit code */
static int
Supervise(Held *held, RunOptions *opts, const char *holder)
{
	LsKeepalive *ka = held->ka;
	pid_t		command;
	int			status = 0;
	bool		command_ended = false;
	bool		lost = false;
	bool		stopping = false;	/* SIGTERM sent to the group */
	bool		killed = false; /* SIGKILL sent to the group */
	int64_t		kill_at = 0;
	int64_t		now;
	char		text[32];

	if (ls_now_ms() >= ls_keepalive_lost_at(ka))
	{
		lc_error("%s %s granted too late to be used safely; the command was not run",
				 NamesText(opts), opts->nnames > 1 ? "were" : "was");
		ReleaseHeld(held, opts, ls_now_ms() + 5000, true);
		return LC_EXIT_LOST;
	}
	for (int i = 0; i < opts->nnames; i++)
		lc_info("%s %s (token %" PRId64 ", holder %s%s%s)",
				opts->elect ? "elected leader of" : "acquired", opts->names[i],
				held->tokens[i], holder, held->session ? ", " : "",
				held->session ? held->what : "");

	(void) prctl(PR_SET_CHILD_SUBREAPER, 1);
	command = StartCommand(opts->command, opts->names, opts->nnames,
						   held->tokens, holder, held->session);
	if (command < 0)
	{
		ReleaseHeld(held, opts, ls_now_ms() + 5000, false);
		return LC_EXIT_ERROR;
	}

	for (;;)
	{
		int64_t		wake;

		if (!command_ended && ReapChildren(command, &status))
			command_ended = true;
		else if (command_ended)
			(void) ReapChildren(command, &status);
		now = ls_now_ms();

		if (command_ended)
		{
			if (!GroupAlive(command))
				break;
			if (!stopping)
			{
				lc_info("the command ended; stopping what is left of its process group");
				(void) kill(-command, SIGTERM);
				stopping = true;
				kill_at = now + opts->grace;
			}
		}

		if (!lost && ls_keepalive_step(ka) == LS_LEASE_LOST)
		{
			lost = true;
			now = ls_now_ms();
			if (!killed)
			{
				int64_t		by_grace = now + opts->grace;

				/* without confirmation the lease may end at its deadline */
				if (ls_keepalive_reason(ka) == LS_LOST_UNCONFIRMED &&
					ls_keepalive_deadline(ka) < by_grace)
					by_grace = ls_keepalive_deadline(ka);
				if (!stopping || by_grace < kill_at)
					kill_at = by_grace;
				(void) kill(-command, SIGTERM);
				stopping = true;
			}
			ls_format_duration(kill_at - now, text, sizeof(text));
			if (ls_keepalive_reason(ka) == LS_LOST_NOT_HELD && held->session)
				lc_error("lease lost: %s (keeping %s) has ended; sent SIGTERM to the command, SIGKILL in %s",
						 held->what, NamesText(opts), text);
			else if (ls_keepalive_reason(ka) == LS_LOST_NOT_HELD)
				lc_error("lease lost: %s (token %" PRId64 ") is no longer held; sent SIGTERM to the command, SIGKILL in %s",
						 opts->names[0], held->tokens[0], text);
			else
			{
				const char *why = ls_error(held->client);

				lc_error("lease lost: no renewal of %s could be confirmed in time%s%s%s; sent SIGTERM to the command, SIGKILL in %s",
						 held->session ? held->what : opts->names[0],
						 why[0] ? " (" : "", why, why[0] ? ")" : "", text);
			}
		}

		if (stopping && !killed && now >= kill_at)
		{
			(void) kill(-command, SIGKILL);
			killed = true;
		}
		if (killed && command_ended && now >= kill_at + 5000)
		{
			lc_error("processes of the command's group did not exit after SIGKILL");
			break;
		}

		/* sleep until the next thing to do */
		wake = now + 1000;
		if (!lost && ls_keepalive_due(ka) < wake)
			wake = ls_keepalive_due(ka);
		if (stopping && !killed && kill_at < wake)
			wake = kill_at;
		if (command_ended && wake > now + 20)
			wake = now + 20;	/* group members that are not our children */
		SleepUntilWoken(wake - ls_now_ms());
	}

	if (lost)
	{
		/* unconfirmed: the server may still hold it; free it if we can */
		if (ls_keepalive_reason(ka) == LS_LOST_UNCONFIRMED)
			ReleaseHeld(held, opts, ls_now_ms() + 1000, true);
		return LC_EXIT_LOST;
	}
	{
		int64_t		limit = ls_keepalive_deadline(ka);

		if (limit > ls_now_ms() + 5000)
			limit = ls_now_ms() + 5000;
		ReleaseHeld(held, opts, limit, false);
	}
	if (WIFSIGNALED(status))
		lc_info("the command was killed by signal %d", WTERMSIG(status));
	return ExitCodeOf(status);
}

int
lc_run_main(int argc, char **argv, bool elect)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"ttl", required_argument, NULL, 't'},
		{"wait", required_argument, NULL, 'w'},
		{"grace", required_argument, NULL, 'g'},
		{"holder", required_argument, NULL, 'H'},
		{"renew-every", required_argument, NULL, 'r'},
		{"margin", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0}
	};
	const char *sub = elect ? "elect" : "run";
	RunOptions	opts;
	int			dashdash;
	int			opt;
	int			i;
	char	   *holder;
	LsClient   *client;
	Held		held;
	int			rc;

	memset(&opts, 0, sizeof(opts));
	opts.ttl = LC_DEFAULT_TTL_MS;
	opts.wait = elect ? LS_WAIT_FOREVER : 0;
	opts.grace = LC_DEFAULT_GRACE_MS;
	opts.margin = -1;
	opts.elect = elect;

	/* options end at the first "--"; the command follows it */
	for (dashdash = 1; dashdash < argc; dashdash++)
		if (strcmp(argv[dashdash], "--") == 0)
			break;
	for (i = 1; i < dashdash; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
		{
			fputs(elect ? elect_help : run_help, stdout);
			return LC_EXIT_OK;
		}

	while ((opt = getopt_long(dashdash, argv, "d:vh", long_options,
							  NULL)) != -1)
	{
		if (lc_common_option(opt, optarg))
			continue;
		switch (opt)
		{
			case 't':
				if (!lc_duration_arg(sub, "ttl", optarg, &opts.ttl, false))
					return LC_EXIT_ERROR;
				if (opts.ttl < 100)
					return lc_usage_error(sub, "--ttl must be at least 100ms");
				break;
			case 'w':
				if (elect)
					return lc_usage_error(sub, "elect waits without limit; --wait is for 'lockctl run'");
				if (!lc_duration_arg(sub, "wait", optarg, &opts.wait, true))
					return LC_EXIT_ERROR;
				break;
			case 'g':
				if (!lc_duration_arg(sub, "grace", optarg, &opts.grace, false))
					return LC_EXIT_ERROR;
				break;
			case 'H':
				if (optarg[0] == '\0')
					return lc_usage_error(sub, "--holder must not be empty");
				opts.holder = optarg;
				break;
			case 'r':
				if (!lc_duration_arg(sub, "renew-every", optarg,
									 &opts.interval, false))
					return LC_EXIT_ERROR;
				if (opts.interval <= 0)
					return lc_usage_error(sub, "--renew-every must be positive");
				break;
			case 'm':
				if (!lc_duration_arg(sub, "margin", optarg, &opts.margin,
									 false))
					return LC_EXIT_ERROR;
				break;
			default:
				return lc_try_help(sub);
		}
	}
	if (optind >= dashdash)
		return lc_usage_error(sub, "missing NAME (usage: lockctl %s NAME [OPTIONS] -- COMMAND [ARGS...])",
							  sub);
	if (optind < dashdash - 1 && dashdash == argc)
		return lc_usage_error(sub, "missing \"--\" before the command (usage: lockctl %s NAME... [OPTIONS] -- COMMAND [ARGS...])",
							  sub);
	if (dashdash == argc)
		return lc_usage_error(sub, "missing \"--\" and the command to run (usage: lockctl %s NAME... [OPTIONS] -- COMMAND [ARGS...])",
							  sub);
	if (dashdash + 1 >= argc)
		return lc_usage_error(sub, "missing the command after \"--\"");
	opts.names = (const char *const *) argv + optind;
	opts.nnames = dashdash - optind;
	opts.command = argv + dashdash + 1;
	for (i = 0; i < opts.nnames; i++)
	{
		if (opts.names[i][0] == '\0')
			return lc_usage_error(sub, "NAME must not be empty");
		for (int j = 0; j < i; j++)
			if (strcmp(opts.names[i], opts.names[j]) == 0)
				return lc_usage_error(sub, "NAME \"%s\" is given twice",
									  opts.names[i]);
	}
	{
		int64_t		margin = opts.margin >= 0 ? opts.margin : opts.ttl / 5;
		int64_t		interval = opts.interval > 0 ? opts.interval : opts.ttl / 3;

		if (margin >= opts.ttl)
			return lc_usage_error(sub, "--margin must be shorter than --ttl");
		if (interval >= opts.ttl - margin)
			return lc_usage_error(sub, "--renew-every must be shorter than ttl minus margin, or the lease would count as lost before the next renewal");
	}

	if (!SetUpSignals())
		return LC_EXIT_ERROR;
	client = lc_connect();
	if (client == NULL)
		return LC_EXIT_CONNECTION;
	memset(&held, 0, sizeof(held));
	holder = opts.holder ? strdup(opts.holder) : ls_default_holder();
	held.tokens = calloc(opts.nnames, sizeof(int64_t));
	/* a session is renewed on a connection of its own, also while waiting */
	held.client = opts.nnames > 1 ? ls_client_new(lc_common.conninfo) : client;
	if (holder == NULL || held.tokens == NULL || held.client == NULL)
	{
		lc_error("out of memory");
		rc = LC_EXIT_ERROR;
	}
	else
	{
		rc = AcquireForRun(client, &opts, holder, &held);
		if (rc == LC_EXIT_OK)
			rc = Supervise(&held, &opts, holder);
	}
	ls_keepalive_free(held.ka);
	if (held.client != client)
		ls_client_free(held.client);
	free(held.tokens);
	free(holder);
	ls_client_free(client);
	return rc;
}
