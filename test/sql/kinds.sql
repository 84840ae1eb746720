--
-- kinds: shared locks and counting semaphores (issue 5), their objects,
-- tokens, lock_holder, lock_waiters, leases_live, and every error of the
-- kinds (LS004, LS005, bad permits).  Waiting, FIFO order and the queue are
-- in the isolation specs kinds_*.spec; force_release and lock-delay in
-- kinds_admin.sql; the audit history in history.sql.
-- Token values and timestamps are never printed: they are kept in psql
-- variables (\gset) and compared.
--
\set VERBOSITY sqlstate

--
-- objects: the new functions, none SECURITY DEFINER, none STRICT
--
SELECT p.proname,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS returns,
       p.prosecdef, p.proisstrict, p.provolatile
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'lockservice'::regnamespace
   AND p.proname IN ('lock_acquire_shared', 'sem_acquire', 'lock_holder',
                     'force_release', 'set_lock_delay', 'lock_waiters')
 ORDER BY p.proname;

-- EXECUTE: PUBLIC may use the kinds and look at holders and waiters; the
-- operator functions are granted deliberately
SELECT f AS function,
       pg_catalog.has_function_privilege('public', f, 'EXECUTE') AS public_execute
  FROM unnest(ARRAY['lockservice.lock_acquire_shared(text,text,interval,interval)',
                    'lockservice.sem_acquire(text,text,integer,interval,interval)',
                    'lockservice.lock_holder(text)',
                    'lockservice.lock_waiters(text)',
                    'lockservice.force_release(text,bigint)',
                    'lockservice.set_lock_delay(text,interval)']) AS f;

