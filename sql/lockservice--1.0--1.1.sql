/* lockservice--1.0--1.1.sql: the reaper skips its scan until a row can end */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockservice UPDATE TO '1.1'" to load this file. \quit

/*
 * The reaper scans lockservice.leases only once a row can have ended: the
 * functions of lockservice tell it when the rows they write can end.  They
 * write the table directly, so no trigger fires for them; this trigger
 * fires for everything else that changes the table (a superuser's UPDATE,
 * COPY, TRUNCATE, a restore) and makes the reaper look at every row again.
 */
CREATE FUNCTION lockservice.leases_changed() RETURNS trigger
	LANGUAGE C
AS 'MODULE_PATHNAME', 'leases_changed';
COMMENT ON FUNCTION lockservice.leases_changed() IS
	'trigger: a change made to lockservice.leases outside lockservice''s functions makes the reaper scan the table';
REVOKE ALL ON FUNCTION lockservice.leases_changed() FROM PUBLIC;

CREATE TRIGGER leases_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lockservice.leases
	FOR EACH STATEMENT EXECUTE FUNCTION lockservice.leases_changed();
