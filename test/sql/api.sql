--
-- api: the objects of lockservice 1.1 and every function on its happy path.
-- Token values and timestamps are never printed: they are kept in psql
-- variables (\gset) and compared.
--
\set VERBOSITY sqlstate

-- pg_regress runs the files in alphabetical order: this one runs first, in a
-- freshly created extension, so no token has been issued yet.
SELECT lockservice.last_issued_token() IS NULL AS no_token_yet;

-- the extension
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_catalog.pg_extension WHERE extname = 'lockservice';

-- the pinned functions: signatures, none SECURITY DEFINER, none STRICT
SELECT p.proname,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.format_type(p.prorettype, NULL) AS returns,
       p.prosecdef, p.proisstrict, p.provolatile
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'lockservice'::regnamespace
   AND p.proname IN ('lock_acquire', 'lock_renew', 'lock_release', 'lock_check',
                     'fence', 'last_issued_token', 'advance_token_counter')
 ORDER BY p.proname;

-- EXECUTE for PUBLIC on the client functions, not on advance_token_counter
SELECT f AS function,
       pg_catalog.has_function_privilege('public', f, 'EXECUTE') AS public_execute
  FROM unnest(ARRAY['lockservice.lock_acquire(text,text,interval,interval)',
                    'lockservice.lock_renew(text,bigint,interval)',
                    'lockservice.lock_release(text,bigint)',
                    'lockservice.lock_check(text,bigint)',
                    'lockservice.fence(text,bigint)',
                    'lockservice.last_issued_token()',
                    'lockservice.advance_token_counter(bigint)']) AS f;

-- relations: tables with fillfactor 50, view readable by PUBLIC, tables not
SELECT c.relname, c.relkind, c.reloptions
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'lockservice'::regnamespace
   AND c.relname IN ('leases', 'fences', 'fencing_seq', 'leases_live',
                     'leases_pkey', 'fences_pkey')
 ORDER BY c.relname;
SELECT pg_catalog.has_table_privilege('public', 'lockservice.leases', 'SELECT') AS leases_select,
       pg_catalog.has_table_privilege('public', 'lockservice.leases', 'INSERT') AS leases_insert,
       pg_catalog.has_table_privilege('public', 'lockservice.fences', 'SELECT') AS fences_select,
       pg_catalog.has_sequence_privilege('public', 'lockservice.fencing_seq', 'USAGE') AS seq_usage,
       pg_catalog.has_table_privilege('public', 'lockservice.leases_live', 'SELECT') AS view_select,
       pg_catalog.has_schema_privilege('public', 'lockservice', 'USAGE') AS schema_usage;
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = 'lockservice.leases_live'::regclass AND a.attnum > 0
 ORDER BY a.attnum;

-- tables and sequence are dumped by pg_dump
SELECT c::regclass AS config_dump
  FROM pg_catalog.pg_extension e, unnest(e.extconfig) AS c
 WHERE e.extname = 'lockservice'
 ORDER BY c::regclass::text;

-- settings and their defaults
SELECT name, setting, unit, context
  FROM pg_catalog.pg_settings
 WHERE name IN ('lockservice.max_ttl', 'lockservice.max_name_length',
                'lockservice.max_holder_length', 'lockservice.wait_slots')
 ORDER BY name;
SHOW lockservice.max_ttl;

--
-- acquire
--
SELECT lockservice.lock_acquire('api/a', 'worker-1') AS t1 \gset
SELECT :t1 > 0 AS positive,
       lockservice.last_issued_token() = :t1 + 1 AS is_last_issued;
-- token = timeline * 2^47 + 2 * the sequence's value (+ 1 for shared leases
-- and permits, so exclusive tokens are even); a fresh instance is on timeline 1
SELECT (:t1 >> 47) = 1 AS timeline_1,
       (:t1 & ((1::bigint << 47) - 1)) = 2 * (SELECT last_value FROM lockservice.fencing_seq) AS low_bits_from_sequence,
       :t1 % 2 = 0 AS exclusive_is_even;

-- the lease row: default ttl 30 seconds, owned by the calling role
SELECT name, slot, kind, holder,
       owner = current_user::text::regrole::oid AS owned_by_me,
       token = :t1 AS token_ok, ttl, released_at IS NULL AS not_released,
       expires_at > pg_catalog.clock_timestamp() AS live,
       expires_at <= pg_catalog.clock_timestamp() + interval '30 seconds' AS within_ttl,
       granted_at <= pg_catalog.clock_timestamp() AS granted_in_past
  FROM lockservice.leases WHERE name = 'api/a';

SELECT name, holder, owner = current_user::text::regrole AS owned_by_me,
       token = :t1 AS token_ok,
       remaining > interval '20 seconds' AND remaining <= interval '30 seconds' AS remaining_ok,
       expires_at - granted_at >= interval '30 seconds' AS span_ok
  FROM lockservice.leases_live WHERE name LIKE 'api/%' ORDER BY name;

-- idempotent re-acquire by the same holder: same token, lease extended
SELECT expires_at AS e1 FROM lockservice.leases WHERE name = 'api/a' \gset
SELECT lockservice.lock_acquire('api/a', 'worker-1', '1 hour') = :t1 AS same_token;
SELECT expires_at > :'e1' AS extended,
       expires_at > pg_catalog.clock_timestamp() + interval '59 minutes' AS new_ttl_used
  FROM lockservice.leases WHERE name = 'api/a';
SELECT lockservice.last_issued_token() = :t1 + 1 AS no_new_token;

