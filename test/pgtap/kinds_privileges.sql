-- test/pgtap/kinds_privileges.sql: privileges of the objects of issue 5
-- (lock kinds, admin, audit history).  lockservice.lock_options and
-- lockservice.history are neither readable nor writable by PUBLIC;
-- force_release and set_lock_delay are not executable by PUBLIC (an
-- operator role is granted them deliberately); lock_acquire_shared,
-- sem_acquire, lock_holder and lock_waiters are.  The superuser-only
-- settings refuse a plain role, and shared leases and permits belong to
-- exactly the role that acquired them.
--
-- Needs: a database where the runner did CREATE EXTENSION pgtap and
-- CREATE EXTENSION lockservice; run as a superuser (it creates roles) with
-- pg_prove.  Everything, roles included, is rolled back at the end.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(88);

CREATE ROLE ls_pgtap_k_plain NOLOGIN;
CREATE ROLE ls_pgtap_k_a NOLOGIN;
CREATE ROLE ls_pgtap_k_b NOLOGIN;
CREATE ROLE ls_pgtap_k_operator NOLOGIN;
CREATE ROLE ls_pgtap_k_su NOLOGIN SUPERUSER;

-- tokens, shared between the roles of this session
CREATE TEMP TABLE tok (k text PRIMARY KEY, v bigint);
GRANT ALL ON tok TO PUBLIC;

-- ------------------------------------------------------- catalog privileges
SELECT table_privs_are('lockservice', 'lock_options', 'public', ARRAY[]::text[],
	'PUBLIC has no privilege on lockservice.lock_options');
SELECT table_privs_are('lockservice', 'history', 'public', ARRAY[]::text[],
	'PUBLIC has no privilege on lockservice.history');
SELECT table_privs_are('lockservice', 'lock_options', 'ls_pgtap_k_plain', ARRAY[]::text[],
	'a fresh role has no privilege on lockservice.lock_options');
SELECT table_privs_are('lockservice', 'history', 'ls_pgtap_k_plain', ARRAY[]::text[],
	'a fresh role has no privilege on lockservice.history');
SELECT ok(NOT pg_catalog.has_any_column_privilege('public', 'lockservice.lock_options',
	          'SELECT, INSERT, UPDATE, REFERENCES')
      AND NOT pg_catalog.has_any_column_privilege('ls_pgtap_k_plain', 'lockservice.lock_options',
	          'SELECT, INSERT, UPDATE, REFERENCES'),
	'no column privilege on lockservice.lock_options for PUBLIC or a fresh role');
SELECT ok(NOT pg_catalog.has_any_column_privilege('public', 'lockservice.history',
	          'SELECT, INSERT, UPDATE, REFERENCES')
      AND NOT pg_catalog.has_any_column_privilege('ls_pgtap_k_plain', 'lockservice.history',
	          'SELECT, INSERT, UPDATE, REFERENCES'),
	'no column privilege on lockservice.history for PUBLIC or a fresh role');
SELECT table_privs_are('lockservice', 'leases_live', 'public', ARRAY['SELECT'],
	'PUBLIC may only SELECT lockservice.leases_live (with its kind and waiters columns)');
SELECT columns_are('lockservice', 'leases_live',
	ARRAY['name', 'holder', 'owner', 'token', 'granted_at', 'expires_at', 'remaining', 'kind', 'waiters', 'session'],
	'lockservice.leases_live has the columns kind and waiters (and session, 1.5)');

