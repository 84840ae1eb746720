-- test/pgtap/search_path.sql: lockservice is safe against a hostile
-- search_path (DESIGN.md: "every object referenced from C or SQL is
-- schema-qualified (operators included)").
--
-- Schema "evil" shadows, with identical signatures, the pg_catalog operators
-- (=, <>, <, >, <=, >=, +, -, *, /, ||, ...) on the types lockservice works
-- with, and functions such as now(), clock_timestamp(), nextval(regclass),
-- pg_extension_config_dump(), current_setting(); also relations named like
-- lockservice's own (in evil and in pg_temp, which is searched first for
-- relations).  Every hostile object records that it was called (a row in
-- evil.calls and a tick of the non-transactional sequence evil.hits, which
-- survives the rollback of a failed call) and then does the real work, so a
-- hijacked call is reported instead of derailing the suite.  The functions
-- are exercised with "SET search_path = evil, pg_catalog, public" and again
-- with an empty search_path.  The harness itself uses no unqualified
-- operator or function while the hostile path is set.
--
-- Needs: a database where the runner did CREATE EXTENSION pgtap and
-- CREATE EXTENSION lockservice; run as a superuser with pg_prove.
-- Everything is rolled back at the end.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(51);

-- ---------------------------------------------------------- hostile schema
CREATE SCHEMA evil;
CREATE SEQUENCE evil.hits;
CREATE TABLE evil.calls (what text);
CREATE TABLE evil.skipped (what text, why text);

