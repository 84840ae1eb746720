-- test/pgtap/kinds_bad_input.sql: the bad-input barrage of bad_input.sql,
-- extended to the functions of issue 5 (lock_acquire_shared, sem_acquire,
-- lock_holder, lock_waiters, force_release, set_lock_delay) and to the
-- errors of the kinds: LS004 (a different kind on a name one holds, a lock
-- on a semaphore's name or the reverse, different permits while in use)
-- and LS005 (fence with the odd token of a shared lease or a permit).
--
-- A table of (description, SQL, expected SQLSTATE) is run with throws_ok;
-- around each case a snapshot of lockservice.leases, fences, lock_options,
-- history, last_issued_token() and fencing_seq is compared, so that a call
-- that draws a token before it checks its input is caught (the sequence is
-- not rolled back with throws_ok's subtransaction).  Cases that name a
-- lease use leases this transaction really holds, with their real tokens.
-- lockservice.history is on, so an error must not leave an audit row either.
--
-- Needs: a database where the runner did CREATE EXTENSION pgtap and
-- CREATE EXTENSION lockservice; run as a superuser (it sets SUSET settings)
-- with pg_prove.  Everything is rolled back at the end.  Reads the limits
-- from pg_settings (assumes max_ttl < 30 days).  The snapshots cover whole
-- tables and the server-wide token counter: run it while nothing else uses
-- lockservice in that database.
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL lockservice.history = on;
SELECT plan(226);

CREATE TEMP TABLE lim AS
SELECT (SELECT setting::int FROM pg_settings WHERE name = 'lockservice.max_name_length') AS nl,
       (SELECT setting::int FROM pg_settings WHERE name = 'lockservice.max_holder_length') AS hl,
       (SELECT setting::int FROM pg_settings WHERE name = 'lockservice.max_ttl') AS ttl;
SELECT ok((SELECT nl > 4 AND hl > 4 AND ttl > 1 AND ttl < 30 * 86400 FROM lim),
	'the lockservice GUCs exist and are usable by this test');

-- held: a shared lease, a semaphore permit (2 permits), an exclusive lease;
-- a resource fenced with the exclusive token; a name with a lock-delay
CREATE TEMP TABLE tok (k text PRIMARY KEY, v bigint);
INSERT INTO tok VALUES ('sh', lockservice.lock_acquire_shared('pgtap.kb.shared', 'sh-h', '10 minutes'));
INSERT INTO tok VALUES ('pm', lockservice.sem_acquire('pgtap.kb.sem', 'sem-h', 2, '10 minutes'));
INSERT INTO tok VALUES ('ex', lockservice.lock_acquire('pgtap.kb.excl', 'ex-h', '10 minutes'));
DO $$ BEGIN
	PERFORM lockservice.fence('pgtap.kb.res', (SELECT v FROM tok WHERE k = 'ex'));
	PERFORM lockservice.set_lock_delay('pgtap.kb.delayed', '5 seconds');
END $$;
SELECT ok((SELECT count(v) = 3 FROM tok) AND (SELECT v FROM tok WHERE k = 'sh') % 2 = 1
          AND (SELECT v FROM tok WHERE k = 'pm') % 2 = 1 AND (SELECT v FROM tok WHERE k = 'ex') % 2 = 0,
	'setup: a shared lease and a permit (odd tokens), an exclusive lease (even token), a fence, a lock-delay');

CREATE FUNCTION pg_temp.snap() RETURNS text LANGUAGE sql AS $$
SELECT concat_ws(E'\n',
	'leases: ' || coalesce((SELECT string_agg(l::text, '; ' ORDER BY l.name, l.slot)
	                          FROM lockservice.leases l), '-'),
	'fences: ' || coalesce((SELECT string_agg(f::text, '; ' ORDER BY f.resource)
	                          FROM lockservice.fences f), '-'),
	'lock_options: ' || coalesce((SELECT string_agg(o::text, '; ' ORDER BY o.name)
	                                FROM lockservice.lock_options o), '-'),
	'history: ' || coalesce((SELECT string_agg(h::text, '; ' ORDER BY h.at, h.token, h.event)
	                           FROM lockservice.history h), '-'),
	'last_issued_token: ' || coalesce(lockservice.last_issued_token()::text, 'NULL'),
	'fencing_seq: ' || (SELECT last_value || '/' || is_called FROM lockservice.fencing_seq))
$$;
SELECT is((SELECT count(*)::int FROM lockservice.history WHERE name LIKE 'pgtap.kb.%'), 3,
	'setup: the history records the three grants');

-- the cases; placeholders: {sh} {pm} {ex} the held tokens, {TTL} max_ttl in
-- seconds, {N+1:x} / {H+1:x} strings one byte over max_name_length /
-- max_holder_length ending in x
CREATE TEMP TABLE cases (id serial, descr text, q text, state text);
INSERT INTO cases (descr, q, state) VALUES
	-- lock_acquire_shared
	('shared: NULL name', $$SELECT lockservice.lock_acquire_shared(NULL, 'h')$$, '22004'),
	('shared: NULL holder', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', NULL)$$, '22004'),
	('shared: NULL holder of a held name', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.shared', NULL)$$, '22004'),
	('shared: NULL ttl', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', 'h', NULL)$$, '22004'),
	('shared: NULL ttl by the holder', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.shared', 'sh-h', NULL)$$, '22004'),
	('shared: all NULL', $$SELECT lockservice.lock_acquire_shared(NULL, NULL, NULL, NULL)$$, '22004'),
	('shared: empty name', $$SELECT lockservice.lock_acquire_shared('', 'h')$$, '22023'),
	('shared: empty holder', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', '')$$, '22023'),
	('shared: name max+1 bytes', $$SELECT lockservice.lock_acquire_shared('{N+1:a}', 'h')$$, '22001'),
	('shared: name max+1 bytes (2-byte char last)', $$SELECT lockservice.lock_acquire_shared('{N+1:é}', 'h')$$, '22001'),
	('shared: holder max+1 bytes', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', '{H+1:a}')$$, '22001'),
	('shared: holder max+1 bytes of a held name', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.shared', '{H+1:a}')$$, '22001'),
	('shared: ttl 0', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', 'h', '0')$$, '22023'),
	('shared: ttl 0 by the holder', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.shared', 'sh-h', '0')$$, '22023'),
	('shared: ttl -1 second', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', 'h', '-1 second')$$, '22023'),
	('shared: ttl max_ttl + 1 s', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', 'h', '{TTL+1} seconds')$$, '22023'),
	('shared: ttl max_ttl + 1 s by the holder', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.shared', 'sh-h', '{TTL+1} seconds')$$, '22023'),
	('shared: ttl 178000000 years', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', 'h', '178000000 years')$$, '22023'),
	('shared: wait -1 microsecond', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.new', 'h', '1 minute', '-1 microsecond')$$, '22023'),
	('shared: wait -1 second on a held name', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.excl', 'h', '1 minute', '-1 second')$$, '22023'),
	('shared: by the exclusive holder of the name', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.excl', 'ex-h')$$, 'LS004'),
	('shared: by the exclusive holder, waiting', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.excl', 'ex-h', '1 minute', '1 second')$$, 'LS004'),
	('shared: on a semaphore in use', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.sem', 'h')$$, 'LS004'),
	('shared: on a semaphore by its permit holder', $$SELECT lockservice.lock_acquire_shared('pgtap.kb.sem', 'sem-h')$$, 'LS004'),
	-- sem_acquire
	('sem: NULL name', $$SELECT lockservice.sem_acquire(NULL, 'h', 1)$$, '22004'),
	('sem: NULL holder', $$SELECT lockservice.sem_acquire('pgtap.kb.new', NULL, 1)$$, '22004'),
	('sem: NULL permits', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', NULL)$$, '22004'),
	('sem: NULL permits of a held semaphore', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'h', NULL)$$, '22004'),
	('sem: NULL permits by the holder', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'sem-h', NULL)$$, '22004'),
	('sem: NULL permits, named', $$SELECT lockservice.sem_acquire(name => 'pgtap.kb.new', holder => 'h', permits => NULL)$$, '22004'),
	('sem: NULL ttl', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, NULL)$$, '22004'),
	('sem: all NULL', $$SELECT lockservice.sem_acquire(NULL, NULL, NULL, NULL, NULL)$$, '22004'),
	('sem: permits 0', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 0)$$, '22023'),
	('sem: permits -1', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', -1)$$, '22023'),
	('sem: permits min int', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', -2147483648)$$, '22023'),
	('sem: permits 0 of a held semaphore', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'h', 0)$$, '22023'),
	('sem: permits 0 by the holder', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'sem-h', 0)$$, '22023'),
	('sem: empty name', $$SELECT lockservice.sem_acquire('', 'h', 1)$$, '22023'),
	('sem: empty holder', $$SELECT lockservice.sem_acquire('pgtap.kb.new', '', 1)$$, '22023'),
	('sem: name max+1 bytes', $$SELECT lockservice.sem_acquire('{N+1:a}', 'h', 1)$$, '22001'),
	('sem: name max+1 bytes (4-byte char last)', $$SELECT lockservice.sem_acquire('{N+1:😀}', 'h', 1)$$, '22001'),
	('sem: holder max+1 bytes', $$SELECT lockservice.sem_acquire('pgtap.kb.new', '{H+1:a}', 1)$$, '22001'),
	('sem: holder max+1 bytes (2-byte char last)', $$SELECT lockservice.sem_acquire('pgtap.kb.new', '{H+1:é}', 1)$$, '22001'),
	('sem: ttl 0', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, '0')$$, '22023'),
	('sem: ttl -1 day', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, '-1 day')$$, '22023'),
	('sem: ttl max_ttl + 1 s', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, '{TTL+1} seconds')$$, '22023'),
	('sem: ttl max_ttl + 1 us', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, '{TTL} seconds 1 microsecond')$$, '22023'),
	('sem: ttl 1 mon', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, '1 mon')$$, '22023'),
	('sem: wait -1 second', $$SELECT lockservice.sem_acquire('pgtap.kb.new', 'h', 1, '1 minute', '-1 second')$$, '22023'),
	('sem: wait -1 second on a full semaphore', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'h', 2, '1 minute', '-1 second')$$, '22023'),
	('sem: different permits (3) while in use', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'h', 3)$$, 'LS004'),
	('sem: different permits (1) while in use', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'h', 1)$$, 'LS004'),
	('sem: different permits, waiting', $$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'h', 3, '1 minute', '1 second')$$, 'LS004'),
	('sem: on a name held as an exclusive lock', $$SELECT lockservice.sem_acquire('pgtap.kb.excl', 'h', 1)$$, 'LS004'),
	('sem: on a name held as a shared lock', $$SELECT lockservice.sem_acquire('pgtap.kb.shared', 'h', 5)$$, 'LS004'),
	('sem: by the shared holder of the name', $$SELECT lockservice.sem_acquire('pgtap.kb.shared', 'sh-h', 5)$$, 'LS004'),
	-- lock_acquire on the kinds
	('acquire: on a semaphore in use', $$SELECT lockservice.lock_acquire('pgtap.kb.sem', 'h')$$, 'LS004'),
	('acquire: on a semaphore by its permit holder', $$SELECT lockservice.lock_acquire('pgtap.kb.sem', 'sem-h')$$, 'LS004'),
	('acquire: by the shared holder of the name', $$SELECT lockservice.lock_acquire('pgtap.kb.shared', 'sh-h')$$, 'LS004'),
	('acquire: by the shared holder, waiting', $$SELECT lockservice.lock_acquire('pgtap.kb.shared', 'sh-h', '1 minute', '1 second')$$, 'LS004'),
	-- lock_holder
	('lock_holder: NULL', $$SELECT * FROM lockservice.lock_holder(NULL)$$, '22004'),
	('lock_holder: empty', $$SELECT * FROM lockservice.lock_holder('')$$, '22023'),
	('lock_holder: max+1 bytes', $$SELECT * FROM lockservice.lock_holder('{N+1:a}')$$, '22001'),
	('lock_holder: max+1 bytes (2-byte char last)', $$SELECT * FROM lockservice.lock_holder('{N+1:é}')$$, '22001'),
	-- lock_waiters
	('lock_waiters: NULL', $$SELECT lockservice.lock_waiters(NULL)$$, '22004'),
	('lock_waiters: empty', $$SELECT lockservice.lock_waiters('')$$, '22023'),
	-- force_release
	('force_release: NULL name', $$SELECT lockservice.force_release(NULL)$$, '22004'),
	('force_release: NULL name with a token', $$SELECT lockservice.force_release(NULL, {ex})$$, '22004'),
	('force_release: empty name', $$SELECT lockservice.force_release('')$$, '22023'),
	('force_release: name max+1 bytes', $$SELECT lockservice.force_release('{N+1:a}')$$, '22001'),
	('force_release: name max+1 bytes (4-byte char last)', $$SELECT lockservice.force_release('{N+1:😀}', {ex})$$, '22001'),
	('force_release: token 0', $$SELECT lockservice.force_release('pgtap.kb.excl', 0)$$, '22023'),
	('force_release: token -1', $$SELECT lockservice.force_release('pgtap.kb.shared', -1)$$, '22023'),
	('force_release: token min bigint', $$SELECT lockservice.force_release('pgtap.kb.sem', -9223372036854775808)$$, '22023'),
	-- set_lock_delay
	('set_lock_delay: NULL name', $$SELECT lockservice.set_lock_delay(NULL, '1 second')$$, '22004'),
	('set_lock_delay: NULL name and delay', $$SELECT lockservice.set_lock_delay(NULL, NULL)$$, '22004'),
	('set_lock_delay: empty name', $$SELECT lockservice.set_lock_delay('', '1 second')$$, '22023'),
	('set_lock_delay: name max+1 bytes', $$SELECT lockservice.set_lock_delay('{N+1:a}', '1 second')$$, '22001'),
	('set_lock_delay: delay -1 second', $$SELECT lockservice.set_lock_delay('pgtap.kb.new', '-1 second')$$, '22023'),
	('set_lock_delay: delay -1 microsecond', $$SELECT lockservice.set_lock_delay('pgtap.kb.new', '-1 microsecond')$$, '22023'),
	('set_lock_delay: delay -1 second of a name with one', $$SELECT lockservice.set_lock_delay('pgtap.kb.delayed', '-1 second')$$, '22023'),
	('set_lock_delay: delay 1 mon -31 days', $$SELECT lockservice.set_lock_delay('pgtap.kb.new', '1 mon -31 days')$$, '22023'),
	('set_lock_delay: delay -178000000 years', $$SELECT lockservice.set_lock_delay('pgtap.kb.new', '-178000000 years')$$, '22023'),
	-- renew, release, check of the kinds
	('renew shared: ttl 0', $$SELECT lockservice.lock_renew('pgtap.kb.shared', {sh}, '0')$$, '22023'),
	('renew permit: ttl max_ttl + 1 s', $$SELECT lockservice.lock_renew('pgtap.kb.sem', {pm}, '{TTL+1} seconds')$$, '22023'),
	('renew permit: NULL token', $$SELECT lockservice.lock_renew('pgtap.kb.sem', NULL)$$, '22004'),
	('release shared: token 0', $$SELECT lockservice.lock_release('pgtap.kb.shared', 0)$$, '22023'),
	('release permit: NULL token', $$SELECT lockservice.lock_release('pgtap.kb.sem', NULL)$$, '22004'),
	('check shared: token -1', $$SELECT lockservice.lock_check('pgtap.kb.shared', -1)$$, '22023'),
	-- fence with the token of a shared lease or a permit
	('fence: a shared lease''s token', $$SELECT lockservice.fence('pgtap.kb.newres', {sh})$$, 'LS005'),
	('fence: a permit''s token', $$SELECT lockservice.fence('pgtap.kb.newres', {pm})$$, 'LS005'),
	('fence: a shared lease''s token on a fenced resource', $$SELECT lockservice.fence('pgtap.kb.res', {sh})$$, 'LS005'),
	('fence: last_issued_token() (odd)', $$SELECT lockservice.fence('pgtap.kb.newres', lockservice.last_issued_token())$$, 'LS005'),
	('fence: 1 (odd)', $$SELECT lockservice.fence('pgtap.kb.newres', 1)$$, 'LS005'),
	('fence: odd and never issued', $$SELECT lockservice.fence('pgtap.kb.newres', lockservice.last_issued_token() + 1099511627776)$$, 'LS002');

UPDATE cases SET q = replace(replace(replace(replace(replace(q,
		'{sh}', (SELECT v::text FROM tok WHERE k = 'sh')),
		'{pm}', (SELECT v::text FROM tok WHERE k = 'pm')),
		'{ex}', (SELECT v::text FROM tok WHERE k = 'ex')),
		'{TTL+1}', (SELECT (ttl + 1)::text FROM lim)),
		'{TTL}', (SELECT ttl::text FROM lim));
UPDATE cases SET q = replace(q, '{N+1:a}', (SELECT repeat('a', nl + 1) FROM lim));
UPDATE cases SET q = replace(q, '{N+1:é}', (SELECT repeat('a', nl - 1) || 'é' FROM lim));
UPDATE cases SET q = replace(q, '{N+1:😀}', (SELECT repeat('a', nl - 3) || '😀' FROM lim));
UPDATE cases SET q = replace(q, '{H+1:a}', (SELECT repeat('a', hl + 1) FROM lim));
UPDATE cases SET q = replace(q, '{H+1:é}', (SELECT repeat('a', hl - 1) || 'é' FROM lim));

SELECT is((SELECT count(*)::int FROM cases), 95, 'the barrage has 95 cases');
-- lock_waiters is a look-up, of names of any length (a lease can have been
-- granted under a higher lockservice.max_name_length)
SELECT is(lockservice.lock_waiters(pg_catalog.repeat('a', pg_catalog.current_setting('lockservice.max_name_length')::int + 1)),
	0, 'lock_waiters of a name of max+1 bytes: 0 waiters, not an error');
SELECT is_empty($$SELECT descr FROM cases WHERE q ~ '[{}]'$$,
	'every placeholder of the barrage was filled in');

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

-- the held leases came through unchanged and still work
SELECT results_eq(
	$$SELECT 'pgtap.kb.shared'::text, holder COLLATE "default", kind, token
	    FROM lockservice.lock_holder('pgtap.kb.shared')
	  UNION ALL SELECT 'pgtap.kb.sem', holder, kind, token FROM lockservice.lock_holder('pgtap.kb.sem')
	  UNION ALL SELECT 'pgtap.kb.excl', holder, kind, token FROM lockservice.lock_holder('pgtap.kb.excl')$$,
	$$VALUES ('pgtap.kb.shared'::text, 'sh-h'::text, 'shared'::text, (SELECT v FROM tok WHERE k = 'sh')),
	         ('pgtap.kb.sem', 'sem-h', 'permit', (SELECT v FROM tok WHERE k = 'pm')),
	         ('pgtap.kb.excl', 'ex-h', 'exclusive', (SELECT v FROM tok WHERE k = 'ex'))$$,
	'after the barrage the three leases are held under their tokens');
SELECT ok(lockservice.lock_check('pgtap.kb.shared', (SELECT v FROM tok WHERE k = 'sh'))
          AND lockservice.lock_check('pgtap.kb.sem', (SELECT v FROM tok WHERE k = 'pm'))
          AND lockservice.lock_check('pgtap.kb.excl', (SELECT v FROM tok WHERE k = 'ex')),
	'after the barrage lock_check of each of them is true');
SELECT results_eq($$SELECT slot, kind::text, permits FROM lockservice.leases WHERE name = 'pgtap.kb.sem' AND slot = 0$$,
	$$VALUES (0, 'p'::text, 2)$$, 'the semaphore still has 2 permits');
SELECT is_empty($$SELECT name FROM lockservice.leases WHERE name = 'pgtap.kb.new' OR octet_length(name) > (SELECT nl FROM lim)$$,
	'no lease row was created by bad input');
SELECT is_empty($$SELECT name FROM lockservice.lock_options WHERE name <> 'pgtap.kb.delayed'$$,
	'no lock-delay was set by bad input');
SELECT results_eq($$SELECT lock_delay FROM lockservice.lock_options WHERE name = 'pgtap.kb.delayed'$$,
	$$VALUES ('5 seconds'::interval)$$, 'the lock-delay that was set is unchanged');
SELECT is((SELECT count(*)::int FROM lockservice.history WHERE name LIKE 'pgtap.kb.%'), 3,
	'bad input left no row in the history');

-- ----------------------------------------------------------- valid edges
CREATE TEMP TABLE edge (k text PRIMARY KEY, v bigint, err text);
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
	PERFORM pg_temp.edge('shared name N',
		format('SELECT lockservice.lock_acquire_shared(%L, %L, %L)', repeat('s', nl), 'h', '1 minute'));
	PERFORM pg_temp.edge('shared holder H',
		format('SELECT lockservice.lock_acquire_shared(%L, %L, %L)', 'pgtap.kb.edge.sh', repeat('h', hl), '1 minute'));
	PERFORM pg_temp.edge('shared ttl max',
		format('SELECT lockservice.lock_acquire_shared(%L, %L, %L)', 'pgtap.kb.edge.shttl', 'h', ttl || ' seconds'));
	PERFORM pg_temp.edge('shared wait NULL on a free name',
		$$SELECT lockservice.lock_acquire_shared('pgtap.kb.edge.shwait', 'h', '1 minute', NULL)$$);
	PERFORM pg_temp.edge('shared beside another reader',
		$$SELECT lockservice.lock_acquire_shared('pgtap.kb.shared', 'other-reader', '1 minute')$$);
	PERFORM pg_temp.edge('sem permits 1',
		$$SELECT lockservice.sem_acquire('pgtap.kb.edge.sem1', 'h', 1, '1 minute')$$);
	PERFORM pg_temp.edge('sem permits max int',
		$$SELECT lockservice.sem_acquire('pgtap.kb.edge.semmax', 'h', 2147483647, '1 minute')$$);
	PERFORM pg_temp.edge('sem name N, holder H',
		format('SELECT lockservice.sem_acquire(%L, %L, 3, %L)', repeat('p', nl), repeat('h', hl), '1 minute'));
	PERFORM pg_temp.edge('sem ttl max, wait NULL',
		format('SELECT lockservice.sem_acquire(%L, %L, 3, %L, NULL)', 'pgtap.kb.edge.semttl', 'h', ttl || ' seconds'));
	PERFORM pg_temp.edge('sem second permit, same permits',
		$$SELECT lockservice.sem_acquire('pgtap.kb.sem', 'other-slot', 2, '1 minute')$$);
	PERFORM pg_temp.edge('force_release of an unknown token',
		$$SELECT lockservice.force_release('pgtap.kb.excl', 9223372036854775807)$$);
	PERFORM pg_temp.edge('force_release of an unknown name',
		$$SELECT lockservice.force_release('pgtap.kb.never')$$);
	PERFORM pg_temp.edge('force_release of a name N bytes long',
		format('SELECT lockservice.force_release(%L)', repeat('f', nl)));
	PERFORM pg_temp.edge('lock_waiters of a name N bytes long',
		format('SELECT lockservice.lock_waiters(%L)', repeat('w', nl)));
	PERFORM pg_temp.edge('lock_holder of a name N bytes long',
		format('SELECT count(*) FROM lockservice.lock_holder(%L)', repeat('w', nl)));
END
$do$;
SELECT is_empty($$SELECT k, err FROM edge WHERE err IS NOT NULL$$,
	'valid edge values are accepted: names and holders of exactly the maximum length, ttl = max_ttl, wait NULL, permits 1 and 2147483647, a second reader and a second permit, force_release / lock_waiters / lock_holder of unknown names and tokens');
SELECT is((SELECT count(DISTINCT v)::int FROM edge WHERE k LIKE 'shared%' OR k LIKE 'sem%'),
	(SELECT count(*)::int FROM edge WHERE k LIKE 'shared%' OR k LIKE 'sem%'),
	'every edge grant got its own token');
SELECT ok((SELECT bool_and(v % 2 = 1) FROM edge WHERE k LIKE 'shared%' OR k LIKE 'sem%'),
	'shared and permit tokens are odd');
SELECT results_eq($$SELECT v FROM edge WHERE k LIKE 'force_release%' OR k LIKE 'lock_%' ORDER BY k$$,
	$$VALUES (0::bigint), (0), (0), (0), (0)$$,
	'force_release of nothing ends nothing; nobody waits for, nor holds, an unused name');
SELECT is(lockservice.sem_acquire('pgtap.kb.sem', 'third', 2), NULL,
	'the semaphore of 2 permits is now full');
SELECT lives_ok($$SELECT lockservice.set_lock_delay('pgtap.kb.edge.d0', '0')$$, 'set_lock_delay of zero is accepted');
SELECT lives_ok($$SELECT lockservice.set_lock_delay('pgtap.kb.edge.dbig', '100 years')$$, 'set_lock_delay of 100 years is accepted');
SELECT lives_ok(format('SELECT lockservice.set_lock_delay(%L, %L)', (SELECT repeat('d', nl) FROM lim), '1 second'),
	'set_lock_delay of a name of exactly max_name_length bytes is accepted');
SELECT lives_ok($$SELECT lockservice.set_lock_delay('pgtap.kb.never', NULL)$$,
	'set_lock_delay(name, NULL) of a name without one is accepted (nothing to remove)');
SELECT lives_ok($$SELECT lockservice.fence('pgtap.kb.res', lockservice.last_issued_token() - 1)$$,
	'fence with last_issued_token() - 1, the highest exclusive token that can have been issued, is accepted');

-- -------------------------------------------------- limits lowered by GUC
SET LOCAL lockservice.max_name_length = 8;
SET LOCAL lockservice.max_holder_length = 4;
SET LOCAL lockservice.max_ttl = '10s';
SELECT throws_ok($$SELECT lockservice.lock_acquire_shared('pgtap.k10', 'h')$$, '22001', NULL,
	'max_name_length 8: lock_acquire_shared of a 9-byte name raises 22001');
SELECT throws_ok($$SELECT lockservice.sem_acquire('pgtap.k10', 'h', 1)$$, '22001', NULL,
	'max_name_length 8: sem_acquire of a 9-byte name raises 22001');
SELECT throws_ok($$SELECT * FROM lockservice.lock_holder('pgtap.k10')$$, '22001', NULL,
	'max_name_length 8: lock_holder of a 9-byte name raises 22001');
-- lock_waiters is a look-up: a lease granted under a higher limit stays
-- visible, and leases_live (which calls it for every lease) and stats work
SELECT is(lockservice.lock_waiters('pgtap.k10'), 0,
	'max_name_length 8: lock_waiters of a 9-byte name is a look-up (0 waiters), not an error');
SELECT lives_ok($$SELECT count(*) FROM lockservice.leases_live$$,
	'max_name_length 8: leases_live lists the live leases whose names are longer');
SELECT lives_ok($$SELECT live_leases FROM lockservice.stats$$,
	'max_name_length 8: lockservice.stats counts them');
SELECT throws_ok($$SELECT lockservice.force_release('pgtap.k10')$$, '22001', NULL,
	'max_name_length 8: force_release of a 9-byte name raises 22001');
SELECT throws_ok($$SELECT lockservice.set_lock_delay('pgtap.k10', '1 second')$$, '22001', NULL,
	'max_name_length 8: set_lock_delay of a 9-byte name raises 22001');
SELECT throws_ok($$SELECT lockservice.lock_acquire_shared('pgtap.k8', 'hhhhh')$$, '22001', NULL,
	'max_holder_length 4: lock_acquire_shared with a 5-byte holder raises 22001');
SELECT throws_ok($$SELECT lockservice.sem_acquire('pgtap.k8', 'hhhhh', 1)$$, '22001', NULL,
	'max_holder_length 4: sem_acquire with a 5-byte holder raises 22001');
SELECT throws_ok($$SELECT lockservice.lock_acquire_shared('pgtap.k8', 'h', '11 seconds')$$, '22023', NULL,
	'max_ttl 10s: lock_acquire_shared with ttl 11 seconds raises 22023');
SELECT throws_ok($$SELECT lockservice.sem_acquire('pgtap.k8', 'h', 1, '11 seconds')$$, '22023', NULL,
	'max_ttl 10s: sem_acquire with ttl 11 seconds raises 22023');
SELECT isnt(lockservice.sem_acquire('pgtap.k8', 'hhhh', 1, '10 seconds'), NULL,
	'lowered limits: sem_acquire of an 8-byte name, 4-byte holder, ttl 10 seconds is accepted');
RESET lockservice.max_name_length;
RESET lockservice.max_holder_length;
RESET lockservice.max_ttl;

SELECT * FROM finish();
ROLLBACK;
