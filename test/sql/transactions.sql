--
-- transactions: acquire, renew and release take effect at commit; ROLLBACK
-- and ROLLBACK TO SAVEPOINT undo them; PREPARE TRANSACTION after a
-- lockservice call is refused (LS003).
--
\set VERBOSITY sqlstate

--
-- acquire in a rolled back transaction leaves nothing
--
BEGIN;
SELECT lockservice.lock_acquire('tx/a', 'h1') AS ta \gset
SELECT name, holder FROM lockservice.leases_live WHERE name = 'tx/a';
-- inside the transaction the name is taken
SELECT lockservice.lock_acquire('tx/a', 'h2') IS NULL AS taken_inside;
SELECT lockservice.lock_check('tx/a', :ta) AS checked_inside;
ROLLBACK;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'tx/a';
SELECT lockservice.lock_check('tx/a', :ta) AS check_after_rollback,
       lockservice.lock_renew('tx/a', :ta) AS renew_after_rollback,
       lockservice.lock_release('tx/a', :ta) AS release_after_rollback;
-- the name is free; the rolled back token is never issued again
SELECT lockservice.lock_acquire('tx/a', 'h2') AS ta2 \gset
SELECT :ta2 > :ta AS newer;
SELECT name, holder FROM lockservice.leases_live WHERE name = 'tx/a';

-- an error after the acquire aborts it as well
BEGIN;
SELECT lockservice.lock_acquire('tx/err', 'h1') IS NOT NULL AS granted;
SELECT 1 / 0;
ROLLBACK;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'tx/err';

-- committed acquire is there after commit
BEGIN;
SELECT lockservice.lock_acquire('tx/c', 'h1') AS tc \gset
COMMIT;
SELECT name, holder, token = :tc AS token_ok FROM lockservice.leases_live WHERE name = 'tx/c';

--
-- release then rollback keeps the lease
--
BEGIN;
SELECT lockservice.lock_release('tx/c', :tc) AS released;
SELECT lockservice.lock_check('tx/c', :tc) AS checked_inside;
ROLLBACK;
SELECT lockservice.lock_check('tx/c', :tc) AS still_held;
SELECT lockservice.lock_renew('tx/c', :tc) AS renewed;
SELECT name, holder, token = :tc AS token_ok FROM lockservice.leases_live WHERE name = 'tx/c';

-- renew then rollback: the old expiry stays
SELECT lockservice.lock_acquire('tx/r', 'h1', '10 minutes') AS tr \gset
BEGIN;
SELECT lockservice.lock_renew('tx/r', :tr, '2 hours') AS renewed;
ROLLBACK;
SELECT expires_at <= pg_catalog.clock_timestamp() + interval '10 minutes' AS old_expiry
  FROM lockservice.leases WHERE name = 'tx/r';

-- release and re-acquire by another holder in one transaction
BEGIN;
SELECT lockservice.lock_release('tx/r', :tr) AS released;
SELECT lockservice.lock_acquire('tx/r', 'h2') AS tr2 \gset
COMMIT;
SELECT :tr2 > :tr AS newer;
SELECT name, holder FROM lockservice.leases_live WHERE name = 'tx/r';

--
-- ROLLBACK TO SAVEPOINT undoes an acquire ...
--
BEGIN;
SAVEPOINT s1;
SELECT lockservice.lock_acquire('tx/sp', 'h1') AS tsp \gset
ROLLBACK TO SAVEPOINT s1;
SELECT lockservice.lock_check('tx/sp', :tsp) AS check_after_rollback_to;
-- the name is free again, within the same transaction
SELECT lockservice.lock_acquire('tx/sp', 'h2') AS tsp2 \gset
COMMIT;
SELECT :tsp2 > :tsp AS newer;
SELECT name, holder FROM lockservice.leases_live WHERE name = 'tx/sp';

-- ... and a release
BEGIN;
SAVEPOINT s1;
SELECT lockservice.lock_release('tx/sp', :tsp2) AS released;
ROLLBACK TO SAVEPOINT s1;
SELECT lockservice.lock_check('tx/sp', :tsp2) AS still_held;
COMMIT;
SELECT name, holder FROM lockservice.leases_live WHERE name = 'tx/sp';

-- a released savepoint keeps its effects
BEGIN;
SAVEPOINT s1;
SELECT lockservice.lock_release('tx/sp', :tsp2) AS released;
RELEASE SAVEPOINT s1;
COMMIT;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'tx/sp';

-- an acquire in a subtransaction that commits, then the outer transaction aborts
BEGIN;
SAVEPOINT s1;
SELECT lockservice.lock_acquire('tx/sub', 'h1') IS NOT NULL AS granted;
RELEASE SAVEPOINT s1;
ROLLBACK;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'tx/sub';

