--
-- kinds_admin: operating the lock service (issue 5): force_release and its
-- privileges, set_lock_delay and lockservice.lock_delay, and the lock-delay
-- itself (a lease that expired without being released holds its name off
-- until expires_at + lock_delay; a release, forced or not, does not).
-- (Named kinds_admin, not admin: pg_regress runs the files in alphabetical
-- order and api.sql must run first.)
-- Token values and timestamps are never printed: they are kept in psql
-- variables (\gset) and compared.
--
\set VERBOSITY sqlstate

CREATE ROLE regress_ls_adm_plain;
CREATE ROLE regress_ls_adm_operator;

--
-- force_release: not executable by PUBLIC; granted deliberately
--
SET ROLE regress_ls_adm_plain;
SELECT lockservice.lock_acquire('adm/x', 'plain-holder', '10 minutes') AS tx \gset
SELECT lockservice.force_release('adm/x');
SELECT lockservice.force_release('adm/x', :tx);
SET ROLE regress_ls_adm_operator;
SELECT lockservice.force_release('adm/x');
RESET ROLE;
SELECT holder, owner FROM lockservice.lock_holder('adm/x');

GRANT EXECUTE ON FUNCTION lockservice.force_release(text, bigint) TO regress_ls_adm_operator;
SELECT pg_catalog.has_function_privilege('regress_ls_adm_operator',
         'lockservice.force_release(text,bigint)', 'EXECUTE') AS operator_may,
       pg_catalog.has_function_privilege('regress_ls_adm_plain',
         'lockservice.force_release(text,bigint)', 'EXECUTE') AS plain_may;

-- the operator ends a lease it does not own: the count of leases ended
SET ROLE regress_ls_adm_operator;
SELECT lockservice.force_release('adm/x') AS ended;
SELECT count(*) AS holders FROM lockservice.lock_holder('adm/x');
-- nothing left to end: 0, not an error; an unknown name: 0
SELECT lockservice.force_release('adm/x') AS ended_again,
       lockservice.force_release('adm/x', :tx) AS ended_by_token,
       lockservice.force_release('adm/never used') AS unknown_name;
RESET ROLE;
-- the row says released
SELECT holder, owner::regrole AS owner, token = :tx AS token_ok, released_at IS NOT NULL AS released
  FROM lockservice.leases WHERE name = 'adm/x';
-- the former holder's renew, check and release are false
SET ROLE regress_ls_adm_plain;
SELECT lockservice.lock_renew('adm/x', :tx) AS renewed,
       lockservice.lock_check('adm/x', :tx) AS checked,
       lockservice.lock_release('adm/x', :tx) AS released;
-- and anyone may take the name at once, with a new token
SELECT lockservice.lock_acquire('adm/x', 'plain-holder') AS tx2 \gset
SELECT :tx2 > :tx AS newer;
SELECT lockservice.lock_release('adm/x', :tx2) AS released;
RESET ROLE;

-- every lease of a name, or only the one under token
SELECT lockservice.lock_acquire_shared('adm/s', 'reader-' || g) IS NOT NULL AS granted
  FROM generate_series(1, 3) g;
SELECT token AS ts2 FROM lockservice.leases WHERE name = 'adm/s' AND holder = 'reader-2' \gset
SET ROLE regress_ls_adm_operator;
SELECT lockservice.force_release('adm/s', :ts2) AS ended_one;
SELECT lockservice.force_release('adm/s', :ts2) AS ended_one_again;
SELECT holder FROM lockservice.lock_holder('adm/s') ORDER BY holder;
SELECT lockservice.force_release('adm/s') AS ended_all;
SELECT count(*) AS holders FROM lockservice.lock_holder('adm/s');
RESET ROLE;
SELECT lockservice.lock_renew('adm/s', :ts2) AS renewed;
-- semaphore permits
SELECT lockservice.sem_acquire('adm/p', 'slot-' || g, 3) IS NOT NULL AS granted
  FROM generate_series(1, 3) g;
SET ROLE regress_ls_adm_operator;
SELECT lockservice.force_release(name => 'adm/p') AS ended_permits;
RESET ROLE;
SELECT count(*) AS permits_in_use FROM lockservice.lock_holder('adm/p');

-- force_release is transactional like everything else
SELECT lockservice.lock_acquire('adm/tx', 'h', '10 minutes') AS ttx \gset
BEGIN;
SELECT lockservice.force_release('adm/tx') AS ended;
SELECT count(*) AS holders_in_tx FROM lockservice.lock_holder('adm/tx');
ROLLBACK;
SELECT lockservice.lock_check('adm/tx', :ttx) AS still_held;
SELECT lockservice.lock_release('adm/tx', :ttx) AS released;

-- bad input: 22004, 22023, 22001; and refused in a read-only transaction
SELECT lockservice.force_release(NULL);
SELECT lockservice.force_release(NULL, 2);
SELECT lockservice.force_release('');
SELECT lockservice.force_release(repeat('n', 257));
SELECT lockservice.force_release('adm/x', 0);
SELECT lockservice.force_release('adm/x', -2);
BEGIN READ ONLY;
SELECT lockservice.force_release('adm/x');
ROLLBACK;
-- force_release(name) with token NULL means every lease of the name
SELECT lockservice.lock_acquire('adm/null', 'h') IS NOT NULL AS granted;
SELECT lockservice.force_release('adm/null', NULL) AS ended;

