--
-- fencing: fence() accepts the first token and equal tokens, refuses lower
-- ones (LS001) and never-issued ones (LS002); last_issued_token() only grows.
--
\set VERBOSITY sqlstate

-- run fence and return the SQLSTATE, message and detail of its error, if any
CREATE FUNCTION pg_temp.fence_error(p_resource text, p_token bigint,
                                    OUT state text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lockservice.fence(p_resource, p_token);
    state := 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
END $$;

SELECT lockservice.lock_acquire('fen/lock', 'w1', '1 minute') AS t1 \gset
-- first token for a resource: accepted and recorded
SELECT lockservice.fence('fen/res', :t1);
SELECT resource, token = :t1 AS recorded FROM lockservice.fences WHERE resource = 'fen/res';
-- an equal token is accepted
SELECT lockservice.fence('fen/res', :t1);
SELECT lockservice.lock_release('fen/lock', :t1) AS released;

-- the next holder has a higher token, accepted
SELECT lockservice.lock_acquire('fen/lock', 'w2', '1 minute') AS t2 \gset
SELECT :t2 > :t1 AS newer;
SELECT lockservice.fence('fen/res', :t2);
SELECT token = :t2 AS recorded FROM lockservice.fences WHERE resource = 'fen/res';

-- the old token is now refused: LS001
SELECT lockservice.fence('fen/res', :t1);
-- its message names the resource and the refused token, the message or its
-- detail the highest one
SELECT state,
       strpos(message, 'fen/res') > 0 AS names_resource,
       message ~ ('\m' || :'t1' || '\M') AS names_token,
       (message || ' ' || coalesce(detail, '')) ~ ('\m' || :'t2' || '\M') AS names_highest
  FROM pg_temp.fence_error('fen/res', :t1);
-- and nothing changed
SELECT token = :t2 AS still_t2 FROM lockservice.fences WHERE resource = 'fen/res';

-- a token never issued: LS002 (a bogus value cannot wedge a resource)
SELECT lockservice.fence('fen/res', lockservice.last_issued_token() + 1);
SELECT lockservice.fence('fen/fresh', lockservice.last_issued_token() + 1);
SELECT lockservice.fence('fen/fresh', 9223372036854775807);
SELECT state FROM pg_temp.fence_error('fen/fresh', lockservice.last_issued_token() + 1);
SELECT count(*) AS recorded FROM lockservice.fences WHERE resource = 'fen/fresh';
SELECT token = :t2 AS still_t2 FROM lockservice.fences WHERE resource = 'fen/res';
-- the highest issued token itself is accepted
-- the highest exclusive token that can have been issued (exclusive tokens are even)
SELECT lockservice.fence('fen/last', lockservice.last_issued_token() - 1);

-- resources are independent; fence does not look at leases (t1 is released)
SELECT lockservice.fence('fen/other', :t1);
SELECT token = :t1 AS recorded FROM lockservice.fences WHERE resource = 'fen/other';

-- fence is transactional: a rolled back fence leaves no trace
BEGIN;
SELECT lockservice.fence('fen/tx', :t2);
ROLLBACK;
SELECT count(*) AS recorded FROM lockservice.fences WHERE resource = 'fen/tx';
SELECT lockservice.fence('fen/tx', :t1);
-- and a savepoint rolled back too
BEGIN;
SAVEPOINT s;
SELECT lockservice.fence('fen/tx', :t2);
ROLLBACK TO SAVEPOINT s;
SELECT lockservice.fence('fen/tx', :t1);
COMMIT;
SELECT token = :t1 AS still_t1 FROM lockservice.fences WHERE resource = 'fen/tx';

-- the intended use: lock_check and fence in the transaction that writes
CREATE TABLE fen_data (k text PRIMARY KEY, v text);
BEGIN;
SELECT lockservice.lock_check('fen/lock', :t2) AS checked;
SELECT lockservice.fence('fen/data', :t2);
INSERT INTO fen_data VALUES ('x', 'written with t2');
COMMIT;
-- a late writer with the older token is stopped, its write never happens
BEGIN;
SELECT lockservice.lock_check('fen/lock', :t1) AS checked;
SELECT lockservice.fence('fen/data', :t1);
UPDATE fen_data SET v = 'written with t1' WHERE k = 'x';
ROLLBACK;
SELECT * FROM fen_data;
DROP TABLE fen_data;

--
-- last_issued_token() is monotonic
--
SELECT lockservice.last_issued_token() AS l1 \gset
SELECT lockservice.lock_acquire('fen/m1', 'w') AS m1 \gset
SELECT lockservice.last_issued_token() AS l2 \gset
SELECT lockservice.lock_acquire('fen/m2', 'w') AS m2 \gset
SELECT lockservice.last_issued_token() AS l3 \gset
SELECT :l2 > :l1 AS grew, :l3 > :l2 AS grew_again, :l2 = :m1 + 1 AS is_m1, :l3 = :m2 + 1 AS is_m2;
-- re-acquire, renew, release, check and fence issue no token
SELECT lockservice.lock_acquire('fen/m2', 'w') = :m2 AS same_token,
       lockservice.lock_renew('fen/m2', :m2) AS renewed,
       lockservice.lock_check('fen/m2', :m2) AS checked;
SELECT lockservice.fence('fen/m', :m2);
SELECT lockservice.lock_release('fen/m2', :m2) AS released,
       lockservice.lock_release('fen/m1', :m1) AS released;
SELECT lockservice.last_issued_token() = :l3 AS unchanged;
SELECT lockservice.lock_acquire('fen/lock', 'somebody else') IS NULL AS refused;
SELECT lockservice.lock_release('fen/lock', :t2) AS released;