CREATE FUNCTION evil.hit(what text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog
AS $$
BEGIN
	PERFORM pg_catalog.nextval('evil.hits'::pg_catalog.regclass);
	INSERT INTO evil.calls VALUES (what);
	RETURN true;
END
$$;

-- operators: every pg_catalog operator with these names on these types
DO $gen$
DECLARE
	o record;
	n int := 0;
	fn text;
	types regtype[] := ARRAY['text', 'name', 'varchar', 'bpchar', '"char"', 'bigint', 'integer',
		'smallint', 'numeric', 'oid', 'regclass', 'regrole', 'boolean', 'timestamptz',
		'timestamp', 'date', 'interval', 'xid', 'xid8', 'pg_lsn', 'bytea']::regtype[];
BEGIN
	FOR o IN
		SELECT op.oid, op.oprname, op.oprleft, op.oprright, op.oprresult
		  FROM pg_catalog.pg_operator op
		 WHERE op.oprnamespace = 'pg_catalog'::regnamespace
		   AND op.oprname IN ('=', '<>', '<', '>', '<=', '>=', '+', '-', '*', '/', '%',
		                      '||', '~~', '!~~', '~~*', '~', '!~', '^@')
		   AND (op.oprleft = 0 OR op.oprleft = ANY (types))
		   AND op.oprright = ANY (types)
		 ORDER BY op.oid
	LOOP
		n := n + 1;
		fn := 'evil.op_' || n;
		BEGIN
			IF o.oprleft = 0 THEN
				EXECUTE format($f$CREATE FUNCTION %s(b %s) RETURNS %s
					LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog
					AS $b$BEGIN PERFORM evil.hit(%L); RETURN OPERATOR(pg_catalog.%s) b; END$b$$f$,
					fn, format_type(o.oprright, NULL), format_type(o.oprresult, NULL),
					'operator ' || o.oid::regoperator::text, o.oprname);
				EXECUTE format('CREATE OPERATOR evil.%s (FUNCTION = %s, RIGHTARG = %s)',
					o.oprname, fn, format_type(o.oprright, NULL));
			ELSE
				EXECUTE format($f$CREATE FUNCTION %s(a %s, b %s) RETURNS %s
					LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog
					AS $b$BEGIN PERFORM evil.hit(%L); RETURN a OPERATOR(pg_catalog.%s) b; END$b$$f$,
					fn, format_type(o.oprleft, NULL), format_type(o.oprright, NULL),
					format_type(o.oprresult, NULL),
					'operator ' || o.oid::regoperator::text, o.oprname);
				EXECUTE format('CREATE OPERATOR evil.%s (FUNCTION = %s, LEFTARG = %s, RIGHTARG = %s)',
					o.oprname, fn, format_type(o.oprleft, NULL), format_type(o.oprright, NULL));
			END IF;
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO evil.skipped VALUES ('operator ' || o.oid::regoperator::text, SQLERRM);
		END;
	END LOOP;
END
$gen$;

-- functions: every non-polymorphic, non-variadic pg_catalog overload of these
DO $gen$
DECLARE
	f record;
	args text;
BEGIN
	FOR f IN
		SELECT p.oid, p.proname, p.pronargs
		  FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace = 'pg_catalog'::regnamespace
		   AND p.prokind = 'f'
		   AND p.provariadic = 0
		   AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[]) t
		                    JOIN pg_catalog.pg_type ty ON ty.oid = t
		                   WHERE ty.typtype = 'p')
		   AND p.proname IN (
			'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp',
			'timeofday', 'nextval', 'currval', 'setval', 'lastval', 'pg_sequence_last_value',
			'pg_extension_config_dump', 'pg_is_in_recovery', 'pg_control_checkpoint',
			'pg_current_wal_lsn', 'pg_current_wal_insert_lsn', 'pg_current_wal_flush_lsn',
			'txid_current', 'txid_current_if_assigned', 'pg_current_xact_id',
			'pg_current_xact_id_if_assigned', 'pg_backend_pid', 'current_setting', 'set_config',
			'length', 'octet_length', 'char_length', 'character_length', 'lower', 'upper',
			'btrim', 'ltrim', 'rtrim', 'textcat', 'texteq', 'textne', 'textlen', 'md5',
			'int8pl', 'int8mi', 'int8eq', 'int8ne', 'int8lt', 'int8gt', 'int8le', 'int8ge',
			'int48pl', 'int84pl', 'int4pl', 'int4eq', 'int4lt', 'int4gt', 'chareq', 'oideq',
			'timestamptz_pl_interval', 'timestamptz_mi_interval', 'timestamptz_mi',
			'timestamptz_lt', 'timestamptz_gt', 'timestamptz_le', 'timestamptz_ge',
			'timestamptz_eq', 'timestamptz_ne', 'timestamptz_cmp', 'interval_pl', 'interval_mi',
			'interval_lt', 'interval_gt', 'interval_le', 'interval_ge', 'interval_eq',
			'interval_cmp', 'to_regclass', 'to_regrole', 'to_regnamespace', 'to_regproc',
			'to_regprocedure', 'to_regtype', 'pg_get_userbyid', 'hashtext',
			'hashtextextended', 'hashint8', 'hashint8extended', 'pg_advisory_xact_lock',
			'pg_advisory_lock', 'pg_try_advisory_xact_lock', 'pg_try_advisory_lock',
			'pg_advisory_unlock', 'pg_advisory_xact_lock_shared', 'pg_sleep', 'pg_sleep_for',
			'pg_sleep_until', 'pg_notify', 'age', 'date_trunc', 'date_part', 'make_interval',
			'justify_interval', 'justify_hours', 'int8', 'int4', 'text', 'interval',
			'timestamptz', 'oid', 'abs', 'quote_ident', 'quote_literal', 'random',
			'pg_has_role', 'has_table_privilege', 'has_sequence_privilege',
			'has_function_privilege', 'pg_get_serial_sequence', 'regclass', 'to_timestamp',
			'extract', 'isfinite', 'timezone', 'pg_relation_size', 'pg_table_size',
			'pg_postmaster_start_time', 'pg_conf_load_time', 'txid_snapshot_xmax',
			'pg_stat_get_activity', 'pg_cancel_backend', 'pg_terminate_backend',
			'pg_try_advisory_lock_shared', 'pg_control_system', 'pg_walfile_name',
			'pg_xact_commit_timestamp', 'pg_last_committed_xact', 'int8larger',
			'int8smaller', 'timestamptz_larger', 'timestamptz_smaller', 'float8',
			'bool', 'booleq', 'regrole')
		 ORDER BY p.oid
	LOOP
		SELECT string_agg('$' || i, ', ' ORDER BY i) INTO args
		  FROM generate_series(1, f.pronargs) i;
		BEGIN
			EXECUTE format($f$CREATE FUNCTION evil.%I(%s) RETURNS %s
				LANGUAGE sql VOLATILE SET search_path = pg_catalog
				AS %L$f$,
				f.proname, pg_get_function_arguments(f.oid), pg_get_function_result(f.oid),
				format('SELECT evil.hit(%L); SELECT * FROM pg_catalog.%I(%s)',
					'function ' || f.oid::regprocedure::text, f.proname, coalesce(args, '')));
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO evil.skipped VALUES ('function ' || f.oid::regprocedure::text, SQLERRM);
		END;
	END LOOP;
