--
-- history: the audit history (issue 5).  With lockservice.history on,
-- every grant, release, expiry, takeover and forced release adds a row to
-- lockservice.history (event, name, kind, holder, owner, token, actor) in
-- the transaction that made it; a rollback leaves no trace.  Pruning by the
-- reaper (lockservice.history_retention, history_max_rows) and expiries
-- recorded by the reaper are tested in test/t/301_history.pl.
-- Token values and timestamps are never printed: they are kept in psql
-- variables (\gset) and compared.
--
\set VERBOSITY sqlstate

CREATE ROLE regress_ls_hist_plain;
CREATE ROLE regress_ls_hist_operator;
GRANT EXECUTE ON FUNCTION lockservice.force_release(text, bigint) TO regress_ls_hist_operator;

-- off by default; only a superuser may switch it
SHOW lockservice.history;
SET ROLE regress_ls_hist_plain;
SET lockservice.history = on;
-- nor may a plain role read (or write) the history
SELECT count(*) FROM lockservice.history;
INSERT INTO lockservice.history VALUES (now(), 'acquired', 'hist/forged', 'x', 'h', '-', 2, '-');
DELETE FROM lockservice.history;
RESET ROLE;

-- the reaper writes history rows of its own when the server's
-- configuration says so, and deletes leases that expired: it is stopped
-- while this file runs, so that every row below is one this session made
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

-- history off: nothing is recorded
SELECT lockservice.lock_acquire('hist/off', 'h') AS t0 \gset
SELECT lockservice.lock_release('hist/off', :t0) AS released;
SELECT count(*) AS rows_with_history_off FROM lockservice.history;

-- the rows of one name, oldest first (the superuser running the tests
-- shows as "superuser", whatever its name)
CREATE FUNCTION pg_temp.role_of(p_oid oid) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN p_oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
	            THEN 'superuser' ELSE p_oid::regrole::text END
$$;
CREATE FUNCTION pg_temp.hist(p_name text)
RETURNS TABLE (event text, kind "char", holder text, owner text, actor text, token bigint)
LANGUAGE sql AS $$
	SELECT h.event, h.kind, h.holder, pg_temp.role_of(h.owner), pg_temp.role_of(h.actor), h.token
	  FROM lockservice.history h WHERE h.name = p_name ORDER BY h.at, h.ctid
$$;

SET lockservice.history = on;
SHOW lockservice.history;

--
-- exclusive: acquired, released; a retry by the holder records nothing,
-- nor does a renewal, a check or a refused attempt
--
SET ROLE regress_ls_hist_plain;
SELECT lockservice.lock_acquire('hist/x', 'worker', '10 minutes') AS tx \gset
SELECT lockservice.lock_acquire('hist/x', 'worker', '20 minutes') = :tx AS same_token;
SELECT lockservice.lock_renew('hist/x', :tx) AS renewed,
       lockservice.lock_check('hist/x', :tx) AS checked;
RESET ROLE;
SELECT lockservice.lock_acquire('hist/x', 'other') IS NULL AS refused;
SELECT lockservice.lock_release('hist/x', :tx) AS not_mine;
SET ROLE regress_ls_hist_plain;
SELECT lockservice.lock_release('hist/x', :tx) AS released;
SELECT lockservice.lock_release('hist/x', :tx) AS released_again;
RESET ROLE;
SELECT event, kind, holder, owner, actor, token = :tx AS token_ok FROM pg_temp.hist('hist/x');
-- at is the time of the change
SELECT count(*) FILTER (WHERE at <= pg_catalog.clock_timestamp() AND at > pg_catalog.clock_timestamp() - interval '1 minute') AS recent,
       count(*) AS total
  FROM lockservice.history WHERE name = 'hist/x';

--
-- a rolled-back change leaves no trace: ROLLBACK, ROLLBACK TO SAVEPOINT
--
BEGIN;
SELECT lockservice.lock_acquire('hist/rb', 'h') IS NOT NULL AS granted;
SELECT count(*) AS rows_in_tx FROM lockservice.history WHERE name = 'hist/rb';
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM lockservice.history WHERE name = 'hist/rb';
SELECT lockservice.lock_acquire('hist/rb', 'h') AS trb \gset
BEGIN;
SAVEPOINT sp;
SELECT lockservice.lock_release('hist/rb', :trb) AS released;
ROLLBACK TO SAVEPOINT sp;
SELECT lockservice.lock_renew('hist/rb', :trb) AS renewed;
COMMIT;
SELECT event, holder, token = :trb AS token_ok FROM pg_temp.hist('hist/rb');
SELECT lockservice.lock_release('hist/rb', :trb) AS released;
SELECT event, holder, token = :trb AS token_ok FROM pg_temp.hist('hist/rb');

