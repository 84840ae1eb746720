--
-- multilock: lockservice.lock_acquire_all() takes a set of names all or
-- nothing: the tokens come in the order the names were given, each its
-- own; when one name is not free, none is held.  Overlapping sets under
-- concurrency are in the isolation spec multilock.
--
\set VERBOSITY sqlstate

CREATE ROLE regress_ls_multi;
SET ROLE regress_ls_multi;

-- every name granted, tokens in the order of the names given
SELECT lockservice.lock_acquire_all(ARRAY['ml/c', 'ml/a', 'ml/b'], 'h', '1 hour') AS t \gset
SELECT pg_catalog.array_length(:'t'::bigint[], 1) AS granted;
SELECT (SELECT token FROM lockservice.lock_holder('ml/c')) = (:'t'::bigint[])[1] AS c_first,
       (SELECT token FROM lockservice.lock_holder('ml/a')) = (:'t'::bigint[])[2] AS a_second,
       (SELECT token FROM lockservice.lock_holder('ml/b')) = (:'t'::bigint[])[3] AS b_third;
-- taken in name order: a, b, c
SELECT (:'t'::bigint[])[2] < (:'t'::bigint[])[3] AND (:'t'::bigint[])[3] < (:'t'::bigint[])[1]
       AS tokens_in_name_order;
SELECT name, holder, kind FROM lockservice.leases_live WHERE name LIKE 'ml/%' ORDER BY name;
-- a retry by the same holder: the same tokens (each name's idempotent retry)
SELECT lockservice.lock_acquire_all(ARRAY['ml/c', 'ml/a', 'ml/b'], 'h', '1 hour') = :'t'::bigint[]
       AS same_tokens;

-- one name held by another holder: NULL, and none of the others is held
SELECT lockservice.lock_acquire_all(ARRAY['ml/free1', 'ml/b', 'ml/free2'], 'other') IS NULL
       AS not_granted;
SELECT lockservice.lock_acquire_all(ARRAY['ml/free1', 'ml/b', 'ml/free2'], 'other', '1 hour',
                                    '200 milliseconds') IS NULL AS not_granted_after_wait;
SELECT pg_catalog.count(*) AS none_held FROM lockservice.leases_live
 WHERE name IN ('ml/free1', 'ml/free2');
-- in a transaction: the failed set leaves nothing either, the transaction goes on
BEGIN;
SELECT lockservice.lock_acquire('ml/mine', 'other', '1 hour') IS NOT NULL AS mine;
SELECT lockservice.lock_acquire_all(ARRAY['ml/free1', 'ml/a'], 'other') IS NULL AS not_granted;
SELECT name FROM lockservice.leases_live WHERE holder = 'other' AND name LIKE 'ml/%' ORDER BY name;
COMMIT;
SELECT lockservice.lock_release('ml/mine', (SELECT token FROM lockservice.lock_holder('ml/mine')));

-- released, the names can be taken as a set
SELECT pg_catalog.bool_and(lockservice.lock_release(n, t))
  FROM unnest(ARRAY['ml/c', 'ml/a', 'ml/b'], :'t'::bigint[]) AS u(n, t);
SELECT pg_catalog.array_length(
         lockservice.lock_acquire_all(ARRAY['ml/free1', 'ml/b', 'ml/free2'], 'other'), 1)
       AS granted_now;

-- in a session: kept by it, ended with it
SELECT lockservice.session_open('multi', '1 hour') AS s \gset
SELECT pg_catalog.array_length(lockservice.lock_acquire_all(ARRAY['ml/s1', 'ml/s2'], :s), 1)
       AS granted;
SELECT name, holder, session = :s AS in_session FROM lockservice.leases_live
 WHERE name LIKE 'ml/s%' ORDER BY name;
SELECT lockservice.lock_acquire_all(ARRAY['ml/s3', 'ml/free1'], :s) IS NULL AS not_granted;
SELECT pg_catalog.count(*) AS s3_not_held FROM lockservice.leases_live WHERE name = 'ml/s3';
SELECT lockservice.session_close(:s) AS closed;
SELECT pg_catalog.count(*) AS ended FROM lockservice.leases_live WHERE name LIKE 'ml/s%';

-- bad input: clear errors, nothing held
SELECT lockservice.lock_acquire_all(NULL, 'h');
SELECT lockservice.lock_acquire_all(ARRAY[]::text[], 'h');
SELECT lockservice.lock_acquire_all(ARRAY['ml/x', NULL], 'h');
SELECT lockservice.lock_acquire_all(ARRAY['ml/x', ''], 'h');
SELECT lockservice.lock_acquire_all(ARRAY['ml/x', 'ml/y', 'ml/x'], 'h');
SELECT lockservice.lock_acquire_all(ARRAY['ml/x'], NULL::text);
SELECT lockservice.lock_acquire_all(ARRAY['ml/x'], 'h', '0');
SELECT lockservice.lock_acquire_all(ARRAY['ml/x'], 'h', '1 s', '-1 s');
SELECT lockservice.lock_acquire_all(ARRAY['ml/x'], NULL::bigint);
SELECT lockservice.lock_acquire_all(ARRAY['ml/x'], 0::bigint);
SELECT lockservice.lock_acquire_all(ARRAY['ml/x'], :s);
SELECT pg_catalog.count(*) AS nothing FROM lockservice.leases_live WHERE name IN ('ml/x', 'ml/y');

RESET ROLE;
SELECT lockservice.force_release(name) FROM lockservice.leases_live
 WHERE name LIKE 'ml/%' ORDER BY name;
DROP ROLE regress_ls_multi;
