/* lockservice--1.0.sql: leases, fencing tokens and fences */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lockservice" to load this file. \quit

/*
 * Fencing tokens.  A token is timeline * 2^47 + 2 * nextval(fencing_seq)
 * + (1 for shared leases and permits): see src/token.c.  The sequence never
 * cycles; 2^61 values are enough for 1.4 million years at 50,000 grants
 * per second.
 */
CREATE SEQUENCE lockservice.fencing_seq
	AS bigint MINVALUE 1 MAXVALUE 2305843009213693951 NO CYCLE;
COMMENT ON SEQUENCE lockservice.fencing_seq IS
	'low part of every fencing token; never reset it (use lockservice.advance_token_counter)';

/*
 * One row per lease slot.  The head row of a name (slot 0) says what the
 * name is (a lock or a semaphore) and holds its exclusive lease; shared
 * leases and semaphore permits live in slots 1, 2, ...  Every grant
 * rewrites the head row, which makes it the serialization point of the
 * name.  Rows are kept after release so that the next acquire of the same
 * name is a HOT update, not an insert; only name and slot are indexed (an
 * index on expires_at would make every renewal a non-HOT update).
 */
CREATE TABLE lockservice.leases (
	name		text COLLATE "C" NOT NULL,
	slot		integer NOT NULL,
	kind		pg_catalog."char" NOT NULL,
	holder		text COLLATE "C" NOT NULL,
	owner		oid NOT NULL,
	token		bigint NOT NULL,
	ttl			interval NOT NULL,
	granted_at	timestamptz NOT NULL,
	expires_at	timestamptz NOT NULL,
	released_at timestamptz,
	permits		integer,
	CONSTRAINT leases_pkey PRIMARY KEY (name, slot)
) WITH (fillfactor = 50);
COMMENT ON TABLE lockservice.leases IS
	'lock leases; written only by lockservice functions (the row of slot 0 is the per-name serialization point)';
COMMENT ON COLUMN lockservice.leases.slot IS '0: the head row of the name (and its exclusive lease); 1, 2, ...: shared leases and permits';
COMMENT ON COLUMN lockservice.leases.kind IS 'x: exclusive lease (head row: a lock name), s: shared lease, p: semaphore permit (head row: a semaphore name)';
COMMENT ON COLUMN lockservice.leases.permits IS 'head row of a semaphore: its number of permits';
COMMENT ON COLUMN lockservice.leases.owner IS 'OID of the role that holds (or held) the lease';
COMMENT ON COLUMN lockservice.leases.token IS 'fencing token of the current (or last) grant; 0 before the first grant';
COMMENT ON COLUMN lockservice.leases.expires_at IS 'clock_timestamp() at the last grant or renewal plus ttl';
COMMENT ON COLUMN lockservice.leases.released_at IS 'set when the holder released the lease; NULL while held or once expired';

/* Highest fencing token seen per protected resource. */
CREATE TABLE lockservice.fences (
	resource	text COLLATE "C" NOT NULL,
	token		bigint NOT NULL,
	fenced_at	timestamptz NOT NULL,
	CONSTRAINT fences_pkey PRIMARY KEY (resource)
) WITH (fillfactor = 50);
COMMENT ON TABLE lockservice.fences IS
	'highest fencing token accepted per resource; written only by lockservice.fence()';

/* Per-name options: the lock-delay (NULL row: lockservice.lock_delay). */
CREATE TABLE lockservice.lock_options (
	name		text COLLATE "C" NOT NULL,
	lock_delay	interval NOT NULL,
	CONSTRAINT lock_options_pkey PRIMARY KEY (name)
);
COMMENT ON TABLE lockservice.lock_options IS
	'per-name lock-delay; written only by lockservice.set_lock_delay()';

