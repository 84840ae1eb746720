/* lockservice--1.3--1.4.sql: lease_classes() for monitoring scrapes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockservice UPDATE TO '1.4'" to load this file. \quit

/*
 * Live leases and their waiters per name class, in one pass over the table
 * and one look at the wait queue (leases_live calls lock_waiters() for
 * every row it returns).
 */
CREATE FUNCTION lockservice.lease_classes(top integer DEFAULT 20,
	OUT class text, OUT kind text, OUT live bigint, OUT waiters bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lease_classes'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lockservice.lease_classes(integer) IS
	'per name class (the name up to its first ":" or "/", "(none)" without) and kind: leases held now and sessions waiting for them; the top largest classes, the rest as "(other)"';

/*
 * lockservice.leases is small and hot: every grant and release rewrites a
 * row, and the reaper deletes ended rows in batches.  Under name churn
 * (bench/ figure 8: every cycle on a new name) autovacuum at its default
 * cost limits fell behind and the table kept growing; vacuum it sooner and
 * unthrottled (a vacuum of this table is short: it is mostly dead rows).
 */
ALTER TABLE lockservice.leases SET (
	autovacuum_vacuum_scale_factor = 0.05,
	autovacuum_vacuum_cost_delay = 0);
