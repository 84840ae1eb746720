-- test/pgtap/schema.sql: every object of lockservice 1.5 exists with the
-- pinned shape (DESIGN.md "SQL API", the contract's "Objects").
--
-- Needs: a database where the runner did CREATE EXTENSION pgtap and
-- CREATE EXTENSION lockservice; run as a superuser with pg_prove.
-- Everything happens in one transaction that is rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(118);

-- ---------------------------------------------------------------- extension
SELECT has_schema('lockservice', 'schema lockservice exists');
SELECT has_extension('lockservice', 'lockservice',
	'extension lockservice is installed in schema lockservice');
SELECT is((SELECT extrelocatable FROM pg_catalog.pg_extension WHERE extname = 'lockservice'),
	false, 'extension lockservice is not relocatable');
SELECT is((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockservice'),
	'1.5', 'extension version is 1.5');

-- pg_dump keeps leases, fences and the token counter
SELECT set_eq(
	$$SELECT unnest(extconfig) FROM pg_catalog.pg_extension WHERE extname = 'lockservice'$$,
	$$VALUES ('lockservice.leases'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.fences'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.fencing_seq'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.fencing_timeline'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.fencing_era'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.lock_options'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.history'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.sessions'::pg_catalog.regclass::pg_catalog.oid),
	         ('lockservice.session_seq'::pg_catalog.regclass::pg_catalog.oid)$$,
	'extconfig registers exactly leases, fences, the three token sequences, lock_options, history, sessions and session_seq (pg_extension_config_dump)');
SELECT is_empty(
	$$SELECT c FROM pg_catalog.pg_extension e, unnest(e.extcondition) c
	   WHERE e.extname = 'lockservice' AND c <> ''$$,
	'config dump filters are empty (whole tables are dumped)');

-- every object is a member of the extension
SELECT is_empty(
	$$SELECT o::pg_catalog.regclass::text
	    FROM (VALUES ('lockservice.leases'::pg_catalog.regclass),
	                 ('lockservice.fences'::pg_catalog.regclass),
	                 ('lockservice.fencing_seq'::pg_catalog.regclass),
	                 ('lockservice.fencing_timeline'::pg_catalog.regclass),
	                 ('lockservice.fencing_era'::pg_catalog.regclass),
	                 ('lockservice.leases_live'::pg_catalog.regclass)) v(o)
	   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
	                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	                        AND d.objid = v.o
	                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
	                        AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension
	                                           WHERE extname = 'lockservice')
	                        AND d.deptype = 'e')
	  UNION ALL
	  SELECT f::text
	    FROM (VALUES ('lockservice.lock_acquire(text,text,interval,interval)'::pg_catalog.regprocedure),
	                 ('lockservice.lock_renew(text,bigint,interval)'::pg_catalog.regprocedure),
	                 ('lockservice.lock_release(text,bigint)'::pg_catalog.regprocedure),
	                 ('lockservice.lock_check(text,bigint)'::pg_catalog.regprocedure),
	                 ('lockservice.fence(text,bigint)'::pg_catalog.regprocedure),
	                 ('lockservice.last_issued_token()'::pg_catalog.regprocedure),
	                 ('lockservice.advance_token_counter(bigint)'::pg_catalog.regprocedure)) v(f)
	   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
	                      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
	                        AND d.objid = v.f
	                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
	                        AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension
	                                           WHERE extname = 'lockservice')
	                        AND d.deptype = 'e')$$,
	'tables, sequence, view and functions are members of extension lockservice');

-- ------------------------------------------------------------------- leases
SELECT has_table('lockservice', 'leases', 'table lockservice.leases exists');
SELECT is((SELECT relkind::text FROM pg_catalog.pg_class
            WHERE oid = 'lockservice.leases'::pg_catalog.regclass),
	'r', 'lockservice.leases is an ordinary table');
SELECT columns_are('lockservice', 'leases',
	ARRAY['name', 'slot', 'kind', 'holder', 'owner', 'token', 'ttl',
	      'granted_at', 'expires_at', 'released_at', 'permits', 'session'],
	'lockservice.leases has exactly the pinned columns');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_catalog.pg_attribute
            WHERE attrelid = 'lockservice.leases'::pg_catalog.regclass
              AND attnum > 0 AND NOT attisdropped),
	ARRAY['name', 'slot', 'kind', 'holder', 'owner', 'token', 'ttl',
	      'granted_at', 'expires_at', 'released_at', 'permits', 'session'],
	'lockservice.leases columns are in the pinned order');