-- EXECUTE
SELECT function_privs_are('lockservice', 'lock_acquire_shared', ARRAY['text', 'text', 'interval', 'interval'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_acquire_shared');
SELECT function_privs_are('lockservice', 'sem_acquire', ARRAY['text', 'text', 'integer', 'interval', 'interval'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE sem_acquire');
SELECT function_privs_are('lockservice', 'lock_holder', ARRAY['text'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_holder');
SELECT function_privs_are('lockservice', 'lock_waiters', ARRAY['text'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_waiters');
SELECT function_privs_are('lockservice', 'force_release', ARRAY['text', 'bigint'],
	'public', ARRAY[]::text[], 'PUBLIC may not EXECUTE force_release');
SELECT function_privs_are('lockservice', 'set_lock_delay', ARRAY['text', 'interval'],
	'public', ARRAY[]::text[], 'PUBLIC may not EXECUTE set_lock_delay');
SELECT function_privs_are('lockservice', 'lock_acquire_shared', ARRAY['text', 'text', 'interval', 'interval'],
	'ls_pgtap_k_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_acquire_shared');
SELECT function_privs_are('lockservice', 'sem_acquire', ARRAY['text', 'text', 'integer', 'interval', 'interval'],
	'ls_pgtap_k_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE sem_acquire');
SELECT function_privs_are('lockservice', 'lock_holder', ARRAY['text'],
	'ls_pgtap_k_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_holder');
SELECT function_privs_are('lockservice', 'lock_waiters', ARRAY['text'],
	'ls_pgtap_k_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_waiters');
SELECT function_privs_are('lockservice', 'force_release', ARRAY['text', 'bigint'],
	'ls_pgtap_k_plain', ARRAY[]::text[], 'a fresh role may not EXECUTE force_release');
SELECT function_privs_are('lockservice', 'set_lock_delay', ARRAY['text', 'interval'],
	'ls_pgtap_k_plain', ARRAY[]::text[], 'a fresh role may not EXECUTE set_lock_delay');

-- none of the new functions is SECURITY DEFINER or STRICT
SELECT isnt_definer('lockservice', 'lock_acquire_shared', ARRAY['text', 'text', 'interval', 'interval'],
	'lock_acquire_shared is not SECURITY DEFINER');
SELECT isnt_definer('lockservice', 'sem_acquire', ARRAY['text', 'text', 'integer', 'interval', 'interval'],
	'sem_acquire is not SECURITY DEFINER');
SELECT isnt_definer('lockservice', 'lock_holder', ARRAY['text'], 'lock_holder is not SECURITY DEFINER');
SELECT isnt_definer('lockservice', 'lock_waiters', ARRAY['text'], 'lock_waiters is not SECURITY DEFINER');
SELECT isnt_definer('lockservice', 'force_release', ARRAY['text', 'bigint'], 'force_release is not SECURITY DEFINER');
SELECT isnt_definer('lockservice', 'set_lock_delay', ARRAY['text', 'interval'], 'set_lock_delay is not SECURITY DEFINER');
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
	   WHERE p.pronamespace = 'lockservice'::pg_catalog.regnamespace
	     AND p.proname IN ('lock_acquire_shared', 'sem_acquire', 'lock_holder',
	                       'lock_waiters', 'force_release', 'set_lock_delay')
	     AND p.proisstrict$$,
	'none of the new functions is STRICT (NULL raises 22004 instead)');

-- the settings: history and lock_delay for superusers, the pruning limits
-- in the server's configuration only
SELECT results_eq(
	$$SELECT name::text, context::text FROM pg_catalog.pg_settings
	   WHERE name IN ('lockservice.history', 'lockservice.lock_delay',
	                  'lockservice.history_retention', 'lockservice.history_max_rows')
	   ORDER BY name$$,
	$$VALUES ('lockservice.history', 'superuser'), ('lockservice.history_max_rows', 'sighup'),
	         ('lockservice.history_retention', 'sighup'), ('lockservice.lock_delay', 'superuser')$$,
	'lockservice.history and lock_delay are superuser settings, history_retention and history_max_rows sighup');

-- ------------------------------------------------- a plain role, for real
SET ROLE ls_pgtap_k_plain;
SELECT throws_ok('SELECT * FROM lockservice.lock_options', '42501', NULL,
	'plain role cannot SELECT lockservice.lock_options');
SELECT throws_ok($$INSERT INTO lockservice.lock_options VALUES ('pgtap.k.forged', '0')$$, '42501', NULL,
	'plain role cannot INSERT INTO lockservice.lock_options');
SELECT throws_ok($$UPDATE lockservice.lock_options SET lock_delay = '0'$$, '42501', NULL,
	'plain role cannot UPDATE lockservice.lock_options');
SELECT throws_ok('DELETE FROM lockservice.lock_options', '42501', NULL,
	'plain role cannot DELETE FROM lockservice.lock_options');
SELECT throws_ok('TRUNCATE lockservice.lock_options', '42501', NULL,
	'plain role cannot TRUNCATE lockservice.lock_options');
SELECT throws_ok('SELECT * FROM lockservice.history', '42501', NULL,
	'plain role cannot SELECT lockservice.history');
SELECT throws_ok($$INSERT INTO lockservice.history
	VALUES (now(), 'acquired', 'pgtap.k.forged', 'x', 'h', '-', 2, '-')$$, '42501', NULL,
	'plain role cannot INSERT INTO lockservice.history (forge an audit row)');
SELECT throws_ok($$UPDATE lockservice.history SET holder = 'someone else'$$, '42501', NULL,
	'plain role cannot UPDATE lockservice.history');
SELECT throws_ok('DELETE FROM lockservice.history', '42501', NULL,
	'plain role cannot DELETE FROM lockservice.history (erase its traces)');
SELECT throws_ok('TRUNCATE lockservice.history', '42501', NULL,
	'plain role cannot TRUNCATE lockservice.history');
SELECT throws_ok($$SELECT lockservice.force_release('pgtap.k.any')$$, '42501', NULL,
	'plain role cannot EXECUTE force_release');
SELECT throws_ok($$SELECT lockservice.force_release('pgtap.k.any', 2)$$, '42501', NULL,
	'plain role cannot EXECUTE force_release with a token');
SELECT throws_ok($$SELECT lockservice.set_lock_delay('pgtap.k.any', '1 second')$$, '42501', NULL,
	'plain role cannot EXECUTE set_lock_delay');
SELECT throws_ok($$SET lockservice.history = off$$, '42501', NULL,
	'plain role cannot switch lockservice.history');
SELECT throws_ok($$SET lockservice.lock_delay = 0$$, '42501', NULL,
	'plain role cannot set lockservice.lock_delay');
SELECT throws_ok($$SET lockservice.history_retention = 1$$, '55P02', NULL,
	'lockservice.history_retention cannot be set in a session');

-- what it may do: the kinds, lock_holder, lock_waiters
INSERT INTO tok VALUES ('plain_s', lockservice.lock_acquire_shared('pgtap.k.plain', 'plain-holder', '1 minute'));
SELECT isnt((SELECT v FROM tok WHERE k = 'plain_s'), NULL, 'plain role can lock_acquire_shared');
INSERT INTO tok VALUES ('plain_p', lockservice.sem_acquire('pgtap.k.plainsem', 'plain-holder', 2, '1 minute'));
SELECT isnt((SELECT v FROM tok WHERE k = 'plain_p'), NULL, 'plain role can sem_acquire');
SELECT results_eq(
	$$SELECT holder COLLATE "default", owner::text, token, kind FROM lockservice.lock_holder('pgtap.k.plain')$$,
	$$VALUES ('plain-holder'::text, 'ls_pgtap_k_plain'::text, (SELECT v FROM tok WHERE k = 'plain_s'), 'shared'::text)$$,
	'plain role can call lock_holder, which shows its shared lease');
SELECT is(lockservice.lock_waiters('pgtap.k.plain'), 0, 'plain role can call lock_waiters');
SELECT results_eq(
	$$SELECT name COLLATE "default", owner::text, kind, waiters FROM lockservice.leases_live
	   WHERE name IN ('pgtap.k.plain', 'pgtap.k.plainsem') ORDER BY name$$,
	$$VALUES ('pgtap.k.plain'::text, 'ls_pgtap_k_plain'::text, 'shared'::text, 0),
	         ('pgtap.k.plainsem', 'ls_pgtap_k_plain', 'permit', 0)$$,
	'plain role sees kind and waiters in leases_live');
SELECT is(lockservice.lock_renew('pgtap.k.plain', (SELECT v FROM tok WHERE k = 'plain_s')), true,
	'plain role can renew its shared lease');
SELECT is(lockservice.lock_check('pgtap.k.plainsem', (SELECT v FROM tok WHERE k = 'plain_p')), true,
	'plain role can check its permit');
RESET ROLE;

-- ------------------------------------------------ granted deliberately
GRANT EXECUTE ON FUNCTION lockservice.force_release(text, bigint) TO ls_pgtap_k_operator;
GRANT EXECUTE ON FUNCTION lockservice.set_lock_delay(text, interval) TO ls_pgtap_k_operator;
SELECT function_privs_are('lockservice', 'force_release', ARRAY['text', 'bigint'],
	'ls_pgtap_k_operator', ARRAY['EXECUTE'], 'the operator role may EXECUTE force_release once granted');
SELECT function_privs_are('lockservice', 'force_release', ARRAY['text', 'bigint'],
	'public', ARRAY[]::text[], 'granting it to the operator does not grant it to PUBLIC');
SET ROLE ls_pgtap_k_operator;
SELECT is(lockservice.force_release('pgtap.k.plain', (SELECT v FROM tok WHERE k = 'plain_s')), 1,
	'the operator ends the plain role''s shared lease by token');
SELECT is(lockservice.force_release('pgtap.k.plainsem'), 1, 'the operator ends the plain role''s permit');
SELECT lives_ok($$SELECT lockservice.set_lock_delay('pgtap.k.plain', '2 seconds')$$,
	'the operator may set a lock-delay');
SELECT throws_ok('SELECT * FROM lockservice.lock_options', '42501', NULL,
	'the operator still cannot read lockservice.lock_options');
SELECT throws_ok('SELECT * FROM lockservice.history', '42501', NULL,
	'the operator still cannot read lockservice.history');
SELECT throws_ok($$SET lockservice.history = off$$, '42501', NULL,
	'the operator still cannot switch lockservice.history');
RESET ROLE;
SELECT results_eq($$SELECT lock_delay FROM lockservice.lock_options WHERE name = 'pgtap.k.plain'$$,
	$$VALUES ('2 seconds'::interval)$$, 'the operator''s lock-delay is recorded');
SELECT is((SELECT count(*)::int FROM lockservice.leases_live WHERE name IN ('pgtap.k.plain', 'pgtap.k.plainsem')),
	0, 'the forced leases are gone');
SET ROLE ls_pgtap_k_plain;
SELECT is(lockservice.lock_renew('pgtap.k.plain', (SELECT v FROM tok WHERE k = 'plain_s')), false,
	'the plain role''s renew of its forced lease is false');
SELECT is(lockservice.lock_release('pgtap.k.plainsem', (SELECT v FROM tok WHERE k = 'plain_p')), false,
	'the plain role''s release of its forced permit is false');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION lockservice.force_release(text, bigint) FROM ls_pgtap_k_operator;
SET ROLE ls_pgtap_k_operator;
SELECT throws_ok($$SELECT lockservice.force_release('pgtap.k.plain')$$, '42501', NULL,
	'once revoked, the operator cannot EXECUTE force_release');
RESET ROLE;

-- ---------------------------------------- shared leases and permits: owners
-- A takes a shared lease and a permit; B, a superuser role and the session
-- superuser are refused with A's tokens; with A's holder string they get
-- leases of their own
SET ROLE ls_pgtap_k_a;
INSERT INTO tok VALUES ('a_s', lockservice.lock_acquire_shared('pgtap.k.iso', 'same-holder', '1 minute'));
INSERT INTO tok VALUES ('a_p', lockservice.sem_acquire('pgtap.k.isosem', 'same-holder', 3, '1 minute'));
SELECT ok((SELECT count(v) FROM tok WHERE k IN ('a_s', 'a_p')) = 2, 'A takes a shared lease and a permit');
RESET ROLE;

SET ROLE ls_pgtap_k_b;
SELECT is(lockservice.lock_renew('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), false,
	'B: lock_renew of A''s shared lease is false');
SELECT is(lockservice.lock_check('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), false,
	'B: lock_check of A''s shared lease is false');
SELECT is(lockservice.lock_release('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), false,
	'B: lock_release of A''s shared lease is false');
SELECT is(lockservice.lock_renew('pgtap.k.isosem', (SELECT v FROM tok WHERE k = 'a_p')), false,
	'B: lock_renew of A''s permit is false');
SELECT is(lockservice.lock_check('pgtap.k.isosem', (SELECT v FROM tok WHERE k = 'a_p')), false,
	'B: lock_check of A''s permit is false');
SELECT is(lockservice.lock_release('pgtap.k.isosem', (SELECT v FROM tok WHERE k = 'a_p')), false,
	'B: lock_release of A''s permit is false');
INSERT INTO tok VALUES ('b_s', lockservice.lock_acquire_shared('pgtap.k.iso', 'same-holder', '1 minute'));
SELECT cmp_ok((SELECT v FROM tok WHERE k = 'b_s'), '>', (SELECT v FROM tok WHERE k = 'a_s'),
	'B with A''s holder string gets a shared lease of its own, with a new token');
INSERT INTO tok VALUES ('b_p', lockservice.sem_acquire('pgtap.k.isosem', 'same-holder', 3, '1 minute'));
SELECT cmp_ok((SELECT v FROM tok WHERE k = 'b_p'), '>', (SELECT v FROM tok WHERE k = 'a_p'),
	'B with A''s holder string gets a permit of its own');
SELECT throws_ok($$SELECT lockservice.lock_acquire('pgtap.k.iso', 'same-holder', '1 minute', '0')$$,
	'LS004', NULL, 'B asking for an exclusive lease under its shared lease''s holder: LS004');
SELECT is(lockservice.lock_acquire('pgtap.k.iso', 'other-holder', '1 minute', '0'), NULL,
	'B asking for an exclusive lease under another holder: NULL (readers hold the name)');
RESET ROLE;

SET ROLE ls_pgtap_k_su;
SELECT is(lockservice.lock_renew('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), false,
	'superuser role: lock_renew of A''s shared lease is false');
SELECT is(lockservice.lock_release('pgtap.k.isosem', (SELECT v FROM tok WHERE k = 'a_p')), false,
	'superuser role: lock_release of A''s permit is false');
RESET ROLE;
SELECT is(lockservice.lock_check('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), false,
	'session superuser: lock_check of A''s shared lease is false');
SELECT is(lockservice.lock_release('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), false,
	'session superuser: lock_release of A''s shared lease is false');
SELECT results_eq(
	$$SELECT owner::text, token FROM lockservice.lock_holder('pgtap.k.iso') ORDER BY token$$,
	$$VALUES ('ls_pgtap_k_a'::text, (SELECT v FROM tok WHERE k = 'a_s')),
	         ('ls_pgtap_k_b', (SELECT v FROM tok WHERE k = 'b_s'))$$,
	'after all that, A and B each hold their own shared lease');

SET ROLE ls_pgtap_k_a;
SELECT is(lockservice.lock_acquire_shared('pgtap.k.iso', 'same-holder', '1 minute'),
	(SELECT v FROM tok WHERE k = 'a_s'), 'A re-acquiring gets its own token back');
SELECT is(lockservice.lock_check('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), true,
	'A: lock_check of its shared lease is true');
SELECT is(lockservice.lock_release('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'a_s')), true,
	'A: lock_release of its shared lease is true');
SELECT is(lockservice.lock_release('pgtap.k.isosem', (SELECT v FROM tok WHERE k = 'a_p')), true,
	'A: lock_release of its permit is true');
RESET ROLE;
SET ROLE ls_pgtap_k_b;
SELECT is(lockservice.lock_release('pgtap.k.iso', (SELECT v FROM tok WHERE k = 'b_s')), true,
	'B: lock_release of its shared lease is true');
SELECT is(lockservice.lock_release('pgtap.k.isosem', (SELECT v FROM tok WHERE k = 'b_p')), true,
	'B: lock_release of its permit is true');
RESET ROLE;

-- ------------------------------------------------------ the audit history
-- switched on by the superuser for this transaction, it records who did
-- what, whatever role does it; plain roles cannot see it
SET LOCAL lockservice.history = on;
SET ROLE ls_pgtap_k_a;
INSERT INTO tok VALUES ('h', lockservice.lock_acquire('pgtap.k.hist', 'h', '1 minute'));
RESET ROLE;
GRANT EXECUTE ON FUNCTION lockservice.force_release(text, bigint) TO ls_pgtap_k_operator;
SET ROLE ls_pgtap_k_operator;
SELECT is(lockservice.force_release('pgtap.k.hist'), 1, 'the operator forces A''s lease');
RESET ROLE;
SELECT results_eq(
	$$SELECT event, kind::text, holder COLLATE "default", owner::regrole::text, actor::regrole::text, token
	    FROM lockservice.history WHERE name = 'pgtap.k.hist' ORDER BY at, ctid$$,
	$$VALUES ('acquired'::text, 'x'::text, 'h'::text, 'ls_pgtap_k_a'::text, 'ls_pgtap_k_a'::text, (SELECT v FROM tok WHERE k = 'h')),
	         ('forced_release', 'x', 'h', 'ls_pgtap_k_a', 'ls_pgtap_k_operator', (SELECT v FROM tok WHERE k = 'h'))$$,
	'history: A''s grant and the operator''s forced release, with owner and actor');

SELECT * FROM finish();
ROLLBACK;