END
$gen$;

-- aggregates
CREATE FUNCTION evil.agg_int8(s bigint, v bigint) RETURNS bigint
	LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hit('aggregate on bigint'); RETURN pg_catalog.int8larger(s, v); END$$;
CREATE FUNCTION evil.agg_tstz(s timestamptz, v timestamptz) RETURNS timestamptz
	LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hit('aggregate on timestamptz'); RETURN pg_catalog.timestamptz_larger(s, v); END$$;
CREATE FUNCTION evil.agg_count(s bigint) RETURNS bigint
	LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hit('aggregate count(*)'); RETURN s OPERATOR(pg_catalog.+) 1; END$$;
CREATE AGGREGATE evil.max(bigint) (SFUNC = evil.agg_int8, STYPE = bigint);
CREATE AGGREGATE evil.min(bigint) (SFUNC = evil.agg_int8, STYPE = bigint);
CREATE AGGREGATE evil.max(timestamptz) (SFUNC = evil.agg_tstz, STYPE = timestamptz);
CREATE AGGREGATE evil.count(*) (SFUNC = evil.agg_count, STYPE = bigint, INITCOND = '0');

-- relations named like lockservice's, in evil and in pg_temp
CREATE FUNCTION evil.trg() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog
	AS $$BEGIN PERFORM evil.hit('write to ' || TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME); RETURN NULL; END$$;
CREATE TABLE evil.leases (LIKE lockservice.leases INCLUDING ALL);
CREATE TABLE evil.fences (LIKE lockservice.fences INCLUDING ALL);
CREATE SEQUENCE evil.fencing_seq START 4000000000000;
CREATE VIEW evil.leases_live AS SELECT * FROM evil.leases;
CREATE TRIGGER hostile AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON evil.leases
	FOR EACH STATEMENT EXECUTE FUNCTION evil.trg();
CREATE TRIGGER hostile AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON evil.fences
	FOR EACH STATEMENT EXECUTE FUNCTION evil.trg();
CREATE TEMP TABLE leases (LIKE lockservice.leases INCLUDING ALL);
CREATE TEMP TABLE fences (LIKE lockservice.fences INCLUDING ALL);
CREATE TEMP SEQUENCE fencing_seq START 5000000000000;
CREATE TRIGGER hostile AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pg_temp.leases
	FOR EACH STATEMENT EXECUTE FUNCTION evil.trg();
CREATE TRIGGER hostile AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pg_temp.fences
	FOR EACH STATEMENT EXECUTE FUNCTION evil.trg();
GRANT USAGE ON SCHEMA evil TO PUBLIC;

SELECT cmp_ok((SELECT count(*)::int FROM pg_catalog.pg_operator
                WHERE oprnamespace = 'evil'::regnamespace), '>=', 150,
	'hostile operators are in place');
SELECT cmp_ok((SELECT count(*)::int FROM pg_catalog.pg_proc
                WHERE pronamespace = 'evil'::regnamespace AND prokind = 'f'), '>=', 300,
	'hostile functions are in place');