REVOKE EXECUTE ON FUNCTION lockservice.force_release(text, bigint) FROM regress_ls_adm_operator;
SET ROLE regress_ls_adm_operator;
SELECT lockservice.force_release('adm/x');
RESET ROLE;

--
-- set_lock_delay and lockservice.lock_delay: for superusers (or roles
-- granted set_lock_delay)
--
SET ROLE regress_ls_adm_plain;
SELECT lockservice.set_lock_delay('adm/d', '1 second');
SET lockservice.lock_delay = '1s';
SELECT count(*) FROM lockservice.lock_options;
SHOW lockservice.lock_delay;
RESET ROLE;
SHOW lockservice.lock_delay;

SELECT lockservice.set_lock_delay('adm/d', '1 second');
SELECT name, lock_delay FROM lockservice.lock_options WHERE name LIKE 'adm/%' ORDER BY name;
-- setting it again replaces it
SELECT lockservice.set_lock_delay('adm/d', '1.5 seconds');
SELECT name, lock_delay FROM lockservice.lock_options WHERE name LIKE 'adm/%' ORDER BY name;
-- NULL removes it (back to lockservice.lock_delay); zero is kept, and
-- overrides lockservice.lock_delay
SELECT lockservice.set_lock_delay('adm/removed', '5 seconds');
SELECT lockservice.set_lock_delay('adm/removed', NULL);
SELECT lockservice.set_lock_delay('adm/never set', NULL);
SELECT lockservice.set_lock_delay('adm/zero', '0');
SELECT name, lock_delay FROM lockservice.lock_options WHERE name LIKE 'adm/%' ORDER BY name;
-- transactional
BEGIN;
SELECT lockservice.set_lock_delay('adm/rolled back', '1 hour');
ROLLBACK;
SELECT count(*) AS rolled_back FROM lockservice.lock_options WHERE name = 'adm/rolled back';

-- bad input: a negative delay is 22023; NULL, empty, over-long names as usual
SELECT lockservice.set_lock_delay('adm/d', '-1 second');
SELECT lockservice.set_lock_delay('adm/d', '-1 microsecond');
SELECT lockservice.set_lock_delay('adm/d', '1 day -25 hours');
SELECT lockservice.set_lock_delay(NULL, '1 second');
SELECT lockservice.set_lock_delay('', '1 second');
SELECT lockservice.set_lock_delay(repeat('n', 257), '1 second');
BEGIN READ ONLY;
SELECT lockservice.set_lock_delay('adm/d', '2 seconds');
ROLLBACK;
SELECT name, lock_delay FROM lockservice.lock_options WHERE name LIKE 'adm/%' ORDER BY name;
-- the GUC refuses negative values
SET lockservice.lock_delay = -1;

-- a role granted set_lock_delay may use it
GRANT EXECUTE ON FUNCTION lockservice.set_lock_delay(text, interval) TO regress_ls_adm_operator;
SET ROLE regress_ls_adm_operator;
SELECT lockservice.set_lock_delay('adm/granted', '2 seconds');
SELECT lockservice.set_lock_delay('adm/granted', NULL);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION lockservice.set_lock_delay(text, interval) FROM regress_ls_adm_operator;

--
-- the lock-delay (adm/d: 1.5 seconds)
--
-- a lease that expires without being released holds its name off, for
-- every holder, the former one too; it is no longer live meanwhile
SELECT lockservice.lock_acquire('adm/d', 'a', '100 milliseconds') AS td1 \gset
SELECT expires_at AS ed1 FROM lockservice.leases WHERE name = 'adm/d' AND slot = 0 \gset
SELECT pg_catalog.pg_sleep(0.2);
SELECT count(*) AS holders FROM lockservice.lock_holder('adm/d');
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'adm/d';
SELECT lockservice.lock_acquire('adm/d', 'b') IS NULL AS held_off;
SELECT lockservice.lock_acquire('adm/d', 'a') IS NULL AS held_off_for_former_holder;
SELECT lockservice.lock_acquire_shared('adm/d', 'c') IS NULL AS held_off_for_readers;
SELECT lockservice.lock_renew('adm/d', :td1) AS renewed,
       lockservice.lock_check('adm/d', :td1) AS checked;
-- a waiter is granted at expires_at + lock_delay, not earlier, and promptly
SELECT lockservice.lock_acquire('adm/d', 'b', '1 minute', '20 seconds') AS td2 \gset
SELECT granted_at >= :'ed1'::timestamptz + interval '1.5 seconds' AS not_before_delay,
       granted_at < :'ed1'::timestamptz + interval '1.5 seconds' + interval '5 seconds' AS promptly,
       holder, token = :td2 AS token_ok
  FROM lockservice.leases WHERE name = 'adm/d' AND slot = 0;
SELECT :td2 > :td1 AS newer;

