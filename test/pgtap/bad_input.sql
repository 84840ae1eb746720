-- test/pgtap/bad_input.sql: every documented bad input of every function
-- raises its documented SQLSTATE and changes nothing (DESIGN.md "Bad input
-- gets a clear error and changes nothing"; the contract's "Errors").
--
-- A table of (description, SQL, expected SQLSTATE) is run with throws_ok;
-- around each case a snapshot of lockservice.leases, lockservice.fences,
-- last_issued_token() and the state of fencing_seq is compared.  (Rows
-- written before an error are undone by throws_ok's subtransaction anyway;
-- the token counter is not, so a call that draws a token before checking its
-- input is caught.)  Cases that name a lease use one that this transaction
-- really holds, with its real token, so that input checks cannot hide behind
-- "not found".  Then valid edge values, and limits lowered with SET LOCAL.
--
-- Needs: a database where the runner did CREATE EXTENSION pgtap and
-- CREATE EXTENSION lockservice; run as a superuser (it sets the SUSET GUCs)
-- with pg_prove.  Everything is rolled back at the end.  Assumes the GUCs are
-- at their defaults or at least max_ttl < 30 days (it reads the limits from
-- pg_settings).  The snapshots cover whole tables and the server-wide token
-- counter: run it while nothing else uses lockservice in that database
-- (pg_prove without -j, or alone).
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL client_encoding = 'UTF8';
SELECT plan(202);

-- limits in force (pg_settings.setting is in base units: bytes, seconds)
CREATE TEMP TABLE lim AS
SELECT (SELECT setting::int FROM pg_settings WHERE name = 'lockservice.max_name_length') AS nl,
       (SELECT setting::int FROM pg_settings WHERE name = 'lockservice.max_holder_length') AS hl,
       (SELECT setting::int FROM pg_settings WHERE name = 'lockservice.max_ttl') AS ttl;
SELECT ok((SELECT nl > 4 AND hl > 4 AND ttl > 1 AND ttl < 30 * 86400 FROM lim),
	'the lockservice GUCs exist and are usable by this test');

-- a held lease (tokens: low < held) and a fenced resource at token "held"
CREATE TEMP TABLE tok (k text PRIMARY KEY, v bigint);
INSERT INTO tok VALUES ('low', lockservice.lock_acquire('pgtap.bi.low', 'bi-h', '10 minutes'));
INSERT INTO tok VALUES ('held', lockservice.lock_acquire('pgtap.bi.held', 'bi-h', '10 minutes'));
DO $$ BEGIN PERFORM lockservice.fence('pgtap.bi.res', (SELECT v FROM tok WHERE k = 'held')); END $$;
SELECT cmp_ok((SELECT v FROM tok WHERE k = 'held'), '>', (SELECT v FROM tok WHERE k = 'low'),
	'setup: two leases held, pgtap.bi.res fenced');

-- what "nothing changed" compares
CREATE FUNCTION pg_temp.snap() RETURNS text LANGUAGE sql AS $$
SELECT concat_ws(E'\n',
	'leases: ' || coalesce((SELECT string_agg(l::text, '; ' ORDER BY l.name, l.slot)
	                          FROM lockservice.leases l), '-'),
	'fences: ' || coalesce((SELECT string_agg(f::text, '; ' ORDER BY f.resource)
	                          FROM lockservice.fences f), '-'),
	'last_issued_token: ' || coalesce(lockservice.last_issued_token()::text, 'NULL'),
	'fencing_seq: ' || (SELECT last_value || '/' || is_called FROM lockservice.fencing_seq))
$$;

-- the cases: {held} is the held token, {low} a lower issued token, {TTL} is
-- max_ttl in seconds; {N+1:x} is a string of max_name_length + 1 bytes
-- ending in x (padded with 'a'; {N+1:éé} is only 2-byte chars, about half
-- as many characters as the limit), {H+1:x} the same for max_holder_length
CREATE TEMP TABLE cases (id serial, descr text, q text, state text);
INSERT INTO cases (descr, q, state) VALUES
	-- lock_acquire
	('acquire: NULL name', $$SELECT lockservice.lock_acquire(NULL, 'h')$$, '22004'),
	('acquire: NULL holder', $$SELECT lockservice.lock_acquire('pgtap.bi.new', NULL)$$, '22004'),
	('acquire: NULL holder of a held name', $$SELECT lockservice.lock_acquire('pgtap.bi.held', NULL)$$, '22004'),
	('acquire: NULL ttl', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', NULL)$$, '22004'),
	('acquire: NULL ttl, wait 0', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', NULL, '0')$$, '22004'),
	('acquire: NULL ttl by the holder', $$SELECT lockservice.lock_acquire('pgtap.bi.held', 'bi-h', NULL)$$, '22004'),
	('acquire: NULL ttl, named', $$SELECT lockservice.lock_acquire(name => 'pgtap.bi.new', holder => 'h', ttl => NULL)$$, '22004'),
	('acquire: all NULL', $$SELECT lockservice.lock_acquire(NULL, NULL, NULL, NULL)$$, '22004'),
	('acquire: empty name', $$SELECT lockservice.lock_acquire('', 'h')$$, '22023'),
	('acquire: empty holder', $$SELECT lockservice.lock_acquire('pgtap.bi.new', '')$$, '22023'),
	('acquire: empty holder of a held name', $$SELECT lockservice.lock_acquire('pgtap.bi.held', '')$$, '22023'),
	('acquire: name max+1 bytes', $$SELECT lockservice.lock_acquire('{N+1:a}', 'h')$$, '22001'),
	('acquire: name max+1 bytes (2-byte char last)', $$SELECT lockservice.lock_acquire('{N+1:é}', 'h')$$, '22001'),
	('acquire: name of 2-byte chars, max/2+1 chars', $$SELECT lockservice.lock_acquire('{N+1:éé}', 'h')$$, '22001'),
	('acquire: name max+1 bytes (4-byte char last)', $$SELECT lockservice.lock_acquire('{N+1:😀}', 'h')$$, '22001'),
	('acquire: name 100000 bytes', $$SELECT lockservice.lock_acquire(repeat('n', 100000), 'h')$$, '22001'),
	('acquire: holder max+1 bytes', $$SELECT lockservice.lock_acquire('pgtap.bi.new', '{H+1:a}')$$, '22001'),
	('acquire: holder max+1 bytes (2-byte char last)', $$SELECT lockservice.lock_acquire('pgtap.bi.new', '{H+1:é}')$$, '22001'),
	('acquire: holder max+1 bytes (4-byte char last)', $$SELECT lockservice.lock_acquire('pgtap.bi.new', '{H+1:😀}')$$, '22001'),
	('acquire: over-long holder of a held name', $$SELECT lockservice.lock_acquire('pgtap.bi.held', '{H+1:a}')$$, '22001'),
	('acquire: ttl 0', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '0')$$, '22023'),
	('acquire: ttl 0 by the holder', $$SELECT lockservice.lock_acquire('pgtap.bi.held', 'bi-h', '0')$$, '22023'),
	('acquire: ttl -1 second', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '-1 second')$$, '22023'),
	('acquire: ttl -1 microsecond', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '-1 microsecond')$$, '22023'),
	('acquire: ttl -1 day +1 hour', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '-1 day +1 hour')$$, '22023'),
	('acquire: ttl 1 mon -30 days (zero)', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '1 mon -30 days')$$, '22023'),
	('acquire: ttl max_ttl + 1 s', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '{TTL+1} seconds')$$, '22023'),
	('acquire: ttl max_ttl + 1 us', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '{TTL} seconds 1 microsecond')$$, '22023'),
	('acquire: ttl max_ttl + 1 s by the holder', $$SELECT lockservice.lock_acquire('pgtap.bi.held', 'bi-h', '{TTL+1} seconds')$$, '22023'),
	('acquire: ttl 1 mon', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '1 mon')$$, '22023'),
	('acquire: ttl 178000000 years', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '178000000 years')$$, '22023'),
	('acquire: ttl -178000000 years', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '-178000000 years')$$, '22023'),
	('acquire: wait -1 second', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '1 minute', '-1 second')$$, '22023'),
	('acquire: wait -1 microsecond', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '1 minute', '-1 microsecond')$$, '22023'),
	('acquire: wait -1 second on a held name', $$SELECT lockservice.lock_acquire('pgtap.bi.held', 'other', '1 minute', '-1 second')$$, '22023'),
	('acquire: wait -178000000 years', $$SELECT lockservice.lock_acquire('pgtap.bi.new', 'h', '1 minute', '-178000000 years')$$, '22023'),
	-- lock_renew
	('renew: NULL name', $$SELECT lockservice.lock_renew(NULL, {held})$$, '22004'),
	('renew: NULL token', $$SELECT lockservice.lock_renew('pgtap.bi.held', NULL)$$, '22004'),
	('renew: NULL token, with ttl', $$SELECT lockservice.lock_renew('pgtap.bi.held', NULL, '1 minute')$$, '22004'),
	('renew: empty name', $$SELECT lockservice.lock_renew('', {held})$$, '22023'),
	('renew: name max+1 bytes', $$SELECT lockservice.lock_renew('{N+1:a}', {held})$$, '22001'),
	('renew: name max+1 bytes (2-byte char last)', $$SELECT lockservice.lock_renew('{N+1:é}', {held})$$, '22001'),
	('renew: token 0', $$SELECT lockservice.lock_renew('pgtap.bi.held', 0)$$, '22023'),
	('renew: token -1', $$SELECT lockservice.lock_renew('pgtap.bi.held', -1)$$, '22023'),
	('renew: token min bigint', $$SELECT lockservice.lock_renew('pgtap.bi.held', -9223372036854775808)$$, '22023'),
	('renew: ttl 0', $$SELECT lockservice.lock_renew('pgtap.bi.held', {held}, '0')$$, '22023'),
	('renew: ttl -1 second', $$SELECT lockservice.lock_renew('pgtap.bi.held', {held}, '-1 second')$$, '22023'),
	('renew: ttl max_ttl + 1 s', $$SELECT lockservice.lock_renew('pgtap.bi.held', {held}, '{TTL+1} seconds')$$, '22023'),
	('renew: ttl 1 mon', $$SELECT lockservice.lock_renew('pgtap.bi.held', {held}, '1 mon')$$, '22023'),
	('renew: ttl 0 with a wrong token', $$SELECT lockservice.lock_renew('pgtap.bi.held', {low}, '0')$$, '22023'),
	('renew: ttl 0 of an unknown name', $$SELECT lockservice.lock_renew('pgtap.bi.never', 1, '0')$$, '22023'),
	('renew: ttl 178000000 years', $$SELECT lockservice.lock_renew('pgtap.bi.held', {held}, '178000000 years')$$, '22023'),
	-- lock_release
	('release: NULL name', $$SELECT lockservice.lock_release(NULL, {held})$$, '22004'),
	('release: NULL token', $$SELECT lockservice.lock_release('pgtap.bi.held', NULL)$$, '22004'),
	('release: empty name', $$SELECT lockservice.lock_release('', {held})$$, '22023'),
	('release: name max+1 bytes', $$SELECT lockservice.lock_release('{N+1:a}', {held})$$, '22001'),
	('release: name max+1 bytes (4-byte char last)', $$SELECT lockservice.lock_release('{N+1:😀}', {held})$$, '22001'),
	('release: token 0', $$SELECT lockservice.lock_release('pgtap.bi.held', 0)$$, '22023'),
	('release: token -1', $$SELECT lockservice.lock_release('pgtap.bi.held', -1)$$, '22023'),
	-- lock_check
	('check: NULL name', $$SELECT lockservice.lock_check(NULL, {held})$$, '22004'),
	('check: NULL token', $$SELECT lockservice.lock_check('pgtap.bi.held', NULL)$$, '22004'),
	('check: empty name', $$SELECT lockservice.lock_check('', {held})$$, '22023'),
	('check: name max+1 bytes', $$SELECT lockservice.lock_check('{N+1:a}', {held})$$, '22001'),
	('check: name max+1 bytes (2-byte char last)', $$SELECT lockservice.lock_check('{N+1:é}', {held})$$, '22001'),
	('check: token 0', $$SELECT lockservice.lock_check('pgtap.bi.held', 0)$$, '22023'),
	('check: token -1', $$SELECT lockservice.lock_check('pgtap.bi.held', -1)$$, '22023'),
	-- fence
	('fence: NULL resource', $$SELECT lockservice.fence(NULL, {held})$$, '22004'),
	('fence: NULL token', $$SELECT lockservice.fence('pgtap.bi.res', NULL)$$, '22004'),
	('fence: NULL token, new resource', $$SELECT lockservice.fence('pgtap.bi.newres', NULL)$$, '22004'),
	('fence: empty resource', $$SELECT lockservice.fence('', {held})$$, '22023'),
	('fence: resource max+1 bytes', $$SELECT lockservice.fence('{N+1:a}', {held})$$, '22001'),
	('fence: resource max+1 bytes (2-byte char last)', $$SELECT lockservice.fence('{N+1:é}', {held})$$, '22001'),
	('fence: resource max+1 bytes (4-byte char last)', $$SELECT lockservice.fence('{N+1:😀}', {held})$$, '22001'),
	('fence: token 0', $$SELECT lockservice.fence('pgtap.bi.newres', 0)$$, '22023'),
	('fence: token -1', $$SELECT lockservice.fence('pgtap.bi.newres', -1)$$, '22023'),
	('fence: token min bigint', $$SELECT lockservice.fence('pgtap.bi.newres', -9223372036854775808)$$, '22023'),
	('fence: stale token', $$SELECT lockservice.fence('pgtap.bi.res', {low})$$, 'LS001'),
	('fence: token 2 after a higher one', $$SELECT lockservice.fence('pgtap.bi.res', 2)$$, 'LS001'),
	('fence: an odd token (shared lease or permit)', $$SELECT lockservice.fence('pgtap.bi.res', 3)$$, 'LS005'),
	('fence: never issued (last + 2^40)', $$SELECT lockservice.fence('pgtap.bi.newres', lockservice.last_issued_token() + 1099511627776)$$, 'LS002'),
	('fence: never issued, fenced resource', $$SELECT lockservice.fence('pgtap.bi.res', lockservice.last_issued_token() + 1099511627776)$$, 'LS002'),
	('fence: never issued (max bigint)', $$SELECT lockservice.fence('pgtap.bi.newres', 9223372036854775807)$$, 'LS002'),
	-- advance_token_counter
	('advance_token_counter: NULL', $$SELECT lockservice.advance_token_counter(NULL)$$, '22004');