SELECT col_type_is('lockservice', 'leases', 'name', 'text', 'leases.name is text');
SELECT col_type_is('lockservice', 'leases', 'slot', 'integer', 'leases.slot is integer');
SELECT col_type_is('lockservice', 'leases', 'kind', 'char', 'leases.kind is "char"');
SELECT col_type_is('lockservice', 'leases', 'holder', 'text', 'leases.holder is text');
SELECT col_type_is('lockservice', 'leases', 'owner', 'lockservice.lease_owner', 'leases.owner is lockservice.lease_owner (an OID on disk, a role name outside)');
SELECT col_type_is('lockservice', 'leases', 'token', 'bigint', 'leases.token is bigint');
SELECT col_type_is('lockservice', 'leases', 'ttl', 'interval', 'leases.ttl is interval');
SELECT col_type_is('lockservice', 'leases', 'granted_at', 'timestamp with time zone',
	'leases.granted_at is timestamptz');
SELECT col_type_is('lockservice', 'leases', 'expires_at', 'timestamp with time zone',
	'leases.expires_at is timestamptz');
SELECT col_type_is('lockservice', 'leases', 'released_at', 'timestamp with time zone',
	'leases.released_at is timestamptz');
SELECT col_is_null('lockservice', 'leases', 'released_at',
	'leases.released_at is nullable (NULL while held)');
SELECT has_pk('lockservice', 'leases', 'lockservice.leases has a primary key');
SELECT col_is_pk('lockservice', 'leases', ARRAY['name', 'slot'],
	'primary key of lockservice.leases is (name, slot)');
SELECT ok((SELECT 'fillfactor=50' = ANY (reloptions) FROM pg_catalog.pg_class
            WHERE oid = 'lockservice.leases'::pg_catalog.regclass),
	'lockservice.leases has fillfactor 50');
SELECT ok((SELECT ARRAY['autovacuum_vacuum_scale_factor=0.05', 'autovacuum_vacuum_cost_delay=0'] <@ reloptions
             FROM pg_catalog.pg_class WHERE oid = 'lockservice.leases'::pg_catalog.regclass),
	'lockservice.leases is vacuumed sooner and unthrottled (1.4)');

-- ------------------------------------------------------------------- fences
SELECT has_table('lockservice', 'fences', 'table lockservice.fences exists');
SELECT columns_are('lockservice', 'fences', ARRAY['resource', 'token', 'fenced_at'],
	'lockservice.fences has exactly the pinned columns');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_catalog.pg_attribute
            WHERE attrelid = 'lockservice.fences'::pg_catalog.regclass
              AND attnum > 0 AND NOT attisdropped),
	ARRAY['resource', 'token', 'fenced_at'],
	'lockservice.fences columns are in the pinned order');
SELECT col_type_is('lockservice', 'fences', 'resource', 'text', 'fences.resource is text');
SELECT col_type_is('lockservice', 'fences', 'token', 'bigint', 'fences.token is bigint');
SELECT col_type_is('lockservice', 'fences', 'fenced_at', 'timestamp with time zone',
	'fences.fenced_at is timestamptz');
SELECT col_is_pk('lockservice', 'fences', 'resource',
	'primary key of lockservice.fences is (resource)');

-- ----------------------------------------------------------------- sequence
SELECT has_sequence('lockservice', 'fencing_seq', 'sequence lockservice.fencing_seq exists');
SELECT is((SELECT seqtypid::pg_catalog.regtype::text FROM pg_catalog.pg_sequence
            WHERE seqrelid = 'lockservice.fencing_seq'::pg_catalog.regclass),
	'bigint', 'fencing_seq is a bigint sequence');
SELECT is((SELECT seqcycle FROM pg_catalog.pg_sequence
            WHERE seqrelid = 'lockservice.fencing_seq'::pg_catalog.regclass),
	false, 'fencing_seq does not cycle (tokens are never reissued)');
SELECT ok((SELECT seqincrement > 0 FROM pg_catalog.pg_sequence
            WHERE seqrelid = 'lockservice.fencing_seq'::pg_catalog.regclass),
	'fencing_seq increases');
