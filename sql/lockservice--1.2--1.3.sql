/* lockservice--1.2--1.3.sql: lease owners that stay their role's through dump and restore; reaper_status().deleted */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockservice UPDATE TO '1.3'" to load this file. \quit

/*
 * The owner of a lease (and of a history row) is a role's OID on disk, as
 * before, but it is written and read as the role's name (src/owner.c):
 * pg_dump writes the name, and a restore into another cluster, where OIDs
 * differ, looks it up there.  A name no role has there, and a bare number,
 * read as no owner ("-"): a restored lease is never another role's.
 */
CREATE TYPE lockservice.lease_owner;

CREATE FUNCTION lockservice.lease_owner_in(pg_catalog.cstring)
RETURNS lockservice.lease_owner
AS 'MODULE_PATHNAME', 'lease_owner_in'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lease_owner_in(pg_catalog.cstring) IS
	'input function of lockservice.lease_owner: a role name (no such role, or "-": no owner)';

CREATE FUNCTION lockservice.lease_owner_out(lockservice.lease_owner)
RETURNS pg_catalog.cstring
AS 'MODULE_PATHNAME', 'lease_owner_out'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lease_owner_out(lockservice.lease_owner) IS
	'output function of lockservice.lease_owner: the role''s name, or "-" for no owner';

CREATE FUNCTION lockservice.lease_owner_recv(pg_catalog.internal)
RETURNS lockservice.lease_owner
AS 'MODULE_PATHNAME', 'lease_owner_recv'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lease_owner_recv(pg_catalog.internal) IS
	'binary input function of lockservice.lease_owner (the text form)';

CREATE FUNCTION lockservice.lease_owner_send(lockservice.lease_owner)
RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'lease_owner_send'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.lease_owner_send(lockservice.lease_owner) IS
	'binary output function of lockservice.lease_owner (the text form)';

CREATE TYPE lockservice.lease_owner (
	INPUT = lockservice.lease_owner_in,
	OUTPUT = lockservice.lease_owner_out,
	RECEIVE = lockservice.lease_owner_recv,
	SEND = lockservice.lease_owner_send,
	INTERNALLENGTH = 4,
	PASSEDBYVALUE,
	ALIGNMENT = int4,
	STORAGE = plain
);
COMMENT ON TYPE lockservice.lease_owner IS
	'the role that owns a lease: its OID on disk, its name in dumps and output ("-": no owner)';

/*
 * The same four bytes as an OID: reading one as the other costs nothing,
 * and queries that compared the owner with role OIDs keep working.
 */
CREATE CAST (lockservice.lease_owner AS pg_catalog.oid) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (lockservice.lease_owner AS pg_catalog.regrole) WITHOUT FUNCTION;
CREATE CAST (pg_catalog.oid AS lockservice.lease_owner) WITHOUT FUNCTION;

/* the views read leases.owner: they go while its type changes */
DROP VIEW lockservice.stats;
DROP VIEW lockservice.leases_live;

ALTER TABLE lockservice.leases
	ALTER COLUMN owner TYPE lockservice.lease_owner USING owner::lockservice.lease_owner;
COMMENT ON COLUMN lockservice.leases.owner IS
	'the role that holds (or held) the lease ("-": none; no role can renew, release or check it)';
ALTER TABLE lockservice.history
	ALTER COLUMN owner TYPE lockservice.lease_owner USING owner::lockservice.lease_owner,
	ALTER COLUMN actor TYPE lockservice.lease_owner USING actor::lockservice.lease_owner;
COMMENT ON COLUMN lockservice.history.owner IS 'the role that held the lease ("-": none)';
COMMENT ON COLUMN lockservice.history.actor IS
	'the role whose call (or reaper) made it happen ("-": none)';

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
	   AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp();
COMMENT ON VIEW lockservice.leases_live IS
	'leases that are held right now (owner "-": restored without its role; it ends at its expiry)';

CREATE VIEW lockservice.stats AS
	SELECT s.*,
		   (SELECT pg_catalog.count(*) FROM lockservice.leases_live) AS live_leases
	  FROM lockservice.stats_counters() s;
COMMENT ON VIEW lockservice.stats IS
	'what the lock service did since the last reset, and what it holds now';

GRANT SELECT ON lockservice.leases_live, lockservice.stats TO PUBLIC;

/*
 * reaper_status() gains deleted: the released rows the reapers deleted
 * (reaped counts expired leases only; a released row is kept 60 s so that
 * the next acquire of its name is an update, then deleted).
 */
DROP FUNCTION lockservice.reaper_status();
CREATE FUNCTION lockservice.reaper_status(
	OUT datid oid, OUT pid integer, OUT started_at timestamptz,
	OUT last_run timestamptz, OUT reaped bigint, OUT last_visit timestamptz,
	OUT due_since timestamptz, OUT behind boolean, OUT times_behind bigint,
	OUT deleted bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'reaper_status'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION lockservice.reaper_status() IS
	'the databases the reapers look after: running reaper (NULL: nothing due), last run, expired leases reaped, last full scan, work waiting for a reaper since, behind, times behind, released rows deleted';