-- the new tables: no privilege for PUBLIC; dumped by pg_dump
SELECT c.relname, c.relkind,
       pg_catalog.has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       pg_catalog.has_table_privilege('public', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS public_write,
       c.oid = ANY (e.extconfig) AS dumped
  FROM pg_catalog.pg_class c, pg_catalog.pg_extension e
 WHERE c.relnamespace = 'lockservice'::regnamespace
   AND c.relname IN ('lock_options', 'history')
   AND e.extname = 'lockservice'
 ORDER BY c.relname;
SELECT a.attrelid::regclass AS relation, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid IN ('lockservice.lock_options'::regclass, 'lockservice.history'::regclass)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid::regclass::text, a.attnum;

-- leases_live has kind and waiters
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = 'lockservice.leases_live'::regclass AND a.attnum > 0
 ORDER BY a.attnum;

-- the settings of issue 5 and their defaults
SELECT name, setting, unit, context
  FROM pg_catalog.pg_settings
 WHERE name IN ('lockservice.lock_delay', 'lockservice.history',
                'lockservice.history_retention', 'lockservice.history_max_rows')
 ORDER BY name;

--
-- shared locks: any number of readers, no writer while one is live
--
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-1', '10 minutes') AS r1 \gset
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-2', '10 minutes') AS r2 \gset
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-3') AS r3 \gset
-- every grant has its own token; shared tokens are odd, and the newest one
-- is last_issued_token() itself (its odd upper bound)
SELECT :r1 > 0 AS positive, :r2 > :r1 AS r2_newer, :r3 > :r2 AS r3_newer,
       :r1 % 2 = 1 AND :r2 % 2 = 1 AND :r3 % 2 = 1 AS shared_tokens_odd,
       lockservice.last_issued_token() = :r3 AS r3_is_last_issued;
-- the lease rows: slot 0 is the head row of the name, the readers in slots
SELECT slot, kind, holder, released_at IS NULL AS not_released, permits,
       token = CASE holder WHEN 'reader-1' THEN :r1 WHEN 'reader-2' THEN :r2
                           WHEN 'reader-3' THEN :r3 END AS token_ok
  FROM lockservice.leases WHERE name = 'kind/rw' AND slot > 0 ORDER BY slot;
SELECT holder, owner = current_user::text::regrole AS owned_by_me, kind, waiters,
       remaining > interval '9 minutes' OR holder = 'reader-3' AS remaining_ok
  FROM lockservice.leases_live WHERE name = 'kind/rw' ORDER BY holder;
SELECT holder, owner = current_user::text::regrole AS owned_by_me, kind,
       token = CASE holder WHEN 'reader-1' THEN :r1 WHEN 'reader-2' THEN :r2
                           WHEN 'reader-3' THEN :r3 END AS token_ok,
       granted_at <= pg_catalog.clock_timestamp() AS granted_in_past,
       expires_at > pg_catalog.clock_timestamp() AS live
  FROM lockservice.lock_holder('kind/rw') ORDER BY holder;

-- a writer gets NULL while readers hold the name, also after waiting
SELECT lockservice.lock_acquire('kind/rw', 'writer') IS NULL AS writer_refused;
SELECT lockservice.lock_acquire('kind/rw', 'writer', '1 minute', '100 milliseconds') IS NULL AS writer_refused_after_wait;
SELECT lockservice.last_issued_token() = :r3 AS no_token_drawn;

-- the same reader again: its own token back, extended, no new token
SELECT expires_at AS e1 FROM lockservice.leases WHERE name = 'kind/rw' AND holder = 'reader-1' \gset
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-1', '1 hour') = :r1 AS same_token;
SELECT expires_at > :'e1' AS extended,
       expires_at > pg_catalog.clock_timestamp() + interval '59 minutes' AS new_ttl_used
  FROM lockservice.leases WHERE name = 'kind/rw' AND holder = 'reader-1';
SELECT count(*) AS reader_1_leases FROM lockservice.leases_live
 WHERE name = 'kind/rw' AND holder = 'reader-1';
SELECT lockservice.last_issued_token() = :r3 AS no_new_token;

-- a reader asking for another kind of lease on the name it holds: LS004
SELECT lockservice.lock_acquire('kind/rw', 'reader-1');
SELECT lockservice.sem_acquire('kind/rw', 'reader-1', 5);
-- a semaphore permit on a name in use as a lock: LS004, whoever asks
SELECT lockservice.sem_acquire('kind/rw', 'someone-else', 5);

-- renew, check and release work on shared leases
SELECT lockservice.lock_renew('kind/rw', :r2) AS renewed,
       lockservice.lock_renew('kind/rw', :r2, '20 minutes') AS renewed_20min,
       lockservice.lock_check('kind/rw', :r2) AS checked;
SELECT expires_at > pg_catalog.clock_timestamp() + interval '19 minutes' AS renewed_to_20min
  FROM lockservice.leases WHERE name = 'kind/rw' AND holder = 'reader-2';
-- another reader's token, or a reader's token under another name: false
SELECT lockservice.lock_renew('kind/rw', :r2 + 2000) AS wrong_token,
       lockservice.lock_check('kind/other', :r2) AS other_name;

-- fence refuses the token of a shared lease: LS005 (readers do not fence
-- each other out; they guard writes with lock_check)
SELECT lockservice.fence('kind/resource', :r1);
SELECT count(*) AS fences FROM lockservice.fences WHERE resource = 'kind/resource';

-- the writer still waits for the last reader
SELECT lockservice.lock_release('kind/rw', :r1) AS r1_released,
       lockservice.lock_release('kind/rw', :r1) AS r1_released_again,
       lockservice.lock_release('kind/rw', :r2) AS r2_released;
SELECT lockservice.lock_renew('kind/rw', :r1) AS r1_renewed,
       lockservice.lock_check('kind/rw', :r1) AS r1_checked;
SELECT lockservice.lock_acquire('kind/rw', 'writer') IS NULL AS writer_refused;
SELECT holder FROM lockservice.lock_holder('kind/rw');
SELECT lockservice.lock_release('kind/rw', :r3) AS r3_released;
SELECT count(*) AS holders FROM lockservice.lock_holder('kind/rw');

-- no reader left: the writer is granted, with an even token
SELECT lockservice.lock_acquire('kind/rw', 'writer', '10 minutes') AS w1 \gset
SELECT :w1 > :r3 AS newer, :w1 % 2 = 0 AS exclusive_token_even,
       lockservice.last_issued_token() = :w1 + 1 AS last_issued_is_odd_bound;
SELECT holder, kind, token = :w1 AS token_ok FROM lockservice.lock_holder('kind/rw');
SELECT holder, kind, waiters FROM lockservice.leases_live WHERE name = 'kind/rw';
-- readers get NULL while the writer holds it
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-1') IS NULL AS reader_refused;
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-1', '1 minute', '100 milliseconds') IS NULL AS reader_refused_after_wait;
-- the writer asking for a shared lease on the name it holds: LS004
SELECT lockservice.lock_acquire_shared('kind/rw', 'writer');
-- the exclusive token fences
SELECT lockservice.fence('kind/resource', :w1);
SELECT count(*) AS fences FROM lockservice.fences WHERE resource = 'kind/resource';
SELECT lockservice.lock_release('kind/rw', :w1) AS w1_released;

-- and readers come back, with new tokens
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-1') AS r4 \gset
SELECT :r4 > :w1 AS newer, :r4 % 2 = 1 AS odd;
-- a freed slot is used again: no row is added for a new reader
SELECT count(*) AS rows_of_name FROM lockservice.leases WHERE name = 'kind/rw';

-- a lease is identified by name, role and holder: another role with the
-- same holder string is another reader, with its own lease and token
CREATE ROLE regress_ls_kinds;
SET ROLE regress_ls_kinds;
SELECT lockservice.lock_acquire_shared('kind/rw', 'reader-1') AS r5 \gset
SELECT :r5 > :r4 AS own_newer_token;
SELECT holder, owner = 'regress_ls_kinds'::regrole AS plain_role
  FROM lockservice.lock_holder('kind/rw') ORDER BY 2;
-- it cannot renew, check or release the other role's lease, even with the
-- same holder string
SELECT lockservice.lock_renew('kind/rw', :r4) AS renewed,
       lockservice.lock_check('kind/rw', :r4) AS checked,
       lockservice.lock_release('kind/rw', :r4) AS released;
SELECT lockservice.lock_release('kind/rw', :r5) AS own_released;
RESET ROLE;
SELECT lockservice.lock_release('kind/rw', :r4) AS released;

-- an expired shared lease is free for a writer (a takeover, with a new
-- token); the reader's renew, check and release are then false
SELECT lockservice.lock_acquire_shared('kind/exp', 'reader', '100 milliseconds') AS r6 \gset
SELECT pg_catalog.pg_sleep(0.2);
SELECT count(*) AS holders FROM lockservice.lock_holder('kind/exp');
SELECT lockservice.lock_acquire('kind/exp', 'writer', '1 minute') AS w2 \gset
SELECT :w2 > :r6 AS newer, :w2 % 2 = 0 AS even;
SELECT lockservice.lock_renew('kind/exp', :r6) AS renewed,
       lockservice.lock_check('kind/exp', :r6) AS checked,
       lockservice.lock_release('kind/exp', :r6) AS released;
-- and an expired exclusive lease is free for readers
SELECT lockservice.lock_renew('kind/exp', :w2, '100 milliseconds') AS shortened;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire_shared('kind/exp', 'reader', '1 minute') AS r7 \gset
SELECT :r7 > :w2 AS newer, :r7 % 2 = 1 AS odd;
SELECT lockservice.lock_renew('kind/exp', :w2) AS renewed,
       lockservice.lock_release('kind/exp', :w2) AS released;
SELECT holder, kind FROM lockservice.lock_holder('kind/exp');
SELECT lockservice.lock_release('kind/exp', :r7) AS released;

--
-- counting semaphores: at most permits live leases
--
SELECT lockservice.sem_acquire('kind/sem', 'slot-a', 2, '10 minutes') AS p1 \gset
SELECT lockservice.sem_acquire('kind/sem', 'slot-b', 2, '10 minutes') AS p2 \gset
SELECT :p2 > :p1 AS newer, :p1 % 2 = 1 AND :p2 % 2 = 1 AS permit_tokens_odd,
       lockservice.last_issued_token() = :p2 AS p2_is_last_issued;
-- full: a third holder gets NULL, also after waiting, and draws no token
SELECT lockservice.sem_acquire('kind/sem', 'slot-c', 2) IS NULL AS full;
SELECT lockservice.sem_acquire('kind/sem', 'slot-c', 2, '1 minute', '100 milliseconds') IS NULL AS full_after_wait;
SELECT lockservice.last_issued_token() = :p2 AS no_token_drawn;
-- the head row records the semaphore and its permits
SELECT slot, kind, permits FROM lockservice.leases WHERE name = 'kind/sem' AND slot = 0;
SELECT holder, kind, token = CASE holder WHEN 'slot-a' THEN :p1 ELSE :p2 END AS token_ok
  FROM lockservice.lock_holder('kind/sem') ORDER BY holder;
SELECT holder, kind, waiters FROM lockservice.leases_live WHERE name = 'kind/sem' ORDER BY holder;

-- the same holder again: its own token back, no second permit
SELECT lockservice.sem_acquire('kind/sem', 'slot-a', 2, '1 hour') = :p1 AS same_token;
SELECT count(*) AS permits_in_use FROM lockservice.lock_holder('kind/sem');
SELECT lockservice.last_issued_token() = :p2 AS no_new_token;

-- different permits while the semaphore is in use: LS004
SELECT lockservice.sem_acquire('kind/sem', 'slot-c', 3);
SELECT lockservice.sem_acquire('kind/sem', 'slot-c', 1);
-- a lock on a name in use as a semaphore: LS004, either kind, whoever asks
SELECT lockservice.lock_acquire('kind/sem', 'slot-c');
SELECT lockservice.lock_acquire_shared('kind/sem', 'slot-c');
SELECT lockservice.lock_acquire('kind/sem', 'slot-a');
-- nothing changed
SELECT slot, kind, permits FROM lockservice.leases WHERE name = 'kind/sem' AND slot = 0;
SELECT count(*) AS permits_in_use FROM lockservice.lock_holder('kind/sem');

-- renew, check and release work on permits; fence refuses their tokens
SELECT lockservice.lock_renew('kind/sem', :p2) AS renewed,
       lockservice.lock_check('kind/sem', :p2) AS checked;
SELECT lockservice.fence('kind/resource', :p2);
SELECT lockservice.lock_release('kind/sem', :p1) AS p1_released;
-- a permit is free again: the third holder gets it
SELECT lockservice.sem_acquire('kind/sem', 'slot-c', 2) AS p3 \gset
SELECT :p3 > :p2 AS newer, :p3 % 2 = 1 AS odd;
SELECT holder FROM lockservice.lock_holder('kind/sem') ORDER BY holder;
SELECT lockservice.sem_acquire('kind/sem', 'slot-a', 2) IS NULL AS full_again;

-- an expired permit frees its place (without waiting for the reaper)
SELECT lockservice.lock_renew('kind/sem', :p3, '100 milliseconds') AS shortened;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.sem_acquire('kind/sem', 'slot-a', 2) AS p4 \gset
SELECT :p4 > :p3 AS newer;
SELECT lockservice.lock_renew('kind/sem', :p3) AS expired_renewed,
       lockservice.lock_release('kind/sem', :p3) AS expired_released;
SELECT holder FROM lockservice.lock_holder('kind/sem') ORDER BY holder;

-- once every permit has ended, the name may change its permits, and even
-- become a lock
SELECT lockservice.lock_release('kind/sem', :p2) AS p2_released,
       lockservice.lock_release('kind/sem', :p4) AS p4_released;
SELECT lockservice.sem_acquire('kind/sem', 'slot-a', 1) AS p5 \gset
SELECT slot, kind, permits FROM lockservice.leases WHERE name = 'kind/sem' AND slot = 0;
-- a semaphore of one permit is a mutex
SELECT lockservice.sem_acquire('kind/sem', 'slot-b', 1) IS NULL AS mutex_held;
SELECT lockservice.lock_release('kind/sem', :p5) AS p5_released;
SELECT lockservice.lock_acquire('kind/sem', 'now-a-lock') AS w3 \gset
SELECT :w3 % 2 = 0 AS even;
SELECT slot, kind, permits FROM lockservice.leases WHERE name = 'kind/sem' AND slot = 0;
SELECT lockservice.sem_acquire('kind/sem', 'slot-a', 1);
SELECT lockservice.lock_release('kind/sem', :w3) AS released;

-- one permit per (role, holder): another role with the same holder string
-- takes a second permit
SELECT lockservice.sem_acquire('kind/sem2', 'worker', 2) AS p6 \gset
SET ROLE regress_ls_kinds;
SELECT lockservice.sem_acquire('kind/sem2', 'worker', 2) AS p7 \gset
SELECT :p7 > :p6 AS own_token;
SELECT lockservice.sem_acquire('kind/sem2', 'worker-2', 2) IS NULL AS full;
SELECT lockservice.lock_release('kind/sem2', :p7) AS released;
RESET ROLE;
SELECT holder, owner = current_user::text::regrole AS mine FROM lockservice.lock_holder('kind/sem2');
SELECT lockservice.lock_release('kind/sem2', :p6) AS released;

--
-- bad permits: NULL 22004, zero or negative 22023; nothing changes
--
SELECT lockservice.last_issued_token() AS before \gset
SELECT lockservice.sem_acquire('kind/bad', 'h', NULL);
SELECT lockservice.sem_acquire('kind/bad', 'h', 0);
SELECT lockservice.sem_acquire('kind/bad', 'h', -1);
SELECT lockservice.sem_acquire('kind/bad', 'h', -2147483648);
-- and the arguments shared with lock_acquire
SELECT lockservice.sem_acquire(NULL, 'h', 1);
SELECT lockservice.sem_acquire('kind/bad', NULL, 1);
SELECT lockservice.sem_acquire('kind/bad', 'h', 1, NULL);
SELECT lockservice.sem_acquire('', 'h', 1);
SELECT lockservice.sem_acquire('kind/bad', '', 1);
SELECT lockservice.sem_acquire('kind/bad', 'h', 1, '0');
SELECT lockservice.sem_acquire('kind/bad', 'h', 1, '2 days');
SELECT lockservice.sem_acquire('kind/bad', 'h', 1, '1 minute', '-1 second');
SELECT lockservice.sem_acquire(repeat('n', 257), 'h', 1);
SELECT lockservice.sem_acquire('kind/bad', repeat('h', 257), 1);
SELECT lockservice.lock_acquire_shared(NULL, 'h');
SELECT lockservice.lock_acquire_shared('kind/bad', NULL);
SELECT lockservice.lock_acquire_shared('kind/bad', 'h', NULL);
SELECT lockservice.lock_acquire_shared('', 'h');
SELECT lockservice.lock_acquire_shared('kind/bad', '');
SELECT lockservice.lock_acquire_shared('kind/bad', 'h', '0');
SELECT lockservice.lock_acquire_shared('kind/bad', 'h', '-1 second');
SELECT lockservice.lock_acquire_shared('kind/bad', 'h', '25 hours');
SELECT lockservice.lock_acquire_shared('kind/bad', 'h', '1 minute', '-1 microsecond');
SELECT lockservice.lock_acquire_shared(repeat('n', 257), 'h');
SELECT lockservice.lock_acquire_shared('kind/bad', repeat('h', 257));
SELECT lockservice.lock_holder(NULL);
SELECT lockservice.lock_holder('');
SELECT lockservice.lock_holder(repeat('n', 257));
SELECT lockservice.lock_waiters(NULL);
SELECT lockservice.lock_waiters('');
-- a look-up takes names of any length (granted under a higher limit)
SELECT lockservice.lock_waiters(repeat('n', 257));
SELECT count(*) AS rows_written FROM lockservice.leases WHERE name = 'kind/bad' OR name = '';
SELECT lockservice.last_issued_token() = :before AS no_token_drawn;
-- NULL wait means no limit, for the kinds as well
SELECT lockservice.lock_acquire_shared('kind/null-wait', 'h', '1 minute', NULL) AS r8 \gset
SELECT lockservice.sem_acquire('kind/null-wait-sem', 'h', 1, '1 minute', NULL) AS p8 \gset
SELECT lockservice.lock_release('kind/null-wait', :r8) AS released,
       lockservice.lock_release('kind/null-wait-sem', :p8) AS released_permit;
-- named arguments
SELECT lockservice.sem_acquire(permits => 1, holder => 'h', name => 'kind/named', wait => '0') AS p9 \gset
SELECT lockservice.lock_release(name => 'kind/named', token => :p9) AS released;

--
-- lock_holder and lock_waiters of a free, expired or unknown name
--
SELECT count(*) AS holders FROM lockservice.lock_holder('kind/never used');
SELECT lockservice.lock_waiters('kind/never used') AS waiters;
SELECT lockservice.lock_acquire('kind/short', 'h', '100 milliseconds') IS NOT NULL AS granted;
SELECT pg_catalog.pg_sleep(0.2);
SELECT count(*) AS holders_after_expiry FROM lockservice.lock_holder('kind/short');
-- nobody waits in this session
SELECT lockservice.lock_waiters('kind/rw') AS waiters;

-- a plain role may use the kinds and look at holders and waiters
SET ROLE regress_ls_kinds;
SELECT lockservice.lock_acquire_shared('kind/plain', 'h') AS r9 \gset
SELECT holder, owner, kind FROM lockservice.lock_holder('kind/plain');
SELECT lockservice.lock_waiters('kind/plain') AS waiters;
SELECT name, holder, owner, kind, waiters FROM lockservice.leases_live WHERE name = 'kind/plain';
SELECT lockservice.lock_release('kind/plain', :r9) AS released;
RESET ROLE;

-- clean up
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'kind/%';
DROP ROLE regress_ls_kinds;