-- a clean release is not delayed
SELECT lockservice.lock_release('adm/d', :td2) AS released;
SELECT lockservice.lock_acquire('adm/d', 'c', '1 minute') AS td3 \gset
SELECT :td3 > :td2 AS granted_at_once;
SELECT lockservice.lock_release('adm/d', :td3) AS released;

-- nor is a forced release, which also ends a lock-delay under way
SELECT lockservice.lock_acquire('adm/d', 'a', '100 milliseconds') AS td4 \gset
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire('adm/d', 'b') IS NULL AS held_off;
SELECT lockservice.force_release('adm/d') AS ended;
SELECT lockservice.lock_acquire('adm/d', 'b', '1 minute') AS td5 \gset
SELECT :td5 > :td4 AS granted_at_once;
SELECT lockservice.force_release('adm/d', :td5) AS ended;
SELECT lockservice.lock_acquire('adm/d', 'c', '1 minute') AS td6 \gset
SELECT :td6 > :td5 AS granted_at_once;
SELECT lockservice.lock_release('adm/d', :td6) AS released;

-- an expired shared lease within its delay holds off writers, not readers
SELECT lockservice.set_lock_delay('adm/ds', '1.5 seconds');
SELECT lockservice.lock_acquire_shared('adm/ds', 'reader-1', '100 milliseconds') IS NOT NULL AS granted;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire('adm/ds', 'writer') IS NULL AS writer_held_off;
SELECT lockservice.lock_acquire_shared('adm/ds', 'reader-2') AS tr2 \gset
SELECT holder FROM lockservice.lock_holder('adm/ds');
SELECT lockservice.lock_release('adm/ds', :tr2) AS released;
-- the writer gets it once the delay is over
SELECT lockservice.lock_acquire('adm/ds', 'writer', '1 minute', '20 seconds') AS tw \gset
SELECT :tw > :tr2 AS granted;
SELECT lockservice.lock_release('adm/ds', :tw) AS released;

-- an expired permit within its delay still takes its place
SELECT lockservice.set_lock_delay('adm/dp', '1.5 seconds');
SELECT lockservice.sem_acquire('adm/dp', 'slot-1', 1, '100 milliseconds') IS NOT NULL AS granted;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.sem_acquire('adm/dp', 'slot-2', 1) IS NULL AS held_off;
SELECT lockservice.sem_acquire('adm/dp', 'slot-2', 1, '1 minute', '20 seconds') AS tp \gset
SELECT holder FROM lockservice.lock_holder('adm/dp');
SELECT lockservice.lock_release('adm/dp', :tp) AS released;

-- lockservice.lock_delay applies to names without their own delay; a
-- name's own delay (zero included) wins.  The reaper reads
-- lockservice.lock_delay from the server's configuration, not from this
-- session: it is stopped meanwhile, lest it reap a lease that this session
-- still holds off.
SELECT lockservice.stop_reaper() IS NOT NULL AS stop_asked;
DO $$
DECLARE
	deadline timestamptz := pg_catalog.clock_timestamp() + interval '30 seconds';
BEGIN
	LOOP
		PERFORM pg_catalog.pg_stat_clear_snapshot();
		EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity
		                       WHERE backend_type = 'lockservice reaper'
		                         AND datname = pg_catalog.current_database());
		IF pg_catalog.clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'the reaper did not stop';
		END IF;
		PERFORM pg_catalog.pg_sleep(0.01);
	END LOOP;
END $$;
SET lockservice.lock_delay = '1500ms';
SHOW lockservice.lock_delay;
SELECT lockservice.lock_acquire('adm/g', 'a', '100 milliseconds') IS NOT NULL AS granted;
SELECT lockservice.lock_acquire('adm/zero', 'a', '100 milliseconds') IS NOT NULL AS granted;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire('adm/g', 'b') IS NULL AS held_off_by_guc;
SELECT lockservice.lock_acquire('adm/zero', 'b') AS tz \gset
SELECT lockservice.lock_release('adm/zero', :tz) AS zero_delay_granted_at_once;
SELECT lockservice.lock_acquire('adm/g', 'b', '1 minute', '20 seconds') AS tg \gset
SELECT lockservice.lock_release('adm/g', :tg) AS granted_after_delay;
RESET lockservice.lock_delay;
-- with shared_preload_libraries the launcher starts the reaper again
SELECT lockservice.start_reaper() IS NULL AS restarted_by_launcher;
-- removing a name's delay: the name follows lockservice.lock_delay again
SELECT lockservice.set_lock_delay('adm/d', NULL);
SELECT lockservice.lock_acquire('adm/d', 'a', '100 milliseconds') IS NOT NULL AS granted;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire('adm/d', 'b') AS td7 \gset
SELECT lockservice.lock_release('adm/d', :td7) AS granted_at_once;

-- clean up
SELECT lockservice.set_lock_delay(name, NULL) FROM lockservice.lock_options WHERE name LIKE 'adm/%';
SELECT count(*) AS options_left FROM lockservice.lock_options WHERE name LIKE 'adm/%';
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'adm/%';
DROP ROLE regress_ls_adm_plain;
DROP ROLE regress_ls_adm_operator;