-- another holder gets NULL, immediately or after waiting
SELECT lockservice.lock_acquire('api/a', 'worker-2') IS NULL AS busy;
SELECT lockservice.lock_acquire('api/a', 'worker-2', '30 seconds', '50 milliseconds') IS NULL AS busy_after_wait;
-- named arguments
SELECT lockservice.lock_acquire(name => 'api/a', holder => 'worker-2', wait => '0') IS NULL AS busy_named;
SELECT lockservice.lock_acquire(holder => 'worker-1', name => 'api/a', ttl => '1 hour') = :t1 AS same_token_named;

--
-- renew
--
SELECT lockservice.lock_acquire('api/r', 'worker-1', '10 minutes') AS tr \gset
-- ttl NULL: the lease's own ttl
SELECT lockservice.lock_renew('api/r', :tr) AS renewed;
SELECT expires_at > pg_catalog.clock_timestamp() + interval '9 minutes' AS own_ttl_lower,
       expires_at <= pg_catalog.clock_timestamp() + interval '10 minutes' AS own_ttl_upper,
       token = :tr AS same_token
  FROM lockservice.leases WHERE name = 'api/r';
SELECT lockservice.lock_renew('api/r', :tr, '2 hours') AS renewed_2h;
SELECT expires_at > pg_catalog.clock_timestamp() + interval '119 minutes' AS extended_2h
  FROM lockservice.leases WHERE name = 'api/r';
-- renew sets now + ttl, also when that is sooner
SELECT lockservice.lock_renew('api/r', :tr, '1 minute') AS renewed_1min;
SELECT expires_at <= pg_catalog.clock_timestamp() + interval '1 minute' AS shortened,
       token = :tr AS same_token
  FROM lockservice.leases WHERE name = 'api/r';
-- ttl as a named argument
SELECT lockservice.lock_renew('api/r', :tr, ttl => '5 minutes') AS renewed_named;
-- not held under that token: false
SELECT lockservice.lock_renew('api/r', :tr + 1000) AS wrong_token,
       lockservice.lock_renew('api/r', :t1) AS other_lease_token,
       lockservice.lock_renew('api/no such lock', :tr) AS unknown_name;

--
-- check
--
SELECT lockservice.lock_check('api/r', :tr) AS checked,
       lockservice.lock_check('api/r', :t1) AS other_lease_token,
       lockservice.lock_check('api/no such lock', :tr) AS unknown_name;

--
-- release: true once, then false
--
SELECT lockservice.lock_release('api/a', :t1 + 1000) AS wrong_token;
SELECT lockservice.lock_release('api/a', :t1) AS released;
SELECT lockservice.lock_release('api/a', :t1) AS released_again;
SELECT lockservice.lock_release('api/no such lock', :t1) AS unknown_name;
SELECT lockservice.lock_renew('api/a', :t1) AS renew_after_release,
       lockservice.lock_check('api/a', :t1) AS check_after_release;
SELECT name FROM lockservice.leases_live WHERE name LIKE 'api/%' ORDER BY name;
-- the row is kept, marked released
SELECT name, holder, token = :t1 AS token_ok, released_at IS NOT NULL AS released
  FROM lockservice.leases WHERE name = 'api/a';

-- acquiring again gives a new, higher token
SELECT lockservice.lock_acquire('api/a', 'worker-2') AS t2 \gset
SELECT :t2 > :t1 AS newer, :t2 > :tr AS newer_than_all,
       lockservice.last_issued_token() = :t2 + 1 AS is_last_issued;
SELECT name, holder, token = :t2 AS token_ok, released_at IS NULL AS not_released
  FROM lockservice.leases WHERE name = 'api/a';
-- tokens increase across names
SELECT lockservice.lock_acquire('api/b', 'worker-1') AS t3 \gset
SELECT :t3 > :t2 AS newer, lockservice.last_issued_token() = :t3 + 1 AS is_last_issued;
SELECT name, holder FROM lockservice.leases_live WHERE name LIKE 'api/%' ORDER BY name;

--
-- fence
--
SELECT lockservice.fence('api/resource', :t3);
SELECT resource, token = :t3 AS token_ok,
       fenced_at <= pg_catalog.clock_timestamp() AS fenced_in_past
  FROM lockservice.fences WHERE resource = 'api/resource';

--
-- advance_token_counter (superuser here)
--
SELECT lockservice.last_issued_token() + 1000000 AS target \gset
SELECT lockservice.advance_token_counter(:target) IS NOT NULL AS advanced;
SELECT lockservice.last_issued_token() >= :target AS last_issued_advanced;
SELECT lockservice.lock_acquire('api/c', 'worker-1') AS t4 \gset
SELECT :t4 > :target AS above_target, lockservice.last_issued_token() = :t4 + 1 AS is_last_issued;
-- a lower value never moves the counter backwards
SELECT lockservice.advance_token_counter(1) IS NOT NULL AS advanced;
SELECT lockservice.last_issued_token() = :t4 + 1 AS unchanged;
SELECT lockservice.lock_acquire('api/d', 'worker-1') AS t5 \gset
SELECT :t5 > :t4 AS still_increasing;

-- clean up
SELECT lockservice.lock_release('api/r', :tr) AS r, lockservice.lock_release('api/a', :t2) AS a,
       lockservice.lock_release('api/b', :t3) AS b, lockservice.lock_release('api/c', :t4) AS c,
       lockservice.lock_release('api/d', :t5) AS d;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'api/%';