-- where the counter was used: a sequence each, so that rollbacks keep them
SELECT has_sequence('lockservice', 'fencing_timeline', 'sequence lockservice.fencing_timeline exists');
SELECT has_sequence('lockservice', 'fencing_era', 'sequence lockservice.fencing_era exists');
SELECT is((SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_sequence
            WHERE seqrelid IN ('lockservice.fencing_timeline'::pg_catalog.regclass,
                               'lockservice.fencing_era'::pg_catalog.regclass)
              AND seqtypid = 'pg_catalog.int8'::pg_catalog.regtype
              AND NOT seqcycle AND seqmin = 0),
	2, 'fencing_timeline and fencing_era are bigint sequences from 0 that do not cycle');
SELECT is((SELECT seqmax FROM pg_catalog.pg_sequence
            WHERE seqrelid = 'lockservice.fencing_timeline'::pg_catalog.regclass),
	4294967295::bigint, 'fencing_timeline holds any timeline ID');
SELECT is_empty(
	$$SELECT c.relname FROM pg_catalog.pg_class c
	   WHERE c.oid IN ('lockservice.fencing_timeline'::pg_catalog.regclass,
	                   'lockservice.fencing_era'::pg_catalog.regclass)
	     AND (pg_catalog.has_sequence_privilege('public', c.oid, 'SELECT')
	          OR pg_catalog.has_sequence_privilege('public', c.oid, 'UPDATE')
	          OR pg_catalog.has_sequence_privilege('public', c.oid, 'USAGE'))$$,
	'PUBLIC has no privilege on fencing_timeline and fencing_era');

-- --------------------------------------------------------------------- view
SELECT has_view('lockservice', 'leases_live', 'view lockservice.leases_live exists');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_catalog.pg_attribute
            WHERE attrelid = 'lockservice.leases_live'::pg_catalog.regclass
              AND attnum > 0 AND NOT attisdropped),
	ARRAY['name', 'holder', 'owner', 'token', 'granted_at', 'expires_at', 'remaining',
	      'kind', 'waiters', 'session'],
	'lockservice.leases_live has the pinned columns in order');
SELECT col_type_is('lockservice', 'leases_live', 'name', 'text', 'leases_live.name is text');
SELECT col_type_is('lockservice', 'leases_live', 'holder', 'text', 'leases_live.holder is text');
SELECT col_type_is('lockservice', 'leases_live', 'owner', 'regrole', 'leases_live.owner is regrole');
SELECT col_type_is('lockservice', 'leases_live', 'token', 'bigint', 'leases_live.token is bigint');
SELECT col_type_is('lockservice', 'leases_live', 'granted_at', 'timestamp with time zone',
	'leases_live.granted_at is timestamptz');
SELECT col_type_is('lockservice', 'leases_live', 'expires_at', 'timestamp with time zone',
	'leases_live.expires_at is timestamptz');
SELECT col_type_is('lockservice', 'leases_live', 'remaining', 'interval',
	'leases_live.remaining is interval');

-- ---------------------------------------------------------------- functions
-- lock_acquire(name text, holder text, ttl interval DEFAULT '30 seconds', wait interval DEFAULT '0') -> bigint
SELECT has_function('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'lock_acquire(text, text, interval, interval) exists');
SELECT function_returns('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'bigint', 'lock_acquire returns bigint');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.lock_acquire(text,text,interval,interval)'::pg_catalog.regprocedure),
	$$name text, holder text, ttl interval DEFAULT '00:00:30'::interval, wait interval DEFAULT '00:00:00'::interval$$,
	'lock_acquire arguments: names, order and defaults (30 seconds, 0) as pinned');
SELECT isnt_definer('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'lock_acquire is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'lock_acquire is not STRICT');
SELECT volatility_is('lockservice', 'lock_acquire', ARRAY['text', 'text', 'interval', 'interval'],
	'volatile', 'lock_acquire is VOLATILE');

-- lock_renew(name text, token bigint, ttl interval DEFAULT NULL) -> boolean
SELECT has_function('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'lock_renew(text, bigint, interval) exists');
SELECT function_returns('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'boolean', 'lock_renew returns boolean');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.lock_renew(text,bigint,interval)'::pg_catalog.regprocedure),
	'name text, token bigint, ttl interval DEFAULT NULL::interval',
	'lock_renew arguments: names, order and default (NULL) as pinned');
SELECT isnt_definer('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'lock_renew is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'lock_renew is not STRICT');
SELECT volatility_is('lockservice', 'lock_renew', ARRAY['text', 'bigint', 'interval'],
	'volatile', 'lock_renew is VOLATILE');

