-- test/pgtap/privileges.sql: nothing of lockservice is writable by PUBLIC,
-- a plain role can use the client API and nothing else, and a lease belongs
-- to exactly the role that acquired it (DESIGN.md "Ownership").
--
-- Needs: a database where the runner did CREATE EXTENSION pgtap and
-- CREATE EXTENSION lockservice; run as a superuser (it creates roles) with
-- pg_prove.  Everything, roles included, is rolled back at the end.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(83);

CREATE ROLE ls_pgtap_plain NOLOGIN;
CREATE ROLE ls_pgtap_a NOLOGIN;
CREATE ROLE ls_pgtap_b NOLOGIN;
CREATE ROLE ls_pgtap_member NOLOGIN IN ROLE ls_pgtap_a;	-- member of A
CREATE ROLE ls_pgtap_su NOLOGIN SUPERUSER;

-- tokens, shared between the roles of this session
CREATE TEMP TABLE tok (k text PRIMARY KEY, v bigint);
GRANT ALL ON tok TO PUBLIC;

-- ------------------------------------------------------- catalog privileges
SELECT table_privs_are('lockservice', 'leases', 'public', ARRAY[]::text[],
	'PUBLIC has no privilege on lockservice.leases');
SELECT table_privs_are('lockservice', 'fences', 'public', ARRAY[]::text[],
	'PUBLIC has no privilege on lockservice.fences');
SELECT table_privs_are('lockservice', 'leases', 'ls_pgtap_plain', ARRAY[]::text[],
	'a fresh role has no privilege on lockservice.leases');
SELECT table_privs_are('lockservice', 'fences', 'ls_pgtap_plain', ARRAY[]::text[],
	'a fresh role has no privilege on lockservice.fences');
SELECT ok(NOT pg_catalog.has_any_column_privilege('public', 'lockservice.leases',
	          'SELECT, INSERT, UPDATE, REFERENCES')
      AND NOT pg_catalog.has_any_column_privilege('ls_pgtap_plain', 'lockservice.leases',
	          'SELECT, INSERT, UPDATE, REFERENCES'),
	'no column privilege on lockservice.leases for PUBLIC or a fresh role');
SELECT ok(NOT pg_catalog.has_any_column_privilege('public', 'lockservice.fences',
	          'SELECT, INSERT, UPDATE, REFERENCES')
      AND NOT pg_catalog.has_any_column_privilege('ls_pgtap_plain', 'lockservice.fences',
	          'SELECT, INSERT, UPDATE, REFERENCES'),
	'no column privilege on lockservice.fences for PUBLIC or a fresh role');
SELECT sequence_privs_are('lockservice', 'fencing_seq', 'public', ARRAY[]::text[],
	'PUBLIC has no privilege on lockservice.fencing_seq');
SELECT sequence_privs_are('lockservice', 'fencing_seq', 'ls_pgtap_plain', ARRAY[]::text[],
	'a fresh role has no privilege on lockservice.fencing_seq');
SELECT table_privs_are('lockservice', 'leases_live', 'public', ARRAY['SELECT'],
	'PUBLIC may only SELECT lockservice.leases_live');
SELECT table_privs_are('lockservice', 'leases_live', 'ls_pgtap_plain', ARRAY['SELECT'],
	'a fresh role may only SELECT lockservice.leases_live');
SELECT schema_privs_are('lockservice', 'public', ARRAY['USAGE'],
	'PUBLIC has USAGE (not CREATE) on schema lockservice');
SELECT schema_privs_are('lockservice', 'ls_pgtap_plain', ARRAY['USAGE'],
	'a fresh role has USAGE (not CREATE) on schema lockservice');
