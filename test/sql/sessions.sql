--
-- sessions: one session keeps many locks; renewing it renews them all,
-- closing or expiring it ends them all; each lock keeps its own token,
-- release, check and fence.  Errors: bad ids, another role's session,
-- closed and expired sessions, mixing a session with a lease's own ttl.
--
\set VERBOSITY sqlstate

CREATE ROLE regress_ls_sess_a;
CREATE ROLE regress_ls_sess_b;
SET ROLE regress_ls_sess_a;

-- ---- open, attach, renew ---------------------------------------------------
SELECT lockservice.session_open('worker-7', '1 hour') AS s \gset
SELECT :s > 0 AS id_positive;
SELECT id = :s AS listed, holder, owner, ttl, leases FROM lockservice.sessions_live;
SELECT lockservice.lock_acquire('sess/x1', :s) AS x1 \gset
SELECT lockservice.lock_acquire('sess/x2', :s) AS x2 \gset
SELECT lockservice.lock_acquire_shared('sess/sh', :s) AS sh \gset
SELECT lockservice.sem_acquire('sess/sem', :s, 2) AS sem \gset
-- each grant has its own token, in order
SELECT :x1 < :x2 AND :x2 < :sh AND :sh < :sem AS tokens_increase;
-- the session's holder is every lock's holder; lock_holder shows the session
SELECT h.holder, h.kind, h.session = :s AS in_session,
       h.expires_at = (SELECT expires_at FROM lockservice.sessions_live) AS session_expiry
  FROM lockservice.lock_holder('sess/x1') h;
SELECT name, holder, kind, session = :s AS in_session FROM lockservice.leases_live
 WHERE name LIKE 'sess/%' ORDER BY name;
SELECT leases FROM lockservice.sessions_live WHERE id = :s;
SELECT live_sessions >= 1 AS counted FROM lockservice.stats;
-- an idempotent retry in the same session: the same token, nothing new
SELECT lockservice.lock_acquire('sess/x1', :s) = :x1 AS same_token,
       lockservice.lock_acquire_shared('sess/sh', :s) = :sh AS same_shared,
       lockservice.sem_acquire('sess/sem', :s, 2) = :sem AS same_permit;
-- a kind it does not hold it as: LS004, as without sessions
SELECT lockservice.lock_acquire_shared('sess/x1', :s);
-- renewing the session moves every lock's expiry, writing no lock row
RESET ROLE;
SELECT (SELECT pg_catalog.max(xmin::text) FROM lockservice.leases WHERE session = :s) AS x_before2 \gset
SET ROLE regress_ls_sess_a;
SELECT lockservice.session_renew(:s, '2 hours') AS renewed;
RESET ROLE;
SELECT pg_catalog.max(xmin::text) = :'x_before2' AS no_lock_row_written,
       pg_catalog.count(*) AS locks
  FROM lockservice.leases WHERE session = :s AND released_at IS NULL;
SELECT ttl FROM lockservice.sessions WHERE id = :s;
SET ROLE regress_ls_sess_a;
SELECT pg_catalog.bool_and(expires_at > pg_catalog.clock_timestamp() + '1 hour 59 minutes')
       AS all_extended
  FROM lockservice.leases_live WHERE session = :s;
SELECT lockservice.session_renew(:s) AS renewed_own_ttl;
-- check and fence work on a lock of a session as on any lease
BEGIN;
SELECT lockservice.lock_check('sess/x2', :x2) AS checked;
SELECT lockservice.fence('sess/resource', :x2);
COMMIT;
SELECT lockservice.fence('sess/resource', :x1);
-- releasing one lock leaves the others
SELECT lockservice.lock_release('sess/x2', :x2) AS released;
SELECT name FROM lockservice.leases_live WHERE session = :s ORDER BY name;
SELECT lockservice.lock_release('sess/x2', :x2) AS released_twice;

-- ---- mixing a session with a ttl of one's own ---------------------------------
-- a lock in a session has no ttl to renew: LS007
SELECT lockservice.lock_renew('sess/x1', :x1);
SELECT lockservice.lock_renew('sess/x1', :x1, '1 minute');
-- the same holder name outside the session is another holder
SELECT lockservice.lock_acquire('sess/x1', 'worker-7') IS NULL AS ttl_lease_not_granted;
SELECT lockservice.lock_acquire('sess/own', 'worker-7', '1 hour') AS own \gset
SELECT lockservice.lock_acquire('sess/own', :s) IS NULL AS session_lock_not_granted;
SELECT lockservice.lock_release('sess/own', :own) AS released_own;

