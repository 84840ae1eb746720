--
-- monitor: lockservice.lease_classes(), what a monitoring scrape reads
-- (monitoring/queries.yaml): the leases held now per name class (the name
-- up to its first ':' or '/', "(none)" without one) and kind, the largest
-- classes one by one and the rest as "(other)", the same counts as
-- leases_live.  Waiters are counted in the isolation spec kinds_shared.
-- Runs in a transaction that first deletes every lease, so that only its
-- own leases count, and rolls back.
--
\set VERBOSITY sqlstate

BEGIN;
DELETE FROM lockservice.leases;
SELECT count(*) AS no_rows FROM lockservice.lease_classes();

SELECT count(lockservice.lock_acquire('inv:' || i, 'h', '1 hour')) AS inv
  FROM pg_catalog.generate_series(1, 5) i;
SELECT count(lockservice.lock_acquire('job/' || i, 'h', '1 hour')) AS job
  FROM pg_catalog.generate_series(1, 3) i;
SELECT count(lockservice.lock_acquire_shared('cfg:main', 'r' || i, '1 hour')) AS cfg
  FROM pg_catalog.generate_series(1, 2) i;
SELECT lockservice.sem_acquire('pool:db', 'p1', 4, '1 hour') IS NOT NULL AS pool;
SELECT count(lockservice.lock_acquire('plain' || i, 'h', '1 hour')) AS plain
  FROM pg_catalog.generate_series(1, 2) i;
SELECT lockservice.lock_acquire(':lead', 'h', '1 hour') IS NOT NULL AS empty_class,
       lockservice.lock_acquire('a:b/c', 'h', '1 hour') IS NOT NULL AS first_separator;

-- not held now: a released lease, an expired one
SELECT lockservice.lock_release('inv:gone', lockservice.lock_acquire('inv:gone', 'h', '1 hour'))
  AS released;
SELECT lockservice.lock_acquire('job/old', 'h', '1 hour') IS NOT NULL AS old;
UPDATE lockservice.leases SET expires_at = pg_catalog.now() - interval '1 second'
 WHERE name = 'job/old';

SELECT class, kind, live, waiters FROM lockservice.lease_classes()
 ORDER BY live DESC, class COLLATE "C", kind COLLATE "C";

-- the same counts as leases_live
SELECT count(*) AS differences FROM (
  (SELECT class, kind, live FROM lockservice.lease_classes()
   EXCEPT
   SELECT CASE WHEN name ~ '[:/]' THEN substring(name FROM '^[^:/]*') ELSE '(none)' END,
          kind, count(*)
     FROM lockservice.leases_live GROUP BY 1, 2)
  UNION ALL
  (SELECT CASE WHEN name ~ '[:/]' THEN substring(name FROM '^[^:/]*') ELSE '(none)' END,
          kind, count(*)
     FROM lockservice.leases_live GROUP BY 1, 2
   EXCEPT
   SELECT class, kind, live FROM lockservice.lease_classes())) d;

-- the two largest classes one by one, the rest together; none one by one
SELECT class, kind, live FROM lockservice.lease_classes(2)
 ORDER BY live DESC, class COLLATE "C", kind COLLATE "C";
SELECT class, kind, live FROM lockservice.lease_classes(0)
 ORDER BY kind COLLATE "C";
-- ties go by class
SELECT class FROM lockservice.lease_classes(4) WHERE class <> '(other)'
 ORDER BY live DESC, class COLLATE "C";

-- bad input: an error, nothing returned
SELECT * FROM lockservice.lease_classes(-1);
ROLLBACK;
SELECT * FROM lockservice.lease_classes(NULL);

-- any role may read it (leases_live shows the same to PUBLIC)
CREATE ROLE regress_ls_monitor;
SET ROLE regress_ls_monitor;
SELECT count(*) >= 0 AS readable FROM lockservice.lease_classes();
RESET ROLE;
DROP ROLE regress_ls_monitor;