UPDATE cases SET q = replace(replace(replace(replace(q,
		'{held}', (SELECT v::text FROM tok WHERE k = 'held')),
		'{low}', (SELECT v::text FROM tok WHERE k = 'low')),
		'{TTL+1}', (SELECT (ttl + 1)::text FROM lim)),
		'{TTL}', (SELECT ttl::text FROM lim));
UPDATE cases SET q = replace(q, '{N+1:a}', (SELECT repeat('a', nl + 1) FROM lim));
UPDATE cases SET q = replace(q, '{N+1:é}', (SELECT repeat('a', nl - 1) || 'é' FROM lim));
UPDATE cases SET q = replace(q, '{N+1:éé}',
	(SELECT repeat('é', (nl + 2) / 2) FROM lim));	-- nl+1 or nl+2 bytes, ~nl/2 chars
UPDATE cases SET q = replace(q, '{N+1:😀}', (SELECT repeat('a', nl - 3) || '😀' FROM lim));
UPDATE cases SET q = replace(q, '{H+1:a}', (SELECT repeat('a', hl + 1) FROM lim));
UPDATE cases SET q = replace(q, '{H+1:é}', (SELECT repeat('a', hl - 1) || 'é' FROM lim));
UPDATE cases SET q = replace(q, '{H+1:😀}', (SELECT repeat('a', hl - 3) || '😀' FROM lim));