-- ---- bad input: clear errors, nothing changed ---------------------------------
SELECT lockservice.session_open(NULL);
SELECT lockservice.session_open('');
SELECT lockservice.session_open('w', NULL);
SELECT lockservice.session_open('w', '0');
SELECT lockservice.session_open('w', '-1 s');
SELECT lockservice.session_open('w', '2 days');
SELECT lockservice.session_renew(NULL);
SELECT lockservice.session_renew(0);
SELECT lockservice.session_renew(-5);
SELECT lockservice.session_renew(:s, '0');
SELECT lockservice.session_close(NULL);
SELECT lockservice.session_close(0);
SELECT lockservice.lock_acquire('sess/bad', NULL::bigint);
SELECT lockservice.lock_acquire('sess/bad', 0::bigint);
SELECT lockservice.lock_acquire(NULL, :s);
SELECT lockservice.lock_acquire('', :s);
SELECT lockservice.lock_acquire('sess/bad', :s, '-1 s');
SELECT lockservice.sem_acquire('sess/bad', :s, 0);
SELECT lockservice.sem_acquire('sess/bad', :s, NULL);
SELECT lockservice.sem_acquire('sess/sem', :s, 3);
-- a session that never was: acquire raises LS006, renew and close are false
SELECT lockservice.lock_acquire('sess/bad', 999999999);
SELECT lockservice.session_renew(999999999) AS renewed,
       lockservice.session_close(999999999) AS closed;
SELECT pg_catalog.count(*) AS nothing_left FROM lockservice.leases_live WHERE name = 'sess/bad';

-- ---- another role --------------------------------------------------------------
SET ROLE regress_ls_sess_b;
SELECT lockservice.session_renew(:s) AS renewed,
       lockservice.session_close(:s) AS closed;
SELECT lockservice.lock_acquire('sess/b1', :s);
SELECT lockservice.lock_acquire_all(ARRAY['sess/b2', 'sess/b3'], :s);
SELECT lockservice.lock_release('sess/x1', :x1) AS released,
       lockservice.lock_check('sess/x1', :x1) AS checked;
SELECT lockservice.lock_acquire('sess/x1', 'intruder') IS NULL AS not_granted;
SET ROLE regress_ls_sess_a;
SELECT name FROM lockservice.leases_live WHERE session = :s ORDER BY name;

-- ---- close: every lock ends at once, released --------------------------------
SELECT lockservice.session_close(:s) AS closed;
SELECT pg_catalog.count(*) AS live_locks FROM lockservice.leases_live WHERE session = :s;
SELECT pg_catalog.count(*) AS live_session FROM lockservice.sessions_live WHERE id = :s;
SELECT lockservice.session_close(:s) AS closed_again,
       lockservice.session_renew(:s) AS renewed_after_close;
SELECT lockservice.lock_acquire('sess/x9', :s);
-- the names are free at once (released, not expired: no lock-delay)
SELECT lockservice.lock_acquire('sess/x1', 'next') > :x1 AS next_token_higher;
SET ROLE regress_ls_sess_b;
SELECT lockservice.sem_acquire('sess/sem', 'b', 2) > :sem AS permit_free;

-- ---- expiry: a session that is not renewed ends with every lock in it ---------
SET ROLE regress_ls_sess_a;
SELECT lockservice.session_open('sleeper', '300 milliseconds') AS e \gset
SELECT lockservice.lock_acquire('sess/e1', :e) AS e1 \gset
SELECT lockservice.lock_acquire('sess/e2', :e) IS NOT NULL AS e2;
SELECT pg_catalog.pg_sleep(0.5);
SELECT pg_catalog.count(*) AS live_locks FROM lockservice.leases_live WHERE session = :e;
SELECT pg_catalog.count(*) AS holders FROM lockservice.lock_holder('sess/e1');
-- an ended session stays ended: no renewal, no new lock, no check
SELECT lockservice.session_renew(:e) AS renewed,
       lockservice.lock_check('sess/e1', :e1) AS checked,
       lockservice.lock_release('sess/e1', :e1) AS released;
SELECT lockservice.lock_acquire('sess/e3', :e);
SET ROLE regress_ls_sess_b;
SELECT lockservice.lock_acquire('sess/e1', 'b') > :e1 AS taken_over_higher;
SELECT lockservice.fence('sess/e-resource', (SELECT token FROM lockservice.lock_holder('sess/e1')));
SELECT lockservice.fence('sess/e-resource', :e1);

-- ---- a session in a transaction that rolls back leaves nothing ------------------
SET ROLE regress_ls_sess_a;
BEGIN;
SELECT lockservice.session_open('gone') AS g \gset
SELECT lockservice.lock_acquire('sess/g', :g) IS NOT NULL AS granted;
ROLLBACK;
SELECT lockservice.lock_acquire('sess/g', :g);
SELECT pg_catalog.count(*) AS nothing FROM lockservice.leases_live WHERE name = 'sess/g';

RESET ROLE;
SELECT lockservice.force_release(name) FROM lockservice.leases_live
 WHERE name LIKE 'sess/%' ORDER BY name;
DROP ROLE regress_ls_sess_a;
DROP ROLE regress_ls_sess_b;