/* Audit history: written when lockservice.history is on, pruned by the reaper. */
CREATE TABLE lockservice.history (
	at			timestamptz NOT NULL,
	event		text NOT NULL,
	name		text COLLATE "C" NOT NULL,
	kind		pg_catalog."char" NOT NULL,
	holder		text COLLATE "C" NOT NULL,
	owner		oid NOT NULL,
	token		bigint NOT NULL,
	actor		oid NOT NULL
);
CREATE INDEX history_at_idx ON lockservice.history (at);
COMMENT ON TABLE lockservice.history IS
	'every grant, release, expiry, takeover and forced release (with lockservice.history = on)';
COMMENT ON COLUMN lockservice.history.owner IS 'OID of the role that held the lease';
COMMENT ON COLUMN lockservice.history.actor IS 'OID of the role whose call (or reaper) made it happen';

SELECT pg_catalog.pg_extension_config_dump('lockservice.leases', '');
SELECT pg_catalog.pg_extension_config_dump('lockservice.lock_options', '');
SELECT pg_catalog.pg_extension_config_dump('lockservice.history', '');
SELECT pg_catalog.pg_extension_config_dump('lockservice.fences', '');
SELECT pg_catalog.pg_extension_config_dump('lockservice.fencing_seq', '');

/* The pinned API: see DESIGN.md.  None is STRICT: NULL raises 22004. */
CREATE FUNCTION lockservice.lock_acquire(name text, holder text,
										 ttl interval DEFAULT '30 seconds',
										 wait interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_acquire'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_acquire(text, text, interval, interval) IS
	'acquire an exclusive lease; returns its fencing token, or NULL when not granted within wait (NULL: wait without limit)';

CREATE FUNCTION lockservice.lock_renew(name text, token bigint,
									   ttl interval DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_renew'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_renew(text, bigint, interval) IS
	'extend a live lease to now + ttl (NULL: its own ttl); false when the lease is no longer held';

CREATE FUNCTION lockservice.lock_release(name text, token bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_release(text, bigint) IS
	'end a live lease; false when it was not held under that token';

CREATE FUNCTION lockservice.lock_check(name text, token bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lock_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_check(text, bigint) IS
	'true when token is the live lease of name; the lease then cannot end until this transaction ends';

CREATE FUNCTION lockservice.fence(resource text, token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'fence'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.fence(text, bigint) IS
	'record token for resource; raises LS001 when a higher token was already recorded';

/* Lock kinds: shared locks and semaphores (see README). */
CREATE FUNCTION lockservice.lock_acquire_shared(name text, holder text,
												ttl interval DEFAULT '30 seconds',
												wait interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'lock_acquire_shared'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.lock_acquire_shared(text, text, interval, interval) IS
	'acquire a shared lease (many holders, no exclusive one); its token, or NULL when not granted within wait';

CREATE FUNCTION lockservice.sem_acquire(name text, holder text, permits integer,
										ttl interval DEFAULT '30 seconds',
										wait interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'sem_acquire'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.sem_acquire(text, text, integer, interval, interval) IS
	'acquire one of at most permits leases on name; its token, or NULL when not granted within wait';

/* Operating it. */
CREATE FUNCTION lockservice.lock_holder(name text,
	OUT holder text, OUT owner pg_catalog.regrole, OUT token bigint,
	OUT kind text, OUT granted_at timestamptz, OUT expires_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lock_holder'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lock_holder(text) IS 'the live leases of name';

CREATE FUNCTION lockservice.force_release(name text, token bigint DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'force_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.force_release(text, bigint) IS
	'end the leases of name (or the one under token), whoever holds them; returns how many (for operators)';

CREATE FUNCTION lockservice.set_lock_delay(name text, lock_delay interval)
RETURNS void
AS 'MODULE_PATHNAME', 'set_lock_delay'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.set_lock_delay(text, interval) IS
	'how long name stays ungranted after a lease expired unreleased (NULL: lockservice.lock_delay)';

CREATE FUNCTION lockservice.lock_waiters(name text)
RETURNS integer
AS 'MODULE_PATHNAME', 'lock_waiters'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lock_waiters(text) IS
	'how many sessions wait for name (0 without shared_preload_libraries)';

/* Token counter administration. */
CREATE FUNCTION lockservice.last_issued_token()
RETURNS bigint
AS 'MODULE_PATHNAME', 'last_issued_token'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.last_issued_token() IS
	'the highest fencing token this server can have issued (NULL before the first grant)';

CREATE FUNCTION lockservice.advance_token_counter(at_least bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'advance_token_counter'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.advance_token_counter(bigint) IS
	'make every future token greater than at_least (run after restoring a dump into a new cluster)';

/* The reaper: see src/reaper.c. */
CREATE FUNCTION lockservice.start_reaper()
RETURNS integer
AS 'MODULE_PATHNAME', 'start_reaper'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.start_reaper() IS
	'start the reaper of this database (without shared_preload_libraries); returns its pid';

CREATE FUNCTION lockservice.stop_reaper()
RETURNS boolean
AS 'MODULE_PATHNAME', 'stop_reaper'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.stop_reaper() IS
	'stop the reaper of this database; false when none was running';

CREATE FUNCTION lockservice.reaper_status(
	OUT datid oid, OUT pid integer, OUT started_at timestamptz,
	OUT last_run timestamptz, OUT reaped bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'reaper_status'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.reaper_status() IS
	'the running reapers: database, pid, start, last run, expired leases reaped';

/* Live leases, for people and monitoring. */
CREATE VIEW lockservice.leases_live AS
	SELECT l.name,
		   l.holder,
		   l.owner::pg_catalog.regrole AS owner,
		   l.token,
		   l.granted_at,
		   l.expires_at,
		   l.expires_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp() AS remaining,
		   CASE l.kind WHEN 'x' THEN 'exclusive' WHEN 's' THEN 'shared'
		   ELSE 'permit' END AS kind,
		   lockservice.lock_waiters(l.name) AS waiters
	  FROM lockservice.leases l
	 WHERE l.released_at IS NULL
	   AND l.owner OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
	   AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockservice.leases_live IS 'leases that are held right now';

/* Statistics: counters in shared memory (NULL when not preloaded). */
CREATE FUNCTION lockservice.stats_counters(
	OUT acquires bigint, OUT acquires_waited bigint,
	OUT acquire_timeouts bigint, OUT renewals bigint,
	OUT renewals_failed bigint, OUT releases bigint,
	OUT expirations_reaped bigint, OUT takeovers bigint,
	OUT fence_refusals bigint, OUT events_dropped bigint,
	OUT waiters integer, OUT stats_reset timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'stats'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.stats_counters() IS
	'the shared-memory counters behind the view lockservice.stats';

CREATE FUNCTION lockservice.reset_stats()
RETURNS void
AS 'MODULE_PATHNAME', 'reset_stats'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION lockservice.reset_stats() IS 'set the counters of lockservice.stats back to zero';

CREATE VIEW lockservice.stats AS
	SELECT s.*,
		   (SELECT pg_catalog.count(*) FROM lockservice.leases_live) AS live_leases
	  FROM lockservice.stats_counters() s;
COMMENT ON VIEW lockservice.stats IS
	'what the lock service did since the last reset, and what it holds now';

/*
 * Privileges.  The tables are written only through the functions above
 * (which check ownership of every lease themselves), so nobody but the
 * extension owner gets table privileges.  The client functions are
 * executable by PUBLIC (revoke and grant to a role to restrict them); the
 * token counter's administration is not.
 */
REVOKE ALL ON TABLE lockservice.leases, lockservice.fences,
	lockservice.lock_options, lockservice.history FROM PUBLIC;
REVOKE ALL ON SEQUENCE lockservice.fencing_seq FROM PUBLIC;
GRANT USAGE ON SCHEMA lockservice TO PUBLIC;
GRANT SELECT ON lockservice.leases_live, lockservice.stats TO PUBLIC;
REVOKE ALL ON FUNCTION lockservice.advance_token_counter(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION lockservice.start_reaper() FROM PUBLIC;
REVOKE ALL ON FUNCTION lockservice.stop_reaper() FROM PUBLIC;
REVOKE ALL ON FUNCTION lockservice.reset_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION lockservice.force_release(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION lockservice.set_lock_delay(text, interval) FROM PUBLIC;