SELECT is((SELECT count(*)::int FROM cases), 83, 'the barrage has 83 cases');
SELECT is_empty($$SELECT descr FROM cases WHERE q ~ '[{}]'$$,
	'every placeholder of the barrage was filled in');
SELECT is((SELECT octet_length(repeat('a', nl - 1) || 'é') - nl FROM lim), 1,
	'the multibyte over-long names are one byte over the limit');

CREATE FUNCTION pg_temp.barrage() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	c record;
	before text;
BEGIN
	FOR c IN SELECT * FROM pg_temp.cases ORDER BY id LOOP
		before := pg_temp.snap();
		RETURN NEXT throws_ok(c.q, c.state, NULL, c.descr || ': ' || c.state);
		RETURN NEXT is(pg_temp.snap(), before, c.descr || ': nothing changed');
	END LOOP;
END
$$;
SELECT * FROM pg_temp.barrage();

-- the held lease and the fence came through unchanged and still work
SELECT results_eq(
	$$SELECT holder COLLATE "default", token, released_at IS NULL, expires_at > clock_timestamp()
	    FROM lockservice.leases WHERE name = 'pgtap.bi.held'$$,
	$$VALUES ('bi-h'::text, (SELECT v FROM tok WHERE k = 'held'), true, true)$$,
	'after the barrage the held lease is still held under its token');
