/* lockservice--1.1--1.2.sql: tokens that stay above every copy of the data they come from */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockservice UPDATE TO '1.2'" to load this file. \quit

/*
 * Where the token counter has been used (see src/token.c).  pg_upgrade and
 * a restore carry the counter into a cluster that starts at timeline 1
 * again; a base backup started as a primary and a restored dump continue
 * from the moment the copy was taken.  Before a server first draws a
 * token it compares these with its own timeline and copy, and moves the
 * counter above everything the recorded history can have issued.  They are
 * sequences, like the counter, so that the record survives the rollback of
 * the transaction that made it.
 */
CREATE SEQUENCE lockservice.fencing_timeline
	AS bigint MINVALUE 0 MAXVALUE 4294967295 NO CYCLE;
COMMENT ON SEQUENCE lockservice.fencing_timeline IS
	'the timeline on which the token counter was last used; never change it';
CREATE SEQUENCE lockservice.fencing_era
	AS bigint MINVALUE 0 NO CYCLE;
COMMENT ON SEQUENCE lockservice.fencing_era IS
	'which copy of the data last used the token counter (a hash of system identifier, database and base backup; 0: unknown); never change it';
REVOKE ALL ON SEQUENCE lockservice.fencing_timeline, lockservice.fencing_era FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('lockservice.fencing_timeline', '');
SELECT pg_catalog.pg_extension_config_dump('lockservice.fencing_era', '');

/*
 * A counter used before this version: its timeline is the highest of this
 * server's and of the tokens still recorded; its copy is unknown (0), so
 * that the next grant moves it up once, as after a copy.  (A new
 * installation starts from the lowest token: DROP EXTENSION says, with
 * lockservice preloaded, which token to move it above.)
 */
DO $$
BEGIN
	IF (SELECT s.is_called FROM lockservice.fencing_seq AS s) THEN
		PERFORM pg_catalog.setval('lockservice.fencing_timeline',
			GREATEST(
				(SELECT c.timeline_id FROM pg_catalog.pg_control_checkpoint() AS c),
				(SELECT pg_catalog.max(l.token OPERATOR(pg_catalog.>>) 47) FROM lockservice.leases AS l),
				(SELECT pg_catalog.max(f.token OPERATOR(pg_catalog.>>) 47) FROM lockservice.fences AS f)));
		PERFORM pg_catalog.setval('lockservice.fencing_era', 0);
	END IF;
END
$$;

/*
 * Reapers start when a database has work due and exit when it has none
 * (src/reaper.c): reaper_status() lists every database the launcher looks
 * after, with or without a running reaper, and whether work waits for one.
 */
DROP FUNCTION lockservice.reaper_status();
CREATE FUNCTION lockservice.reaper_status(
	OUT datid oid, OUT pid integer, OUT started_at timestamptz,
	OUT last_run timestamptz, OUT reaped bigint, OUT last_visit timestamptz,
	OUT due_since timestamptz, OUT behind boolean, OUT times_behind bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'reaper_status'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.reaper_status() IS
	'the databases the reapers look after: running reaper (NULL: nothing due), last run, leases reaped, last full scan, work waiting for a reaper since, behind, times behind';