-- sweep: nothing in the schema is writable by PUBLIC or by a fresh role,
-- whatever gets added to it later
SELECT is_empty(
	$$SELECT r.rolname, c.oid::pg_catalog.regclass::text
	    FROM pg_catalog.pg_class c,
	         (VALUES ('public'), ('ls_pgtap_plain')) r(rolname)
	   WHERE c.relnamespace = 'lockservice'::pg_catalog.regnamespace
	     AND ((c.relkind IN ('r', 'p', 'v', 'm', 'f')
	           AND pg_catalog.has_table_privilege(r.rolname, c.oid,
	                   'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
	       OR (c.relkind = 'S'
	           AND pg_catalog.has_sequence_privilege(r.rolname, c.oid, 'USAGE, UPDATE')))$$,
	'no relation in schema lockservice is writable by PUBLIC or a fresh role');

SELECT function_privs_are('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_acquire');
SELECT function_privs_are('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_renew');
SELECT function_privs_are('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_release');
SELECT function_privs_are('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE lock_check');
SELECT function_privs_are('lockservice', 'fence', ARRAY['text', 'bigint'],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE fence');
SELECT function_privs_are('lockservice', 'last_issued_token', ARRAY[]::text[],
	'public', ARRAY['EXECUTE'], 'PUBLIC may EXECUTE last_issued_token');
SELECT function_privs_are('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'public', ARRAY[]::text[], 'PUBLIC may not EXECUTE advance_token_counter');
SELECT function_privs_are('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'ls_pgtap_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_acquire');
SELECT function_privs_are('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'ls_pgtap_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_renew');
SELECT function_privs_are('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'ls_pgtap_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_release');
SELECT function_privs_are('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'ls_pgtap_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE lock_check');
SELECT function_privs_are('lockservice', 'fence', ARRAY['text', 'bigint'],
	'ls_pgtap_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE fence');
SELECT function_privs_are('lockservice', 'last_issued_token', ARRAY[]::text[],
	'ls_pgtap_plain', ARRAY['EXECUTE'], 'a fresh role may EXECUTE last_issued_token');
SELECT function_privs_are('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'ls_pgtap_plain', ARRAY[]::text[], 'a fresh role may not EXECUTE advance_token_counter');

-- ------------------------------------------------- a plain role, for real
SET ROLE ls_pgtap_plain;
SELECT throws_ok('SELECT * FROM lockservice.leases', '42501', NULL,
	'plain role cannot SELECT lockservice.leases');
SELECT throws_ok($$INSERT INTO lockservice.leases
	VALUES ('pgtap.priv.forged', 0, 'x', 'h', '-', 1, '1 hour', now(), now() + '1 hour', NULL)$$,
	'42501', NULL, 'plain role cannot INSERT INTO lockservice.leases');
SELECT throws_ok($$UPDATE lockservice.leases SET expires_at = 'infinity'$$, '42501', NULL,
	'plain role cannot UPDATE lockservice.leases');
SELECT throws_ok('DELETE FROM lockservice.leases', '42501', NULL,
	'plain role cannot DELETE FROM lockservice.leases');
SELECT throws_ok('TRUNCATE lockservice.leases', '42501', NULL,
	'plain role cannot TRUNCATE lockservice.leases');
SELECT throws_ok('SELECT * FROM lockservice.fences', '42501', NULL,
	'plain role cannot SELECT lockservice.fences');
SELECT throws_ok($$INSERT INTO lockservice.fences VALUES ('pgtap.priv.res', 9223372036854775807, now())$$,
	'42501', NULL, 'plain role cannot INSERT INTO lockservice.fences');
SELECT throws_ok('UPDATE lockservice.fences SET token = 9223372036854775807', '42501', NULL,
	'plain role cannot UPDATE lockservice.fences');
SELECT throws_ok('DELETE FROM lockservice.fences', '42501', NULL,
	'plain role cannot DELETE FROM lockservice.fences');
SELECT throws_ok('TRUNCATE lockservice.fences', '42501', NULL,
	'plain role cannot TRUNCATE lockservice.fences');
SELECT throws_ok($$SELECT pg_catalog.nextval('lockservice.fencing_seq')$$, '42501', NULL,
	'plain role cannot nextval(fencing_seq)');
SELECT throws_ok($$SELECT pg_catalog.setval('lockservice.fencing_seq', 4611686018427387903)$$,
	'42501', NULL, 'plain role cannot setval(fencing_seq)');
SELECT throws_ok('SELECT lockservice.advance_token_counter(1)', '42501', NULL,
	'plain role cannot EXECUTE advance_token_counter');

INSERT INTO tok VALUES ('plain', lockservice.lock_acquire('pgtap.priv.plain', 'plain-holder', '1 minute'));
SELECT isnt((SELECT v FROM tok WHERE k = 'plain'), NULL, 'plain role can lock_acquire');
SELECT is(lockservice.lock_renew('pgtap.priv.plain', (SELECT v FROM tok WHERE k = 'plain')), true,
	'plain role can lock_renew its lease');
SELECT is(lockservice.lock_check('pgtap.priv.plain', (SELECT v FROM tok WHERE k = 'plain')), true,
	'plain role can lock_check its lease');
SELECT lives_ok($$SELECT lockservice.fence('pgtap.priv.res', (SELECT v FROM tok WHERE k = 'plain'))$$,
	'plain role can fence');
SELECT ok(lockservice.last_issued_token() >= (SELECT v FROM tok WHERE k = 'plain'),
	'plain role can call last_issued_token');
SELECT results_eq(
	$$SELECT holder COLLATE "default", owner::text, token FROM lockservice.leases_live WHERE name = 'pgtap.priv.plain'$$,
	$$VALUES ('plain-holder'::text, 'ls_pgtap_plain'::text, (SELECT v FROM tok WHERE k = 'plain'))$$,
	'plain role can read leases_live, which shows its lease as owned by it');
SELECT is(lockservice.lock_release('pgtap.priv.plain', (SELECT v FROM tok WHERE k = 'plain')), true,
	'plain role can lock_release its lease');
RESET ROLE;

-- ---------------------------------------------------------- role isolation
-- A acquires; every other role (B, a member of A, a superuser role and the
-- session's own superuser) is refused with A's token and A's holder string.
SET ROLE ls_pgtap_a;
INSERT INTO tok VALUES ('a', lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute'));
SELECT isnt((SELECT v FROM tok WHERE k = 'a'), NULL, 'A acquires pgtap.priv.iso');
RESET ROLE;
SELECT is((SELECT owner::oid FROM lockservice.leases WHERE name = 'pgtap.priv.iso' AND slot = 0),
	'ls_pgtap_a'::regrole::oid, 'the lease row records A as owner');

SET ROLE ls_pgtap_b;
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'B: lock_renew with A''s token is false');
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a'), '1 hour'), false,
	'B: lock_renew with A''s token and a ttl is false');
SELECT is(lockservice.lock_check('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'B: lock_check with A''s token is false');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'B: lock_release with A''s token is false');
SELECT is(lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute', '0'), NULL,
	'B: lock_acquire with A''s holder string gets NULL');
SELECT results_eq(
	$$SELECT owner::text, token FROM lockservice.leases_live WHERE name = 'pgtap.priv.iso'$$,
	$$VALUES ('ls_pgtap_a'::text, (SELECT v FROM tok WHERE k = 'a'))$$,
	'B sees A''s lease in leases_live, unchanged');
RESET ROLE;

SET ROLE ls_pgtap_member;
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'member of A: lock_renew with A''s token is false');
SELECT is(lockservice.lock_check('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'member of A: lock_check with A''s token is false');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'member of A: lock_release with A''s token is false');
SELECT is(lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute', '0'), NULL,
	'member of A: lock_acquire with A''s holder string gets NULL');
RESET ROLE;

SET ROLE ls_pgtap_su;
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'superuser role: lock_renew with A''s token is false');
SELECT is(lockservice.lock_check('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'superuser role: lock_check with A''s token is false');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'superuser role: lock_release with A''s token is false');
SELECT is(lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute', '0'), NULL,
	'superuser role: lock_acquire with A''s holder string gets NULL');
RESET ROLE;

-- the session user (the superuser running the suite, normally the
-- bootstrap superuser)
SELECT ok((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user),
	'the session user is a superuser');
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'session superuser: lock_renew with A''s token is false');
SELECT is(lockservice.lock_check('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'session superuser: lock_check with A''s token is false');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'session superuser: lock_release with A''s token is false');
SELECT is(lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute', '0'), NULL,
	'session superuser: lock_acquire with A''s holder string gets NULL');
SELECT results_eq(
	$$SELECT owner::oid, token, released_at IS NULL, expires_at > pg_catalog.clock_timestamp()
	    FROM lockservice.leases WHERE name = 'pgtap.priv.iso'$$,
	$$VALUES ('ls_pgtap_a'::regrole::oid, (SELECT v FROM tok WHERE k = 'a'), true, true)$$,
	'after all that, the lease row is still A''s, live and unreleased');

-- A still holds it
SET ROLE ls_pgtap_a;
SELECT is(lockservice.lock_check('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), true,
	'A: lock_check is still true');
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), true,
	'A: lock_renew is still true');
SELECT is(lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute'),
	(SELECT v FROM tok WHERE k = 'a'),
	'A: re-acquiring with its own holder string returns the same token');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), true,
	'A: lock_release is true');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'a')), false,
	'A: a second lock_release is false (not an error)');
RESET ROLE;

-- once A released, B gets it under a new, higher token, which A cannot use
SET ROLE ls_pgtap_b;
INSERT INTO tok VALUES ('b', lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute'));
SELECT cmp_ok((SELECT v FROM tok WHERE k = 'b'), '>', (SELECT v FROM tok WHERE k = 'a'),
	'after A released, B acquires with a higher token');
RESET ROLE;
SET ROLE ls_pgtap_a;
SELECT is(lockservice.lock_renew('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'b')), false,
	'A: lock_renew with B''s token is false');
SELECT is(lockservice.lock_check('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'b')), false,
	'A: lock_check with B''s token is false');
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'b')), false,
	'A: lock_release with B''s token is false');
SELECT is(lockservice.lock_acquire('pgtap.priv.iso', 'shared-holder', '1 minute', '0'), NULL,
	'A: lock_acquire with B''s holder string gets NULL');
RESET ROLE;
SET ROLE ls_pgtap_b;
SELECT is(lockservice.lock_release('pgtap.priv.iso', (SELECT v FROM tok WHERE k = 'b')), true,
	'B: lock_release of its own lease is true');
RESET ROLE;

-- the role that is current at the call counts, also inside a SECURITY
-- DEFINER function of another role
CREATE FUNCTION pg_temp.acquire_as_definer(n text) RETURNS bigint
	LANGUAGE sql SECURITY DEFINER
	AS $$SELECT lockservice.lock_acquire(n, 'definer-holder', '1 minute')$$;
ALTER FUNCTION pg_temp.acquire_as_definer(text) OWNER TO ls_pgtap_b;
SET ROLE ls_pgtap_a;
INSERT INTO tok VALUES ('def', pg_temp.acquire_as_definer('pgtap.priv.definer'));
SELECT is(lockservice.lock_renew('pgtap.priv.definer', (SELECT v FROM tok WHERE k = 'def')), false,
	'a lease taken inside a SECURITY DEFINER function of B is not A''s');
RESET ROLE;
SELECT is((SELECT owner::oid FROM lockservice.leases WHERE name = 'pgtap.priv.definer' AND slot = 0),
	'ls_pgtap_b'::regrole::oid, 'it belongs to B, the function''s owner');
SET ROLE ls_pgtap_b;
SELECT is(lockservice.lock_release('pgtap.priv.definer', (SELECT v FROM tok WHERE k = 'def')), true,
	'B can release it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
