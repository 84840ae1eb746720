/* lockservice--1.4--1.5.sql: lock sessions, and multi-lock */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockservice UPDATE TO '1.5'" to load this file. \quit

/*
 * Sessions (src/session.c): one lease that many locks are kept by.  A
 * session row is renewed in place (a HOT update: only its primary key is
 * indexed), whatever the number of locks in it.
 */
CREATE SEQUENCE lockservice.session_seq AS bigint MINVALUE 1 NO CYCLE;
COMMENT ON SEQUENCE lockservice.session_seq IS 'ids of lock sessions; never reset it';

CREATE TABLE lockservice.sessions (
	id			bigint NOT NULL,
	holder		text COLLATE "C" NOT NULL,
	owner		lockservice.lease_owner NOT NULL,
	ttl			interval NOT NULL,
	opened_at	timestamptz NOT NULL,
	expires_at	timestamptz NOT NULL,
	CONSTRAINT sessions_pkey PRIMARY KEY (id)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.05,
		autovacuum_vacuum_cost_delay = 0);
COMMENT ON TABLE lockservice.sessions IS
	'lock sessions; written only by lockservice functions (a closed session ends at once; the reaper deletes ended sessions once no lock refers to them)';
COMMENT ON COLUMN lockservice.sessions.owner IS
	'the role that opened the session ("-": none; no role can renew, close or use it)';
COMMENT ON COLUMN lockservice.sessions.expires_at IS
	'clock_timestamp() at the last open or renewal plus ttl (at close: the close); every lock in the session ends then';

/* a change by hand (an expiry moved, a restore) makes the reaper look again */
CREATE TRIGGER sessions_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lockservice.sessions
	FOR EACH STATEMENT EXECUTE FUNCTION lockservice.leases_changed();

SELECT pg_catalog.pg_extension_config_dump('lockservice.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('lockservice.session_seq', '');
REVOKE ALL ON TABLE lockservice.sessions FROM PUBLIC;
REVOKE ALL ON SEQUENCE lockservice.session_seq FROM PUBLIC;

/*
 * A lock in a session names it; the session's expiry is the lock's.  The
 * column is NULL for every other lease, and the index holds only the
 * session's locks: a renewal or release of any lease (session or not)
 * stays a HOT update.
 */
ALTER TABLE lockservice.leases ADD COLUMN session bigint;
COMMENT ON COLUMN lockservice.leases.session IS
	'the session that keeps the lease (NULL: it has a ttl of its own); its expires_at and ttl are then the session''s at the grant and ''0''';
CREATE INDEX leases_session_idx ON lockservice.leases (session)
	WHERE session IS NOT NULL;

CREATE FUNCTION lockservice.session_open(holder text,
										 ttl interval DEFAULT '30 seconds')
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_open'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.session_open(text, interval) IS
	'open a lock session of the current role, live for ttl; returns its id';

CREATE FUNCTION lockservice.session_renew(session bigint,
										  ttl interval DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'session_renew'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.session_renew(bigint, interval) IS
	'extend an open session, and every lock in it, to now + ttl (NULL: its own ttl); false when it has ended';

CREATE FUNCTION lockservice.session_close(session bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'session_close'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.session_close(bigint) IS
	'end an open session and release every lock in it; false when it was not open';

/* The acquires, kept by a session instead of a ttl of their own. */
CREATE FUNCTION lockservice.lock_acquire(name text, session bigint,
										 wait interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_acquire_session'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_acquire(text, bigint, interval) IS
	'acquire an exclusive lease kept by session (its holder is the session''s); its token, or NULL when not granted within wait';

CREATE FUNCTION lockservice.lock_acquire_shared(name text, session bigint,
												wait interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_acquire_shared_session'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_acquire_shared(text, bigint, interval) IS
	'acquire a shared lease kept by session; its token, or NULL when not granted within wait';

CREATE FUNCTION lockservice.sem_acquire(name text, session bigint, permits integer,
										wait interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'sem_acquire_session'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.sem_acquire(text, bigint, integer, interval) IS
	'acquire a semaphore permit kept by session; its token, or NULL when not granted within wait';

/* Multi-lock: a set of names, all or nothing. */
CREATE FUNCTION lockservice.lock_acquire_all(names text[], holder text,
											 ttl interval DEFAULT '30 seconds',
											 wait interval DEFAULT '0')
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'lock_acquire_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_acquire_all(text[], text, interval, interval) IS
	'acquire exclusive leases of every name, all or nothing; their tokens in the order of names, or NULL (none held) when not granted within wait';

CREATE FUNCTION lockservice.lock_acquire_all(names text[], session bigint,
											 wait interval DEFAULT '0')
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'lock_acquire_all_session'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_acquire_all(text[], bigint, interval) IS
	'acquire exclusive leases of every name kept by session, all or nothing; their tokens in the order of names, or NULL';

/* lock_holder() shows the session of each lease. */
DROP FUNCTION lockservice.lock_holder(text);
CREATE FUNCTION lockservice.lock_holder(name text,
	OUT holder text, OUT owner pg_catalog.regrole, OUT token bigint,
	OUT kind text, OUT granted_at timestamptz, OUT expires_at timestamptz,
	OUT session bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lock_holder'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lock_holder(text) IS
	'the live leases of name (expires_at: for a lock in a session, the session''s)';

/* Live leases and sessions, for people and monitoring. */
CREATE OR REPLACE VIEW lockservice.leases_live AS
	SELECT l.name,
		   l.holder,
		   l.owner::pg_catalog.regrole AS owner,
		   l.token,
		   l.granted_at,
		   e.expires_at,
		   e.expires_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp() AS remaining,
		   CASE l.kind WHEN 'x' THEN 'exclusive' WHEN 's' THEN 'shared'
		   ELSE 'permit' END AS kind,
		   lockservice.lock_waiters(l.name) AS waiters,
		   l.session
	  FROM lockservice.leases l
		   LEFT JOIN lockservice.sessions s ON s.id OPERATOR(pg_catalog.=) l.session
		   CROSS JOIN LATERAL (SELECT CASE WHEN l.session IS NULL THEN l.expires_at
										   ELSE COALESCE(s.expires_at, l.granted_at)
									  END AS expires_at) e
	 WHERE l.released_at IS NULL
	   AND e.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockservice.leases_live IS
	'leases that are held right now (owner "-": restored without its role; session: the session that keeps it, whose expiry is the lease''s)';

CREATE VIEW lockservice.sessions_live AS
	SELECT s.id,
		   s.holder,
		   s.owner::pg_catalog.regrole AS owner,
		   s.ttl,
		   s.opened_at,
		   s.expires_at,
		   s.expires_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp() AS remaining,
		   (SELECT pg_catalog.count(*) FROM lockservice.leases l
			 WHERE l.session OPERATOR(pg_catalog.=) s.id
			   AND l.released_at IS NULL) AS leases
	  FROM lockservice.sessions s
	 WHERE s.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockservice.sessions_live IS
	'lock sessions that are open right now, and how many leases each keeps';

CREATE OR REPLACE VIEW lockservice.stats AS
	SELECT s.*,
		   (SELECT pg_catalog.count(*) FROM lockservice.leases_live) AS live_leases,
		   (SELECT pg_catalog.count(*) FROM lockservice.sessions_live) AS live_sessions
	  FROM lockservice.stats_counters() s;

GRANT SELECT ON lockservice.sessions_live TO PUBLIC;