-- lock_release(name text, token bigint) -> boolean
SELECT has_function('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'lock_release(text, bigint) exists');
SELECT function_returns('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'boolean', 'lock_release returns boolean');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.lock_release(text,bigint)'::pg_catalog.regprocedure),
	'name text, token bigint', 'lock_release arguments as pinned');
SELECT isnt_definer('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'lock_release is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'lock_release is not STRICT');
SELECT volatility_is('lockservice', 'lock_release', ARRAY['text', 'bigint'],
	'volatile', 'lock_release is VOLATILE');

-- lock_check(name text, token bigint) -> boolean
SELECT has_function('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'lock_check(text, bigint) exists');
SELECT function_returns('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'boolean', 'lock_check returns boolean');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.lock_check(text,bigint)'::pg_catalog.regprocedure),
	'name text, token bigint', 'lock_check arguments as pinned');
SELECT isnt_definer('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'lock_check is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'lock_check is not STRICT');
SELECT volatility_is('lockservice', 'lock_check', ARRAY['text', 'bigint'],
	'volatile', 'lock_check is VOLATILE');

-- fence(resource text, token bigint) -> void
SELECT has_function('lockservice', 'fence', ARRAY['text', 'bigint'],
	'fence(text, bigint) exists');
SELECT function_returns('lockservice', 'fence', ARRAY['text', 'bigint'],
	'void', 'fence returns void');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.fence(text,bigint)'::pg_catalog.regprocedure),
	'resource text, token bigint', 'fence arguments as pinned');
SELECT isnt_definer('lockservice', 'fence', ARRAY['text', 'bigint'],
	'fence is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'fence', ARRAY['text', 'bigint'],
	'fence is not STRICT');
SELECT volatility_is('lockservice', 'fence', ARRAY['text', 'bigint'],
	'volatile', 'fence is VOLATILE');

-- last_issued_token() -> bigint
SELECT has_function('lockservice', 'last_issued_token', ARRAY[]::name[],
	'last_issued_token() exists');
SELECT function_returns('lockservice', 'last_issued_token', ARRAY[]::name[],
	'bigint', 'last_issued_token returns bigint');
SELECT isnt_definer('lockservice', 'last_issued_token', ARRAY[]::name[],
	'last_issued_token is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'last_issued_token', ARRAY[]::name[],
	'last_issued_token is not STRICT');
SELECT volatility_is('lockservice', 'last_issued_token', ARRAY[]::name[],
	'volatile', 'last_issued_token is VOLATILE (it changes within a statement)');

-- lease_classes(top integer DEFAULT 20) -> SETOF (class, kind, live, waiters)
SELECT has_function('lockservice', 'lease_classes', ARRAY['integer'],
	'lease_classes(integer) exists');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.lease_classes(integer)'::pg_catalog.regprocedure),
	'top integer DEFAULT 20, OUT class text, OUT kind text, OUT live bigint, OUT waiters bigint',
	'lease_classes arguments as pinned');
SELECT isnt_strict('lockservice', 'lease_classes', ARRAY['integer'],
	'lease_classes is not STRICT (NULL is an error)');
SELECT isnt_definer('lockservice', 'lease_classes', ARRAY['integer'],
	'lease_classes is not SECURITY DEFINER');
SELECT ok(pg_catalog.has_function_privilege('public', 'lockservice.lease_classes(integer)', 'EXECUTE'),
	'PUBLIC may run lease_classes (it shows what leases_live shows, counted)');