SELECT ok(EXISTS (SELECT 1 FROM pg_catalog.pg_operator
                   WHERE oprnamespace = 'evil'::regnamespace AND oprname = '='
                     AND oprleft = 'text'::regtype AND oprright = 'text'::regtype)
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_operator
                   WHERE oprnamespace = 'evil'::regnamespace AND oprname = '+'
                     AND oprleft = 'timestamptz'::regtype AND oprright = 'interval'::regtype)
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_operator
                   WHERE oprnamespace = 'evil'::regnamespace AND oprname = '='
                     AND oprleft = '"char"'::regtype AND oprright = '"char"'::regtype)
      AND to_regprocedure('evil.now()') IS NOT NULL
      AND to_regprocedure('evil.clock_timestamp()') IS NOT NULL
      AND to_regprocedure('evil.nextval(regclass)') IS NOT NULL
      AND to_regprocedure('evil.pg_extension_config_dump(regclass,text)') IS NOT NULL
      AND to_regprocedure('evil.current_setting(text)') IS NOT NULL,
	'the key hostile objects exist (text =, timestamptz + interval, "char" =, now(), clock_timestamp(), nextval(), pg_extension_config_dump(), current_setting())');

-- ------------------------------------------------------------------ harness
-- res: one row per call: its label, its result as text, or its error
CREATE TEMP TABLE res (label text, val text, state text, msg text);
CREATE TEMP TABLE live (name text, holder text, owner regrole, token bigint,
                        granted_at timestamptz, expires_at timestamptz, remaining interval);
CREATE TEMP TABLE tokens (label text, v bigint);

