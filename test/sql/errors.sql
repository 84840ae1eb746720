--
-- errors: every documented error of the API, shown by its SQLSTATE, and
-- bad input changes nothing.  (Length limits: limits.sql; LS001/LS002:
-- fencing.sql; LS003: transactions.sql; ownership: ownership.sql.)
--
\set VERBOSITY sqlstate

SELECT lockservice.lock_acquire('err/held', 'h', '10 minutes') IS NOT NULL AS granted;
SELECT token AS t FROM lockservice.leases WHERE name = 'err/held' \gset

--
-- 22004: NULL where a value is needed (no function is STRICT)
--
SELECT lockservice.lock_acquire(NULL, 'h');
SELECT lockservice.lock_acquire('err/a', NULL);
SELECT lockservice.lock_acquire('err/a', 'h', NULL);
SELECT lockservice.lock_acquire(NULL, NULL, NULL, NULL);
SELECT lockservice.lock_renew(NULL, :t);
SELECT lockservice.lock_renew('err/held', NULL);
SELECT lockservice.lock_release(NULL, :t);
SELECT lockservice.lock_release('err/held', NULL);
SELECT lockservice.lock_check(NULL, :t);
SELECT lockservice.lock_check('err/held', NULL);
SELECT lockservice.fence(NULL, :t);
SELECT lockservice.fence('err/resource', NULL);
SELECT lockservice.advance_token_counter(NULL);

-- NULL where it has a meaning: acquire's wait (no limit), renew's ttl (the
-- lease's own ttl)
SELECT lockservice.lock_acquire('err/a', 'h', '1 minute', NULL) IS NOT NULL AS granted_wait_null;
SELECT lockservice.lock_renew('err/held', :t, NULL) AS renewed_ttl_null;

--
-- 22023: empty strings, ttl out of range, negative wait, non-positive token
--
SELECT lockservice.lock_acquire('', 'h');
SELECT lockservice.lock_acquire('err/b', '');
SELECT lockservice.lock_acquire('err/b', 'h', '0');
SELECT lockservice.lock_acquire('err/b', 'h', '-1 second');
SELECT lockservice.lock_acquire('err/b', 'h', '-1 day');
-- lockservice.max_ttl is 1 day: a day is accepted, a microsecond more is not
SELECT lockservice.lock_acquire('err/day', 'h', '1 day') IS NOT NULL AS granted_1_day;
SELECT lockservice.lock_acquire('err/b', 'h', '1 day 00:00:00.000001');
SELECT lockservice.lock_acquire('err/b', 'h', '25 hours');
SELECT lockservice.lock_acquire('err/b', 'h', '1 month');
SELECT lockservice.lock_acquire('err/b', 'h', '1 second', '-1 second');
SELECT lockservice.lock_acquire('err/b', 'h', '1 second', '-1 microsecond');
SELECT lockservice.lock_acquire('err/b', 'h', '1 second', '0') IS NOT NULL AS granted_wait_0;

SELECT lockservice.lock_renew('', :t);
SELECT lockservice.lock_renew('err/held', 0);
SELECT lockservice.lock_renew('err/held', -1);
SELECT lockservice.lock_renew('err/held', :t, '0');
SELECT lockservice.lock_renew('err/held', :t, '-5 minutes');
SELECT lockservice.lock_renew('err/held', :t, '2 days');

SELECT lockservice.lock_release('', :t);
SELECT lockservice.lock_release('err/held', 0);
SELECT lockservice.lock_release('err/held', -1);

SELECT lockservice.lock_check('', :t);
SELECT lockservice.lock_check('err/held', 0);
SELECT lockservice.lock_check('err/held', -9223372036854775807);

SELECT lockservice.fence('', :t);
SELECT lockservice.fence('err/resource', 0);
SELECT lockservice.fence('err/resource', -1);

--
-- bad input changed nothing: the held lease is intact, no rows for the
-- refused names, no fence recorded
--
SELECT name, holder, token = :t AS token_ok, released_at IS NULL AS not_released,
       expires_at > pg_catalog.clock_timestamp() + interval '9 minutes' AS still_10_minutes
  FROM lockservice.leases WHERE name = 'err/held';
SELECT count(*) AS refused_rows FROM lockservice.leases WHERE name = '';
SELECT count(*) AS fences FROM lockservice.fences WHERE resource LIKE 'err/%' OR resource = '';
SELECT lockservice.lock_check('err/held', :t) AS still_held;

--
-- 25006: the functions that write refuse a READ ONLY transaction
--
BEGIN READ ONLY;
SELECT lockservice.lock_acquire('err/ro', 'h');
ROLLBACK;
BEGIN READ ONLY;
SELECT lockservice.lock_renew('err/held', :t);
ROLLBACK;
BEGIN READ ONLY;
SELECT lockservice.lock_release('err/held', :t);
ROLLBACK;
BEGIN READ ONLY;
SELECT lockservice.lock_check('err/held', :t);
ROLLBACK;
BEGIN READ ONLY;
SELECT lockservice.fence('err/resource', :t);
ROLLBACK;
BEGIN READ ONLY;
SELECT lockservice.advance_token_counter(1);
ROLLBACK;
-- the same with default_transaction_read_only in autocommit
SET default_transaction_read_only = on;
SELECT lockservice.lock_acquire('err/ro', 'h');
SELECT lockservice.lock_renew('err/held', :t);
SELECT lockservice.lock_release('err/held', :t);
SELECT lockservice.lock_check('err/held', :t);
SELECT lockservice.fence('err/resource', :t);
SELECT lockservice.advance_token_counter(1);
-- reading stays possible
SELECT lockservice.last_issued_token() >= :t AS last_issued_readable;
SELECT name, holder FROM lockservice.leases_live WHERE name = 'err/held';
RESET default_transaction_read_only;
BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE;
SELECT lockservice.lock_acquire('err/ro', 'h');
ROLLBACK;

-- nothing happened in read-only mode
SELECT count(*) AS ro_rows FROM lockservice.leases WHERE name = 'err/ro';
SELECT lockservice.lock_check('err/held', :t) AS still_held;
SELECT lockservice.lock_release('err/held', :t) AS released;

-- 57014: a waiter is interrupted by statement_timeout (wait NULL: no limit)
SELECT lockservice.lock_acquire('err/wait', 'h', '1 minute') IS NOT NULL AS granted;
SET statement_timeout = '200ms';
SELECT lockservice.lock_acquire('err/wait', 'other', '1 minute', NULL);
RESET statement_timeout;
-- and the interrupted waiter took nothing
SELECT holder FROM lockservice.leases_live WHERE name = 'err/wait';