-- advance_token_counter(at_least bigint) -> bigint
SELECT has_function('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'advance_token_counter(bigint) exists');
SELECT function_returns('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'bigint', 'advance_token_counter returns bigint');
SELECT is(pg_catalog.pg_get_function_arguments(
		'lockservice.advance_token_counter(bigint)'::pg_catalog.regprocedure),
	'at_least bigint', 'advance_token_counter arguments as pinned');
SELECT isnt_definer('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'advance_token_counter is not SECURITY DEFINER');
SELECT isnt_strict('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'advance_token_counter is not STRICT');
SELECT volatility_is('lockservice', 'advance_token_counter', ARRAY['bigint'],
	'volatile', 'advance_token_counter is VOLATILE');

-- every function of the extension, including ones added later
SELECT is_empty(
	$$SELECT p.oid::pg_catalog.regprocedure::text
	    FROM pg_catalog.pg_proc p
	    JOIN pg_catalog.pg_depend d
	      ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
	     AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
	    JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'lockservice'
	   WHERE p.prosecdef$$,
	'no function of lockservice is SECURITY DEFINER');
SELECT is_empty(
	$$SELECT p.oid::pg_catalog.regprocedure::text
	    FROM pg_catalog.pg_proc p
	    JOIN pg_catalog.pg_depend d
	      ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
	     AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
	    JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'lockservice'
	   WHERE p.proisstrict AND p.oid NOT IN (SELECT v.io::pg_catalog.oid FROM pg_catalog.pg_type t,
	           LATERAL (VALUES (t.typinput), (t.typoutput), (t.typreceive), (t.typsend)) v(io)
	          WHERE t.typnamespace = 'lockservice'::pg_catalog.regnamespace)$$,
	'no function of lockservice but its type''s I/O functions is STRICT (pg_proc.proisstrict = false)');
SELECT is_empty(
	$$SELECT p.oid::pg_catalog.regprocedure::text
	    FROM pg_catalog.pg_proc p
	   WHERE p.pronamespace = 'lockservice'::pg_catalog.regnamespace
	     AND (p.prosecdef OR (p.proisstrict AND p.oid NOT IN (SELECT v.io::pg_catalog.oid FROM pg_catalog.pg_type t,
	           LATERAL (VALUES (t.typinput), (t.typoutput), (t.typreceive), (t.typsend)) v(io)
	          WHERE t.typnamespace = 'lockservice'::pg_catalog.regnamespace)))$$,
	'no function in schema lockservice is SECURITY DEFINER or STRICT (but its type''s I/O functions)');
SELECT is_empty(
	$$SELECT p.oid::pg_catalog.regprocedure::text
	    FROM pg_catalog.pg_proc p
	   WHERE p.oid IN ('lockservice.lock_acquire(text,text,interval,interval)'::pg_catalog.regprocedure,
	                   'lockservice.lock_renew(text,bigint,interval)'::pg_catalog.regprocedure,
	                   'lockservice.lock_release(text,bigint)'::pg_catalog.regprocedure,
	                   'lockservice.lock_check(text,bigint)'::pg_catalog.regprocedure,
	                   'lockservice.fence(text,bigint)'::pg_catalog.regprocedure,
	                   'lockservice.advance_token_counter(bigint)'::pg_catalog.regprocedure)
	     AND p.proparallel <> 'u'$$,
	'the writing functions are PARALLEL UNSAFE');

-- 1.5: lock sessions and multi-lock
SELECT has_table('lockservice', 'sessions', 'table lockservice.sessions exists');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_catalog.pg_attribute
            WHERE attrelid = 'lockservice.sessions'::pg_catalog.regclass
              AND attnum > 0 AND NOT attisdropped),
	ARRAY['id', 'holder', 'owner', 'ttl', 'opened_at', 'expires_at'],
	'lockservice.sessions columns are in the pinned order');
SELECT col_is_pk('lockservice', 'sessions', 'id', 'primary key of lockservice.sessions is (id)');
SELECT col_type_is('lockservice', 'leases', 'session', 'bigint', 'leases.session is bigint');
SELECT col_is_null('lockservice', 'leases', 'session',
	'leases.session is nullable (NULL: a lease with its own ttl)');
SELECT is((SELECT pg_catalog.pg_get_indexdef('lockservice.leases_session_idx'::pg_catalog.regclass)),
	'CREATE INDEX leases_session_idx ON lockservice.leases USING btree (session) WHERE (session IS NOT NULL)',
	'leases_session_idx holds the locks of sessions only (other leases stay HOT-updated)');
SELECT ok((SELECT 'fillfactor=50' = ANY (reloptions) FROM pg_catalog.pg_class
            WHERE oid = 'lockservice.sessions'::pg_catalog.regclass),
	'lockservice.sessions has fillfactor 50 (renewals are HOT updates)');
SELECT is_empty(
	$$SELECT c.relname FROM pg_catalog.pg_class c
	   WHERE c.oid IN ('lockservice.sessions'::pg_catalog.regclass,
	                   'lockservice.session_seq'::pg_catalog.regclass)
	     AND (pg_catalog.has_table_privilege('public', c.oid, 'SELECT')
	          OR pg_catalog.has_table_privilege('public', c.oid, 'INSERT')
	          OR pg_catalog.has_table_privilege('public', c.oid, 'UPDATE')
	          OR pg_catalog.has_table_privilege('public', c.oid, 'DELETE'))$$,
	'PUBLIC has no privilege on lockservice.sessions and session_seq');
SELECT triggers_are('lockservice', 'sessions', ARRAY['sessions_changed'],
	'lockservice.sessions has exactly the trigger sessions_changed (changes by hand wake the reaper)');
SELECT ok(pg_catalog.has_table_privilege('public', 'lockservice.sessions_live', 'SELECT'),
	'PUBLIC may read lockservice.sessions_live');
SELECT is(pg_catalog.array_to_string(ARRAY(
		SELECT p.oid::pg_catalog.regprocedure::text || ' ' || pg_catalog.pg_get_function_arguments(p.oid)
		       || ' -> ' || pg_catalog.pg_get_function_result(p.oid)
		  FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace = 'lockservice'::pg_catalog.regnamespace
		   AND (p.proname LIKE 'session\_%'
		        OR p.oid IN ('lockservice.lock_acquire(text,bigint,interval)'::pg_catalog.regprocedure,
		                     'lockservice.lock_acquire_shared(text,bigint,interval)'::pg_catalog.regprocedure,
		                     'lockservice.sem_acquire(text,bigint,integer,interval)'::pg_catalog.regprocedure)
		        OR p.proname = 'lock_acquire_all')
		 ORDER BY 1), E'\n'),
	pg_catalog.array_to_string(ARRAY[
		'lockservice.lock_acquire(text,bigint,interval) name text, session bigint, wait interval DEFAULT ''00:00:00''::interval -> bigint',
		'lockservice.lock_acquire_all(text[],bigint,interval) names text[], session bigint, wait interval DEFAULT ''00:00:00''::interval -> bigint[]',
		'lockservice.lock_acquire_all(text[],text,interval,interval) names text[], holder text, ttl interval DEFAULT ''00:00:30''::interval, wait interval DEFAULT ''00:00:00''::interval -> bigint[]',
		'lockservice.lock_acquire_shared(text,bigint,interval) name text, session bigint, wait interval DEFAULT ''00:00:00''::interval -> bigint',
		'lockservice.sem_acquire(text,bigint,integer,interval) name text, session bigint, permits integer, wait interval DEFAULT ''00:00:00''::interval -> bigint',
		'lockservice.session_close(bigint) session bigint -> boolean',
		'lockservice.session_open(text,interval) holder text, ttl interval DEFAULT ''00:00:30''::interval -> bigint',
		'lockservice.session_renew(bigint,interval) session bigint, ttl interval DEFAULT NULL::interval -> boolean'], E'\n'),
	'the session and multi-lock functions have the pinned arguments and results');
SELECT is_empty(
	$$SELECT p.oid::pg_catalog.regprocedure::text FROM pg_catalog.pg_proc p
	   WHERE p.pronamespace = 'lockservice'::pg_catalog.regnamespace
	     AND (p.proname LIKE 'session\_%' OR p.proname = 'lock_acquire_all')
	     AND (p.proparallel <> 'u' OR p.provolatile <> 'v'
	          OR NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE'))$$,
	'the session and multi-lock functions are VOLATILE, PARALLEL UNSAFE and executable by PUBLIC');
SELECT is(pg_catalog.pg_get_function_arguments('lockservice.lock_holder(text)'::pg_catalog.regprocedure),
	'name text, OUT holder text, OUT owner regrole, OUT token bigint, OUT kind text, OUT granted_at timestamp with time zone, OUT expires_at timestamp with time zone, OUT session bigint',
	'lock_holder shows the session of each lease');

-- 1.1: changes made by hand (not through lockservice's functions) tell the
-- reaper to scan, through a statement trigger
SELECT triggers_are('lockservice', 'leases', ARRAY['leases_changed'],
	'lockservice.leases has exactly the trigger leases_changed');
SELECT trigger_is('lockservice', 'leases', 'leases_changed', 'lockservice', 'leases_changed',
	'leases_changed runs lockservice.leases_changed()');
SELECT is((SELECT tgtype::int FROM pg_catalog.pg_trigger
            WHERE tgrelid = 'lockservice.leases'::pg_catalog.regclass AND tgname = 'leases_changed'),
	4 + 8 + 16 + 32,  -- TRIGGER_TYPE_INSERT | DELETE | UPDATE | TRUNCATE; not ROW, not BEFORE
	'leases_changed fires AFTER INSERT, DELETE, UPDATE and TRUNCATE, once per statement');
SELECT ok(NOT pg_catalog.has_function_privilege('public', 'lockservice.leases_changed()', 'EXECUTE'),
	'PUBLIC cannot execute lockservice.leases_changed()');
SELECT * FROM finish();
ROLLBACK;
