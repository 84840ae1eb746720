--
-- expiry: leases end on the server clock; an expired lease cannot be renewed,
-- released or checked and is taken over with a higher token; waits end at
-- their deadline or when the lease they wait for expires.
-- (pg_sleep only lets a ttl pass on the server clock.)
--
\set VERBOSITY sqlstate

SELECT lockservice.lock_acquire('exp/a', 'h', '100 milliseconds') AS t1 \gset
SELECT pg_sleep(0.2);
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'exp/a';
SELECT lockservice.lock_renew('exp/a', :t1) AS renewed;
SELECT lockservice.lock_check('exp/a', :t1) AS checked;
SELECT lockservice.lock_release('exp/a', :t1) AS released;
-- the row is kept: expired, not released
SELECT holder, token = :t1 AS token_ok, released_at IS NULL AS not_released,
       expires_at < pg_catalog.clock_timestamp() AS expired
  FROM lockservice.leases WHERE name = 'exp/a';

-- the same holder acquires again: its lease is gone, so a new, higher token
SELECT lockservice.lock_acquire('exp/a', 'h', '100 milliseconds') AS t2 \gset
SELECT :t2 > :t1 AS newer;
SELECT pg_sleep(0.2);
-- another holder takes over the expired lease with a higher token
SELECT lockservice.lock_acquire('exp/a', 'other', '1 minute') AS t3 \gset
SELECT :t3 > :t2 AS newer;
SELECT holder, token = :t3 AS token_ok FROM lockservice.leases_live WHERE name = 'exp/a';
SELECT lockservice.lock_renew('exp/a', :t2) AS old_renewed,
       lockservice.lock_release('exp/a', :t2) AS old_released,
       lockservice.lock_check('exp/a', :t2) AS old_checked;
SELECT lockservice.lock_check('exp/a', :t3) AS checked;
SELECT lockservice.lock_release('exp/a', :t3) AS released;

-- renewing with a short ttl lets the lease expire
SELECT lockservice.lock_acquire('exp/b', 'h', '1 minute') AS t4 \gset
SELECT lockservice.lock_renew('exp/b', :t4, '100 milliseconds') AS renewed;
SELECT pg_sleep(0.2);
SELECT lockservice.lock_check('exp/b', :t4) AS checked,
       lockservice.lock_renew('exp/b', :t4) AS renewed;
-- renewing in time keeps it
SELECT lockservice.lock_acquire('exp/b', 'h', '500 milliseconds') AS t5 \gset
SELECT :t5 > :t4 AS newer;
SELECT lockservice.lock_renew('exp/b', :t5, '1 minute') AS renewed;
SELECT pg_sleep(0.6);
SELECT lockservice.lock_check('exp/b', :t5) AS still_held;
SELECT lockservice.lock_release('exp/b', :t5) AS released;

-- expires_at is clock_timestamp() at the call + ttl, not now(): a
-- transaction that commits after that publishes an already expired lease
BEGIN;
SELECT lockservice.lock_acquire('exp/c', 'h', '100 milliseconds') IS NOT NULL AS granted;
SELECT expires_at > now() + interval '100 milliseconds' AS after_xact_start
  FROM lockservice.leases WHERE name = 'exp/c';
SELECT pg_sleep(0.2);
COMMIT;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'exp/c';
SELECT lockservice.lock_acquire('exp/c', 'other', '1 minute') IS NOT NULL AS taken_over;

--
-- waiting
--
SELECT lockservice.lock_acquire('exp/d', 'h', '1 minute') AS t6 \gset
-- a waiter gives up at its deadline with NULL
SELECT lockservice.lock_acquire('exp/d', 'other', '1 minute', '200 milliseconds') IS NULL AS timed_out,
       pg_catalog.clock_timestamp() - pg_catalog.statement_timestamp() >= interval '200 milliseconds' AS waited_200ms,
       pg_catalog.clock_timestamp() - pg_catalog.statement_timestamp() < interval '5 seconds' AS not_much_longer;
SELECT lockservice.lock_check('exp/d', :t6) AS still_held;
-- statement_timeout interrupts a wait without limit
SET statement_timeout = '300ms';
SELECT lockservice.lock_acquire('exp/d', 'other', '1 minute', NULL);
RESET statement_timeout;
SELECT lockservice.lock_check('exp/d', :t6) AS still_held;
SELECT lockservice.lock_release('exp/d', :t6) AS released;

-- a waiter is granted the lease when it expires, not earlier, and promptly
SELECT lockservice.lock_acquire('exp/e', 'h', '300 milliseconds') AS t7 \gset
SELECT expires_at AS e7 FROM lockservice.leases WHERE name = 'exp/e' \gset
SELECT lockservice.lock_acquire('exp/e', 'other', '1 minute', '20 seconds') IS NOT NULL AS granted,
       pg_catalog.clock_timestamp() >= :'e7'::timestamptz AS not_before_expiry,
       pg_catalog.clock_timestamp() < :'e7'::timestamptz + interval '5 seconds' AS promptly;
SELECT holder, token > :t7 AS newer, expires_at > :'e7'::timestamptz + interval '50 seconds' AS own_ttl
  FROM lockservice.leases_live WHERE name = 'exp/e';
SELECT lockservice.lock_renew('exp/e', :t7) AS old_renewed;

-- wait NULL on a free name: granted at once
SELECT lockservice.lock_acquire('exp/f', 'h', '1 minute', NULL) IS NOT NULL AS granted;