-- run q (one value) and record its result or error; no operator, no
-- unqualified function
CREATE FUNCTION pg_temp.run(label text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text;
BEGIN
	BEGIN
		EXECUTE q INTO v;
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO pg_temp.res VALUES (label, NULL, SQLSTATE, SQLERRM);
		RETURN NULL;
	END;
	INSERT INTO pg_temp.res VALUES (label, v, NULL, NULL);
	RETURN v;
END
$$;

-- ------------------------------------------------ exercise, hostile path
SET search_path = evil, pg_catalog, public;
DO $$
DECLARE
	t1 bigint; t2 bigint; t3 bigint; t4 bigint; t5 bigint; last bigint;
BEGIN
	t1 := pg_temp.run('acquire',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.a', 'h1', '1 minute')$q$);
	PERFORM pg_temp.run('acquire again, same holder',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.a', 'h1', '1 minute')$q$);
	PERFORM pg_temp.run('acquire busy, other holder',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.a', 'h-other', '1 minute', '0')$q$);
	PERFORM pg_temp.run('acquire busy, waits 30 ms',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.a', 'h-other', '1 minute', '30 milliseconds')$q$);
	t2 := pg_temp.run('acquire defaults',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.b', 'h2')$q$);
	PERFORM pg_temp.run('acquire named args',
		$q$SELECT lockservice.lock_acquire(name => 'pgtap.sp.n', holder => 'hn', ttl => '1 minute', wait => '0')$q$);
	PERFORM pg_temp.run('renew',
		pg_catalog.format('SELECT lockservice.lock_renew(%L, %s)', 'pgtap.sp.a', t1));
	PERFORM pg_temp.run('renew ttl',
		pg_catalog.format('SELECT lockservice.lock_renew(%L, %s, %L)', 'pgtap.sp.a', t1, '5 minutes'));
	PERFORM pg_temp.run('renew wrong token',
		pg_catalog.format('SELECT lockservice.lock_renew(%L, %s)', 'pgtap.sp.a', t2));
	PERFORM pg_temp.run('check',
		pg_catalog.format('SELECT lockservice.lock_check(%L, %s)', 'pgtap.sp.a', t1));
	PERFORM pg_temp.run('check wrong token',
		pg_catalog.format('SELECT lockservice.lock_check(%L, %s)', 'pgtap.sp.a', t2));
	PERFORM pg_temp.run('fence t1',
		pg_catalog.format('SELECT lockservice.fence(%L, %s)', 'pgtap.sp.res', t1));
	PERFORM pg_temp.run('fence t2',
		pg_catalog.format('SELECT lockservice.fence(%L, %s)', 'pgtap.sp.res', t2));
	PERFORM pg_temp.run('fence t2 again',
		pg_catalog.format('SELECT lockservice.fence(%L, %s)', 'pgtap.sp.res', t2));
	PERFORM pg_temp.run('fence stale t1',
		pg_catalog.format('SELECT lockservice.fence(%L, %s)', 'pgtap.sp.res', t1));
	last := pg_temp.run('last_issued_token', 'SELECT lockservice.last_issued_token()');
	PERFORM pg_temp.run('fence never issued',
		'SELECT lockservice.fence(''pgtap.sp.res'', 9223372036854775807)');
	INSERT INTO pg_temp.live
		SELECT l.name, l.holder, l.owner, l.token, l.granted_at, l.expires_at, l.remaining
		  FROM lockservice.leases_live l;
	PERFORM pg_temp.run('release',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.a', t1));
	PERFORM pg_temp.run('release again',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.a', t1));
	PERFORM pg_temp.run('renew released',
		pg_catalog.format('SELECT lockservice.lock_renew(%L, %s)', 'pgtap.sp.a', t1));
	PERFORM pg_temp.run('check released',
		pg_catalog.format('SELECT lockservice.lock_check(%L, %s)', 'pgtap.sp.a', t1));
	t3 := pg_temp.run('acquire after release',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.a', 'h-other', '1 minute')$q$);
	-- expiry and takeover
	t4 := pg_temp.run('acquire short',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.c', 'h3', '10 milliseconds')$q$);
	PERFORM pg_catalog.pg_sleep(0.05);
	PERFORM pg_temp.run('renew expired',
		pg_catalog.format('SELECT lockservice.lock_renew(%L, %s)', 'pgtap.sp.c', t4));
	PERFORM pg_temp.run('check expired',
		pg_catalog.format('SELECT lockservice.lock_check(%L, %s)', 'pgtap.sp.c', t4));
	PERFORM pg_temp.run('release expired',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.c', t4));
	t5 := pg_temp.run('acquire expired (takeover)',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.c', 'h4', '1 minute')$q$);
	PERFORM pg_temp.run('advance_token_counter',
		pg_catalog.format('SELECT lockservice.advance_token_counter(%s)', last));
	PERFORM pg_temp.run('release b',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.b', t2));
	PERFORM pg_temp.run('release a (t3)',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.a', t3));
	PERFORM pg_temp.run('release c (t5)',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.c', t5));
	INSERT INTO pg_temp.tokens VALUES ('t1', t1), ('t2', t2), ('t3', t3), ('t4', t4), ('t5', t5),
		('last', last);
END
$$;
RESET search_path;

-- ------------------------------------------------------------- assertions
CREATE FUNCTION pg_temp.val(l text) RETURNS text LANGUAGE sql
	AS $$SELECT val FROM pg_temp.res WHERE label = l$$;
CREATE FUNCTION pg_temp.err(l text) RETURNS text LANGUAGE sql
	AS $$SELECT coalesce(state || ': ' || msg, 'no error') FROM pg_temp.res WHERE label = l$$;
CREATE FUNCTION pg_temp.t(l text) RETURNS bigint LANGUAGE sql
	AS $$SELECT v FROM pg_temp.tokens WHERE label = l$$;

SELECT is_empty($$SELECT what FROM evil.calls$$,
	'hostile search_path: no hostile operator, function, aggregate or relation was used');
SELECT is((SELECT is_called FROM evil.hits), false,
	'hostile search_path: no hostile object was called, not even in a rolled-back call');
SELECT is_empty($$SELECT label, state, msg FROM pg_temp.res
                   WHERE state IS NOT NULL
                     AND label NOT IN ('fence stale t1', 'fence never issued')$$,
	'hostile search_path: no call raised an unexpected error');
SELECT ok(pg_temp.t('t1') IS NOT NULL, 'hostile search_path: lock_acquire returns a token');
SELECT is(pg_temp.val('acquire again, same holder')::bigint, pg_temp.t('t1'),
	'hostile search_path: re-acquire by the same holder returns the same token');
SELECT is(pg_temp.val('acquire busy, other holder'), NULL,
	'hostile search_path: lock_acquire of a held name by another holder is NULL');
SELECT is(pg_temp.val('acquire busy, waits 30 ms'), NULL,
	'hostile search_path: lock_acquire with a wait times out with NULL');
SELECT cmp_ok(pg_temp.t('t2'), '>', pg_temp.t('t1'),
	'hostile search_path: lock_acquire with defaults returns a higher token');
SELECT ok(pg_temp.val('acquire named args') IS NOT NULL,
	'hostile search_path: lock_acquire with named arguments returns a token');
SELECT is(pg_temp.val('renew'), 'true', 'hostile search_path: lock_renew is true');
SELECT is(pg_temp.val('renew ttl'), 'true', 'hostile search_path: lock_renew with ttl is true');
SELECT is(pg_temp.val('renew wrong token'), 'false',
	'hostile search_path: lock_renew with a wrong token is false');
SELECT is(pg_temp.val('check'), 'true', 'hostile search_path: lock_check is true');
SELECT is(pg_temp.val('check wrong token'), 'false',
	'hostile search_path: lock_check with a wrong token is false');
SELECT is(pg_temp.err('fence t1'), 'no error', 'hostile search_path: fence accepts t1');
SELECT is(pg_temp.err('fence t2'), 'no error', 'hostile search_path: fence accepts higher t2');
SELECT is(pg_temp.err('fence t2 again'), 'no error',
	'hostile search_path: fence accepts the same token again');
SELECT is((SELECT state FROM pg_temp.res WHERE label = 'fence stale t1'), 'LS001',
	'hostile search_path: fence with a stale token raises LS001');
SELECT is((SELECT state FROM pg_temp.res WHERE label = 'fence never issued'), 'LS002',
	'hostile search_path: fence with a never-issued token raises LS002');
SELECT cmp_ok(pg_temp.t('last'), '>=', pg_temp.t('t2'),
	'hostile search_path: last_issued_token is at least the last token');
SELECT results_eq(
	$$SELECT name, holder, owner::text, token FROM pg_temp.live
	   WHERE name LIKE 'pgtap.sp.%' ORDER BY name$$,
	$$VALUES ('pgtap.sp.a'::text, 'h1'::text, current_user::text COLLATE "default", pg_temp.t('t1')),
	         ('pgtap.sp.b', 'h2', current_user::text COLLATE "default", pg_temp.t('t2')),
	         ('pgtap.sp.n', 'hn', current_user::text COLLATE "default", pg_temp.val('acquire named args')::bigint)$$,
	'hostile search_path: leases_live shows the held leases');
SELECT is_empty(
	$$SELECT name FROM pg_temp.live
	   WHERE name LIKE 'pgtap.sp.%'
	     AND NOT (remaining > '0' AND remaining <= '5 minutes' AND expires_at > granted_at)$$,
	'hostile search_path: leases_live remaining and expiry are sane');
SELECT is(pg_temp.val('release'), 'true', 'hostile search_path: lock_release is true');
SELECT is(pg_temp.val('release again'), 'false',
	'hostile search_path: a second lock_release is false');
SELECT is(pg_temp.val('renew released'), 'false',
	'hostile search_path: lock_renew of a released lease is false');
SELECT is(pg_temp.val('check released'), 'false',
	'hostile search_path: lock_check of a released lease is false');
SELECT cmp_ok(pg_temp.t('t3'), '>', pg_temp.t('t2'),
	'hostile search_path: acquiring a released name gives a new, higher token');
SELECT is(pg_temp.val('renew expired'), 'false',
	'hostile search_path: lock_renew of an expired lease is false');
SELECT is(pg_temp.val('check expired'), 'false',
	'hostile search_path: lock_check of an expired lease is false');
SELECT is(pg_temp.val('release expired'), 'false',
	'hostile search_path: lock_release of an expired lease is false');
SELECT cmp_ok(pg_temp.t('t5'), '>', pg_temp.t('t4'),
	'hostile search_path: taking over an expired lease gives a higher token');
SELECT cmp_ok(pg_temp.val('advance_token_counter')::bigint, '>=', pg_temp.t('last'),
	'hostile search_path: advance_token_counter works');
SELECT is(pg_temp.val('release b') || pg_temp.val('release a (t3)') || pg_temp.val('release c (t5)'),
	'truetruetrue', 'hostile search_path: releasing every lease is true');
SELECT results_eq(
	$$SELECT name COLLATE "default", holder COLLATE "default", owner::pg_catalog.oid, token, released_at IS NOT NULL
	    FROM lockservice.leases WHERE name IN ('pgtap.sp.a', 'pgtap.sp.b', 'pgtap.sp.c')
	   ORDER BY name$$,
	$$VALUES ('pgtap.sp.a'::text, 'h-other'::text, current_user::regrole::oid, pg_temp.t('t3'), true),
	         ('pgtap.sp.b', 'h2', current_user::regrole::oid, pg_temp.t('t2'), true),
	         ('pgtap.sp.c', 'h4', current_user::regrole::oid, pg_temp.t('t5'), true)$$,
	'hostile search_path: the lease rows are right');
SELECT results_eq(
	$$SELECT token FROM lockservice.fences WHERE resource = 'pgtap.sp.res'$$,
	$$SELECT pg_temp.t('t2')$$,
	'hostile search_path: the fence row holds t2');
SELECT is_empty(
	$$SELECT 'evil.leases' FROM evil.leases UNION ALL SELECT 'evil.fences' FROM evil.fences
	  UNION ALL SELECT 'pg_temp.leases' FROM pg_temp.leases
	  UNION ALL SELECT 'pg_temp.fences' FROM pg_temp.fences
	  UNION ALL SELECT 'evil.fencing_seq' FROM evil.fencing_seq WHERE is_called
	  UNION ALL SELECT 'pg_temp.fencing_seq' FROM pg_temp.fencing_seq WHERE is_called$$,
	'hostile search_path: the look-alike relations in evil and pg_temp were not touched');

-- ------------------------------------------------- exercise, empty path
SET search_path = '';
DO $$
DECLARE
	t bigint;
BEGIN
	t := pg_temp.run('e: acquire',
		$q$SELECT lockservice.lock_acquire('pgtap.sp.e', 'he', '1 minute')$q$);
	PERFORM pg_temp.run('e: renew',
		pg_catalog.format('SELECT lockservice.lock_renew(%L, %s, %L)', 'pgtap.sp.e', t, '2 minutes'));
	PERFORM pg_temp.run('e: check',
		pg_catalog.format('SELECT lockservice.lock_check(%L, %s)', 'pgtap.sp.e', t));
	PERFORM pg_temp.run('e: fence',
		pg_catalog.format('SELECT lockservice.fence(%L, %s)', 'pgtap.sp.eres', t));
	PERFORM pg_temp.run('e: live',
		'SELECT l.token FROM lockservice.leases_live l WHERE l.name OPERATOR(pg_catalog.=) ''pgtap.sp.e''');
	PERFORM pg_temp.run('e: last_issued_token', 'SELECT lockservice.last_issued_token()');
	PERFORM pg_temp.run('e: release',
		pg_catalog.format('SELECT lockservice.lock_release(%L, %s)', 'pgtap.sp.e', t));
	INSERT INTO pg_temp.tokens VALUES ('e', t);
END
$$;
RESET search_path;
SELECT ok(pg_temp.t('e') IS NOT NULL, 'empty search_path: lock_acquire returns a token');
SELECT is(pg_temp.val('e: renew'), 'true', 'empty search_path: lock_renew is true');
SELECT is(pg_temp.val('e: check'), 'true', 'empty search_path: lock_check is true');
SELECT is(pg_temp.err('e: fence'), 'no error', 'empty search_path: fence works');
SELECT is(pg_temp.val('e: live')::bigint, pg_temp.t('e'),
	'empty search_path: leases_live shows the lease');
SELECT cmp_ok(pg_temp.val('e: last_issued_token')::bigint, '>=', pg_temp.t('e'),
	'empty search_path: last_issued_token works');
SELECT is(pg_temp.val('e: release'), 'true', 'empty search_path: lock_release is true');

-- ------------------------------------ hostile path, errors and the view
-- bad input must be reported correctly too (the error paths format
-- messages and may look things up)
SET search_path = evil, pg_catalog, public;
DO $$
BEGIN
	PERFORM pg_temp.run('x: null name', 'SELECT lockservice.lock_acquire(NULL, ''h'')');
	PERFORM pg_temp.run('x: empty holder', 'SELECT lockservice.lock_acquire(''pgtap.sp.x'', '''')');
	PERFORM pg_temp.run('x: long name',
		pg_catalog.format('SELECT lockservice.lock_acquire(%L, ''h'')', pg_catalog.repeat('n', 100000)));
	PERFORM pg_temp.run('x: ttl 0', 'SELECT lockservice.lock_acquire(''pgtap.sp.x'', ''h'', ''0'')');
	PERFORM pg_temp.run('x: ttl too long',
		'SELECT lockservice.lock_acquire(''pgtap.sp.x'', ''h'', ''1000 years'')');
	PERFORM pg_temp.run('x: negative wait',
		'SELECT lockservice.lock_acquire(''pgtap.sp.x'', ''h'', ''1 minute'', ''-1 second'')');
	PERFORM pg_temp.run('x: token 0', 'SELECT lockservice.lock_renew(''pgtap.sp.x'', 0)');
	PERFORM pg_temp.run('x: unknown lease', 'SELECT lockservice.lock_release(''pgtap.sp.never'', 1)');
	PERFORM pg_temp.run('x: unknown lease check', 'SELECT lockservice.lock_check(''pgtap.sp.never'', 1)');
	PERFORM pg_temp.run('x: view count', 'SELECT l.name FROM lockservice.leases_live l LIMIT 1');
END
$$;
RESET search_path;
SELECT results_eq(
	$$SELECT label, state FROM pg_temp.res WHERE label LIKE 'x: %' ORDER BY label$$,
	$$VALUES ('x: empty holder'::text, '22023'::text), ('x: long name', '22001'),
	         ('x: negative wait', '22023'), ('x: null name', '22004'),
	         ('x: token 0', '22023'), ('x: ttl 0', '22023'), ('x: ttl too long', '22023'),
	         ('x: unknown lease', NULL), ('x: unknown lease check', NULL),
	         ('x: view count', NULL)$$,
	'hostile search_path: bad input raises the documented SQLSTATEs');
SELECT is(pg_temp.val('x: unknown lease') || pg_temp.val('x: unknown lease check'), 'falsefalse',
	'hostile search_path: release and check of an unknown name are false');

SELECT is_empty($$SELECT what FROM evil.calls$$,
	'hostile and empty search_path: still no hostile object used');
SELECT is((SELECT is_called FROM evil.hits), false,
	'hostile and empty search_path: evil.hits never ticked');

-- ---------------------------------------------------------- trap sanity
-- the traps do fire for code that is not schema-qualified
SET search_path = evil, pg_catalog, public;
DO $$
BEGIN
	PERFORM pg_temp.run('sanity', 'SELECT now() + ''1 second''::interval > clock_timestamp()');
END
$$;
RESET search_path;
SELECT set_eq(
	$$SELECT DISTINCT what FROM evil.calls$$,
	$$VALUES ('function now()'), ('function clock_timestamp()'),
	         ('operator +(timestamp with time zone,interval)'),
	         ('operator >(timestamp with time zone,timestamp with time zone)')$$,
	'sanity: unqualified now(), clock_timestamp(), + and > are caught by the traps');

SELECT * FROM finish();
ROLLBACK;