--
-- expiry and takeover: the taker's call records the end of the expired
-- lease (owner: its holder's role, actor: the taker) and the takeover
--
SET ROLE regress_ls_hist_plain;
SELECT lockservice.lock_acquire('hist/exp', 'paused', '100 milliseconds') AS te1 \gset
RESET ROLE;
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire('hist/exp', 'taker', '10 minutes') AS te2 \gset
SELECT event, kind, holder, owner, actor,
       CASE token WHEN :te1 THEN 'te1' WHEN :te2 THEN 'te2' END AS token
  FROM pg_temp.hist('hist/exp');
-- the paused holder's calls change nothing and record nothing
SET ROLE regress_ls_hist_plain;
SELECT lockservice.lock_renew('hist/exp', :te1) AS renewed,
       lockservice.lock_release('hist/exp', :te1) AS released;
RESET ROLE;
SELECT count(*) AS rows_of_name FROM lockservice.history WHERE name = 'hist/exp';

--
-- forced release: owner is the holder's role, actor the operator
--
SET ROLE regress_ls_hist_operator;
SELECT lockservice.force_release('hist/exp') AS ended;
RESET ROLE;
SELECT event, kind, holder, owner, actor,
       CASE token WHEN :te1 THEN 'te1' WHEN :te2 THEN 'te2' END AS token
  FROM pg_temp.hist('hist/exp');

--
-- shared locks: kind s; an expired exclusive lease taken over by a reader
--
SELECT lockservice.lock_acquire_shared('hist/s', 'reader-1') AS ts1 \gset
SET ROLE regress_ls_hist_plain;
SELECT lockservice.lock_acquire_shared('hist/s', 'reader-2') AS ts2 \gset
SELECT lockservice.lock_release('hist/s', :ts2) AS released;
RESET ROLE;
SET ROLE regress_ls_hist_operator;
SELECT lockservice.force_release('hist/s') AS ended;
RESET ROLE;
SELECT lockservice.lock_acquire('hist/s', 'writer', '100 milliseconds') AS ts3 \gset
SELECT pg_catalog.pg_sleep(0.2);
SELECT lockservice.lock_acquire_shared('hist/s', 'reader-3') AS ts4 \gset
SELECT lockservice.lock_release('hist/s', :ts4) AS released;
SELECT event, kind, holder, owner, actor,
       CASE token WHEN :ts1 THEN 'ts1' WHEN :ts2 THEN 'ts2' WHEN :ts3 THEN 'ts3'
                  WHEN :ts4 THEN 'ts4' END AS token
  FROM pg_temp.hist('hist/s');

--
-- semaphores: kind p, one row per permit
--
SELECT lockservice.sem_acquire('hist/p', 'slot-' || g, 2) IS NOT NULL AS granted
  FROM generate_series(1, 2) g;
SELECT lockservice.sem_acquire('hist/p', 'slot-3', 2) IS NULL AS full;
SELECT lockservice.lock_release('hist/p', token) AS released
  FROM lockservice.leases WHERE name = 'hist/p' AND holder = 'slot-1';
SELECT event, kind, holder, owner, actor,
       token = (SELECT l.token FROM lockservice.leases l
                 WHERE l.name = 'hist/p' AND l.holder = h.holder) AS token_ok
  FROM pg_temp.hist('hist/p') h;
SET ROLE regress_ls_hist_operator;
SELECT lockservice.force_release('hist/p') AS ended;
RESET ROLE;
SELECT event, holder FROM pg_temp.hist('hist/p') WHERE event = 'forced_release';

--
-- every token recorded is one that was issued; exclusive leases have even
-- tokens, shared leases and permits odd ones
--
SELECT kind, bool_and(token % 2 = CASE kind WHEN 'x' THEN 0 ELSE 1 END) AS parity_ok,
       bool_and(token <= lockservice.last_issued_token()) AS issued
  FROM lockservice.history GROUP BY kind ORDER BY kind;
SELECT event, count(*) FROM lockservice.history GROUP BY event ORDER BY event;

-- switched off again: nothing more is recorded
SET lockservice.history = off;
SELECT lockservice.lock_acquire('hist/x', 'worker') AS tx2 \gset
SELECT lockservice.lock_release('hist/x', :tx2) AS released;
SELECT count(*) AS rows_of_name FROM lockservice.history WHERE name = 'hist/x';

-- clean up: the history table is the superuser's to prune by hand too
DELETE FROM lockservice.history WHERE name LIKE 'hist/%';
-- with shared_preload_libraries the launcher starts the reaper again
SELECT lockservice.start_reaper() IS NULL AS restarted_by_launcher;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'hist/%';
REVOKE EXECUTE ON FUNCTION lockservice.force_release(text, bigint) FROM regress_ls_hist_operator;
DROP ROLE regress_ls_hist_plain;
DROP ROLE regress_ls_hist_operator;