SELECT is(lockservice.lock_check('pgtap.bi.held', (SELECT v FROM tok WHERE k = 'held')), true,
	'after the barrage lock_check of the held lease is true');
SELECT is((SELECT token FROM lockservice.fences WHERE resource = 'pgtap.bi.res'),
	(SELECT v FROM tok WHERE k = 'held'), 'after the barrage the fence still holds its token');
SELECT is_empty($$SELECT name FROM lockservice.leases WHERE name = 'pgtap.bi.new' OR octet_length(name) > (SELECT nl FROM lim)$$,
	'no lease row was created by bad input');
SELECT is_empty($$SELECT resource FROM lockservice.fences WHERE resource = 'pgtap.bi.newres'$$,
	'no fence row was created by bad input');

-- ------------------------------------------------------ stale is not an error
SELECT is(lockservice.lock_renew('pgtap.bi.never', 1), false, 'renew of an unknown name is false, not an error');
SELECT is(lockservice.lock_release('pgtap.bi.never', 1), false, 'release of an unknown name is false, not an error');
SELECT is(lockservice.lock_check('pgtap.bi.never', 1), false, 'check of an unknown name is false, not an error');
SELECT is(lockservice.lock_release('pgtap.bi.held', (SELECT v FROM tok WHERE k = 'low')), false,
	'release with a wrong token is false, not an error');
