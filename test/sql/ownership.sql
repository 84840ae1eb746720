--
-- ownership: a lease belongs to the role current at the call; other roles,
-- superusers included, get false with the right token.  Ordinary roles use
-- the client functions without table privileges, but not the admin parts.
--
\set VERBOSITY sqlstate

CREATE ROLE regress_ls_alice;
CREATE ROLE regress_ls_bob;

SET ROLE regress_ls_alice;
SELECT lockservice.lock_acquire('own/a', 'worker') AS ta \gset
SELECT name, holder, owner FROM lockservice.leases_live WHERE name = 'own/a';
SELECT lockservice.lock_renew('own/a', :ta) AS renewed,
       lockservice.lock_check('own/a', :ta) AS checked;
-- re-acquire by the same role and holder: same token
SELECT lockservice.lock_acquire('own/a', 'worker') = :ta AS same_token;
SELECT lockservice.last_issued_token() >= :ta AS last_issued_readable;
SELECT lockservice.fence('own/resource', :ta);

-- no table privileges, no admin function, no superuser-only settings
SELECT count(*) FROM lockservice.leases;
SELECT count(*) FROM lockservice.fences;
SELECT lockservice.advance_token_counter(1);
SET lockservice.max_ttl = 10;
SET lockservice.max_name_length = 10;
SET lockservice.max_holder_length = 10;
SHOW lockservice.max_ttl;

-- another role with the right token: false, and the same holder string is
-- not the same holder
SET ROLE regress_ls_bob;
SELECT lockservice.lock_renew('own/a', :ta) AS renewed,
       lockservice.lock_check('own/a', :ta) AS checked,
       lockservice.lock_release('own/a', :ta) AS released;
SELECT lockservice.lock_acquire('own/a', 'worker') IS NULL AS not_granted;
SELECT lockservice.lock_acquire('own/a', 'worker', '30 seconds', '100 milliseconds') IS NULL AS not_granted_after_wait;
SELECT name, holder, owner FROM lockservice.leases_live WHERE name = 'own/a';
-- fence compares tokens only, whoever calls
SELECT lockservice.fence('own/resource', :ta);

-- a superuser is another role too
RESET ROLE;
SELECT lockservice.lock_renew('own/a', :ta) AS renewed,
       lockservice.lock_check('own/a', :ta) AS checked,
       lockservice.lock_release('own/a', :ta) AS released;
SELECT lockservice.lock_acquire('own/a', 'worker') IS NULL AS not_granted;
SELECT holder, owner::regrole AS owner, token = :ta AS token_ok, released_at IS NULL AS not_released
  FROM lockservice.leases WHERE name = 'own/a';

-- the owner still holds it and ends it
SET ROLE regress_ls_alice;
SELECT lockservice.lock_check('own/a', :ta) AS checked;
SELECT lockservice.lock_release('own/a', :ta) AS released;

-- now bob can take the name
SET ROLE regress_ls_bob;
SELECT lockservice.lock_acquire('own/a', 'worker') AS tb \gset
SELECT :tb > :ta AS newer;
SELECT name, holder, owner FROM lockservice.leases_live WHERE name = 'own/a';
-- ownership is decided at each call: after SET ROLE, alice cannot use bob's lease
SET ROLE regress_ls_alice;
SELECT lockservice.lock_release('own/a', :tb) AS released;
SET ROLE regress_ls_bob;
SELECT lockservice.lock_release('own/a', :tb) AS released;
RESET ROLE;

-- roles are not referenced by the leases: they can be dropped
DROP ROLE regress_ls_alice;
DROP ROLE regress_ls_bob;
SELECT count(*) AS live FROM lockservice.leases_live WHERE name LIKE 'own/%';