-- a failed statement in a savepoint does not undo an earlier acquire
BEGIN;
SELECT lockservice.lock_acquire('tx/keep', 'h1') AS tk \gset
SAVEPOINT s1;
SELECT lockservice.lock_acquire(NULL, 'h1');
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT lockservice.lock_check('tx/keep', :tk) AS held;

--
-- PREPARE TRANSACTION after a lockservice call: LS003, and the transaction
-- is rolled back
--
BEGIN;
SELECT lockservice.lock_acquire('tx/p', 'h1') IS NOT NULL AS granted;
PREPARE TRANSACTION 'ls_acquire';
SELECT count(*) AS prepared FROM pg_catalog.pg_prepared_xacts WHERE gid LIKE 'ls_%';
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'tx/p';
SELECT lockservice.lock_acquire('tx/p', 'h2') AS tp \gset

BEGIN;
SELECT lockservice.lock_renew('tx/p', :tp) AS renewed;
PREPARE TRANSACTION 'ls_renew';
BEGIN;
SELECT lockservice.lock_check('tx/p', :tp) AS checked;
PREPARE TRANSACTION 'ls_check';
BEGIN;
SELECT lockservice.lock_release('tx/p', :tp) AS released;
PREPARE TRANSACTION 'ls_release';
BEGIN;
SELECT lockservice.fence('tx/resource', :tp);
PREPARE TRANSACTION 'ls_fence';
-- also a call that changed nothing
BEGIN;
SELECT lockservice.lock_acquire('tx/p', 'h3') IS NULL AS not_granted;
PREPARE TRANSACTION 'ls_not_granted';
BEGIN;
SELECT lockservice.lock_renew('tx/p', :tp + 1000) AS renewed;
PREPARE TRANSACTION 'ls_renew_false';
SELECT count(*) AS prepared FROM pg_catalog.pg_prepared_xacts WHERE gid LIKE 'ls_%';
-- none of them took effect
SELECT lockservice.lock_check('tx/p', :tp) AS still_held;
SELECT count(*) AS fences FROM lockservice.fences WHERE resource = 'tx/resource';

-- a transaction without lockservice calls can be prepared and committed,
-- also after earlier transactions of the session called lockservice
CREATE TABLE tx_prepared (v int);
BEGIN;
INSERT INTO tx_prepared VALUES (1);
SELECT count(*) AS live FROM lockservice.leases_live WHERE name = 'tx/p';
PREPARE TRANSACTION 'ls_plain';
SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE gid LIKE 'ls_%';
COMMIT PREPARED 'ls_plain';
SELECT * FROM tx_prepared;
DROP TABLE tx_prepared;

SELECT lockservice.lock_release('tx/p', :tp) AS released;
SELECT lockservice.lock_release('tx/c', :tc) AS released;
SELECT lockservice.lock_release('tx/r', :tr2) AS released;
SELECT lockservice.lock_release('tx/a', :ta2) AS released;
SELECT lockservice.lock_release('tx/keep', :tk) AS released;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'tx/%';

-- what a grant writes: a name never used is one insert of its head row (the
-- lease in it), a name used before one update of that row, a release one
-- update (this backend's counters not yet reported, taken as differences)
BEGIN;
SELECT pg_catalog.pg_stat_get_xact_tuples_inserted('lockservice.leases'::regclass) AS ins0,
       pg_catalog.pg_stat_get_xact_tuples_updated('lockservice.leases'::regclass) AS upd0 \gset
SELECT lockservice.lock_acquire('tx/fresh', 'F', '1 min') IS NOT NULL AS granted;
SELECT pg_catalog.pg_stat_get_xact_tuples_inserted('lockservice.leases'::regclass) - :ins0 AS inserted,
       pg_catalog.pg_stat_get_xact_tuples_updated('lockservice.leases'::regclass) - :upd0 AS updated;
SELECT lockservice.lock_release('tx/fresh', token) AS released
  FROM lockservice.leases WHERE name = 'tx/fresh';
SELECT lockservice.lock_acquire('tx/fresh', 'F', '1 min') IS NOT NULL AS granted_again;
SELECT pg_catalog.pg_stat_get_xact_tuples_inserted('lockservice.leases'::regclass) - :ins0 AS inserted,
       pg_catalog.pg_stat_get_xact_tuples_updated('lockservice.leases'::regclass) - :upd0 AS updated;
ROLLBACK;
SELECT count(*) AS rows_left FROM lockservice.leases WHERE name = 'tx/fresh';