SELECT is(lockservice.lock_release('pgtap.bi.held', 9223372036854775807), false,
	'release with a never-issued token is false, not an error');
SELECT is(lockservice.lock_renew('pgtap.bi.held', 9223372036854775807), false,
	'renew with a never-issued token is false, not an error');
SELECT is(lockservice.lock_check('pgtap.bi.held', 9223372036854775807), false,
	'check with a never-issued token is false, not an error');

-- ----------------------------------------------------------- valid edges
CREATE TEMP TABLE edge (k text PRIMARY KEY, v bigint, err text);
-- run an acquire that must succeed; record its token or its error
CREATE FUNCTION pg_temp.edge(k text, q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t bigint;
BEGIN
	EXECUTE q INTO t;
	INSERT INTO pg_temp.edge VALUES (k, t, NULL);
EXCEPTION WHEN OTHERS THEN
	INSERT INTO pg_temp.edge VALUES (k, NULL, SQLSTATE || ': ' || SQLERRM);
END
$$;
DO $do$
DECLARE
	nl int := (SELECT lim.nl FROM lim);
	hl int := (SELECT lim.hl FROM lim);
	ttl int := (SELECT lim.ttl FROM lim);
BEGIN
	PERFORM pg_temp.edge('name N ascii',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', repeat('a', nl), 'h', '1 minute'));
	PERFORM pg_temp.edge('name N 2-byte',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', repeat('b', nl - 2) || 'é', 'h', '1 minute'));
	PERFORM pg_temp.edge('name N 2-byte only',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', repeat('é', nl / 2), 'h', '1 minute'));
	PERFORM pg_temp.edge('name N 4-byte',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', repeat('c', nl - 4) || '😀', 'h', '1 minute'));
	PERFORM pg_temp.edge('name 1 byte',
		$$SELECT lockservice.lock_acquire('x', 'h', '1 minute')$$);
	PERFORM pg_temp.edge('holder H',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', 'pgtap.bi.edge.holder', repeat('h', hl), '1 minute'));
	PERFORM pg_temp.edge('holder H 2-byte',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', 'pgtap.bi.edge.holder2', repeat('h', hl - 2) || 'é', '1 minute'));
	PERFORM pg_temp.edge('holder 1 byte',
		$$SELECT lockservice.lock_acquire('pgtap.bi.edge.holder1', 'h', '1 minute')$$);
	PERFORM pg_temp.edge('ttl max',
		format('SELECT lockservice.lock_acquire(%L, %L, %L)', 'pgtap.bi.edge.ttlmax', 'h', ttl || ' seconds'));
	PERFORM pg_temp.edge('ttl 1 us',
		$$SELECT lockservice.lock_acquire('pgtap.bi.edge.ttl1us', 'h', '1 microsecond')$$);
	PERFORM pg_temp.edge('ttl default, wait 0',
		$$SELECT lockservice.lock_acquire('pgtap.bi.edge.dflt', 'h', wait => '0')$$);
	PERFORM pg_temp.edge('wait 178000000 years on a free name',
		$$SELECT lockservice.lock_acquire('pgtap.bi.edge.longwait', 'h', '1 minute', '178000000 years')$$);
END
$do$;
SELECT is_empty($$SELECT k, err FROM edge WHERE v IS NULL AND k <> 'wait 178000000 years on a free name'$$,
	'valid edge values are accepted: name of exactly max_name_length bytes (ASCII, 2-byte, 4-byte chars), 1-byte name, holder of exactly max_holder_length bytes, ttl = max_ttl, ttl 1 us, default ttl with wait 0');
SELECT is((SELECT coalesce(err, 'ok') FROM edge WHERE k = 'wait 178000000 years on a free name'), 'ok',
	'a very long wait (178000000 years) on a free name is accepted');
SELECT is((SELECT count(DISTINCT v)::int FROM edge), (SELECT count(v)::int FROM edge),
	'every edge acquire got its own token');
SELECT results_eq(
	$$SELECT ttl FROM lockservice.leases WHERE name = 'pgtap.bi.edge.dflt'$$,
	$$VALUES ('30 seconds'::interval)$$, 'the default ttl is 30 seconds');
SELECT is(lockservice.lock_renew('pgtap.bi.edge.dflt', (SELECT v FROM edge WHERE k = 'ttl default, wait 0'), NULL),
	true, 'renew with ttl NULL (the lease''s own ttl) is accepted');
SELECT is(lockservice.lock_renew('pgtap.bi.edge.dflt', (SELECT v FROM edge WHERE k = 'ttl default, wait 0'),
	(SELECT make_interval(secs => ttl) FROM lim)), true, 'renew with ttl = max_ttl is accepted');
SELECT lives_ok(format('SELECT lockservice.fence(%L, %s)',
		(SELECT repeat('r', nl) FROM lim), (SELECT v FROM tok WHERE k = 'held')),
	'fence of a resource name of exactly max_name_length bytes is accepted');
SELECT lives_ok(format('SELECT lockservice.fence(%L, %s)', 'pgtap.bi.res', (SELECT v FROM tok WHERE k = 'held')),
	'fence with the same token as recorded is accepted');
SELECT lives_ok($$SELECT lockservice.fence('pgtap.bi.res.last', lockservice.last_issued_token() - 1)$$,
	'fence with the highest exclusive token that can have been issued is accepted');
SELECT is((SELECT count(*)::int FROM edge WHERE k <> 'ttl 1 us' AND v IS NOT NULL
             AND lockservice.lock_release(
                   (SELECT l.name FROM lockservice.leases l WHERE l.token = edge.v), edge.v)),
	(SELECT count(v)::int FROM edge WHERE k <> 'ttl 1 us'),
	'every edge lease (but the 1 us one, expired) can be released');

-- -------------------------------------------------- limits lowered by GUC
SET LOCAL lockservice.max_name_length = 8;
SET LOCAL lockservice.max_holder_length = 4;
SET LOCAL lockservice.max_ttl = '10s';
SELECT throws_ok($$SELECT lockservice.lock_acquire('pgtap.b10', 'h')$$, '22001', NULL,
	'max_name_length 8: a 9-byte name raises 22001');
SELECT throws_ok($$SELECT lockservice.lock_acquire('pgtap.bé', 'h')$$, '22001', NULL,
	'max_name_length 8: an 8-char, 9-byte name raises 22001');
SELECT throws_ok($$SELECT lockservice.fence('pgtap.r10', 1)$$, '22001', NULL,
	'max_name_length 8: a 9-byte resource raises 22001');
SELECT throws_ok($$SELECT lockservice.lock_acquire('pgtap.b8', 'hhhhh')$$, '22001', NULL,
	'max_holder_length 4: a 5-byte holder raises 22001');
SELECT throws_ok($$SELECT lockservice.lock_acquire('pgtap.b8', 'h', '11 seconds')$$, '22023', NULL,
	'max_ttl 10s: ttl 11 seconds raises 22023');
SELECT throws_ok($$SELECT lockservice.lock_renew('pgtap.bi.held', $$ || (SELECT v FROM tok WHERE k = 'held') || $$, '11 seconds')$$,
	'22023', NULL, 'max_ttl 10s: renew with ttl 11 seconds raises 22023');
SELECT throws_ok($$SELECT lockservice.lock_renew('pgtap.bi.held', $$ || (SELECT v FROM tok WHERE k = 'held') || $$)$$,
	'22001', NULL, 'max_name_length 8: renew of an existing longer name raises 22001');
DO $do$ BEGIN
	PERFORM pg_temp.edge('small limits', $$SELECT lockservice.lock_acquire('pgtap.b8', 'hhhh', '10 seconds')$$);
END $do$;
SELECT is((SELECT coalesce(err, 'ok') FROM edge WHERE k = 'small limits' AND (v IS NOT NULL OR err IS NOT NULL)), 'ok',
	'lowered limits: 8-byte name, 4-byte holder and ttl 10 seconds are accepted');
RESET lockservice.max_name_length;
RESET lockservice.max_holder_length;
RESET lockservice.max_ttl;
SELECT is(lockservice.lock_release('pgtap.b8', (SELECT v FROM edge WHERE k = 'small limits')), true,
	'limits back to normal: the lease is released');

SELECT * FROM finish();
ROLLBACK;
