--
-- isolevel: the functions work in REPEATABLE READ and SERIALIZABLE
-- transactions (one session; test/specs/isolevel_race.spec races two).
--
\set VERBOSITY sqlstate

-- a lease committed before the transaction
SELECT lockservice.lock_acquire('iso/held', 'h', '10 minutes') AS th \gset

BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) >= 0 AS snapshot_taken FROM lockservice.leases_live;
SELECT lockservice.lock_acquire('iso/rr', 'h1') AS t1 \gset
SELECT lockservice.lock_renew('iso/rr', :t1, '5 minutes') AS renewed;
SELECT lockservice.lock_check('iso/rr', :t1) AS checked;
SELECT lockservice.lock_acquire('iso/rr', 'h1') = :t1 AS same_token;
SELECT lockservice.lock_acquire('iso/rr', 'h2') IS NULL AS taken;
SELECT lockservice.lock_release('iso/rr', :t1) AS released;
SELECT lockservice.lock_acquire('iso/rr', 'h2') AS t2 \gset
SELECT :t2 > :t1 AS newer;
SELECT lockservice.fence('iso/resource', :t2);
SELECT lockservice.fence('iso/resource', :t1);
ROLLBACK;

BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) >= 0 AS snapshot_taken FROM lockservice.leases_live;
SELECT lockservice.lock_acquire('iso/rr', 'h1') AS t1 \gset
SELECT lockservice.lock_renew('iso/rr', :t1) AS renewed;
SELECT lockservice.lock_check('iso/held', :th) AS checked_older_lease;
SELECT lockservice.lock_renew('iso/held', :th) AS renewed_older_lease;
SELECT lockservice.lock_acquire('iso/held', 'h2') IS NULL AS older_lease_taken;
SELECT lockservice.fence('iso/resource', :t1);
SELECT name, holder FROM lockservice.leases_live WHERE name LIKE 'iso/%' ORDER BY name;
COMMIT;
SELECT name, holder FROM lockservice.leases_live WHERE name LIKE 'iso/%' ORDER BY name;
SELECT resource, token = :t1 AS token_ok FROM lockservice.fences WHERE resource = 'iso/resource';

BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) >= 0 AS snapshot_taken FROM lockservice.leases_live;
SELECT lockservice.lock_renew('iso/rr', :t1) AS renewed;
SELECT lockservice.lock_check('iso/rr', :t1) AS checked;
SELECT lockservice.lock_release('iso/rr', :t1) AS released;
SELECT lockservice.lock_acquire('iso/rr', 'h3') AS t3 \gset
SELECT lockservice.lock_acquire('iso/ser', 'h1') AS t4 \gset
SELECT :t3 > :t1 AS newer, :t4 > :t3 AS newer_again;
SELECT lockservice.lock_release('iso/held', :th) AS released_older_lease;
SELECT lockservice.fence('iso/resource', :t4);
COMMIT;
SELECT name, holder FROM lockservice.leases_live WHERE name LIKE 'iso/%' ORDER BY name;

-- the default isolation level set to serializable, autocommit calls
SET default_transaction_isolation = 'serializable';
SELECT lockservice.lock_renew('iso/rr', :t3) AS renewed;
SELECT lockservice.lock_release('iso/rr', :t3) AS released;
SELECT lockservice.lock_release('iso/ser', :t4) AS released;
SELECT lockservice.lock_acquire('iso/ser', 'h2') AS t5 \gset
SELECT :t5 > :t4 AS newer;
SELECT lockservice.lock_release('iso/ser', :t5) AS released;
RESET default_transaction_isolation;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'iso/%';
