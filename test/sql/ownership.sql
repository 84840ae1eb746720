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

--
-- the owner column's type, lockservice.lease_owner: an OID on disk, the
-- role's name in output, dumps and input (a dump restored into a cluster
-- whose role OIDs differ keeps each lease its role's: test/t/012).  "-" is
-- no owner; a name no role has, and a bare number, read as no owner.
--
CREATE ROLE regress_ls_carol;
CREATE ROLE "Regress LS Dave";
SET ROLE regress_ls_carol;
SELECT lockservice.lock_acquire('own/c', 'worker') AS tc \gset
SET ROLE "Regress LS Dave";
SELECT lockservice.lock_acquire('own/d', 'worker') AS td \gset
RESET ROLE;
SELECT name, owner, owner::text AS as_text, owner = 'regress_ls_carol'::regrole::oid AS is_carol
  FROM lockservice.leases WHERE name IN ('own/c', 'own/d') ORDER BY name;
SELECT 'regress_ls_carol'::lockservice.lease_owner::regrole AS by_name,
       '"Regress LS Dave"'::lockservice.lease_owner::regrole AS quoted,
       '-'::lockservice.lease_owner::oid AS none;
\set VERBOSITY default
SELECT 'regress_ls_nobody'::lockservice.lease_owner::oid AS missing_role;
\set VERBOSITY sqlstate
SELECT ('regress_ls_carol'::regrole::oid)::text::lockservice.lease_owner::oid AS bare_number;
SELECT 'a.b'::lockservice.lease_owner;
SELECT ''::lockservice.lease_owner;
SET ROLE regress_ls_carol;
SELECT lockservice.lock_release('own/c', :tc) AS released;
SET ROLE "Regress LS Dave";
SELECT lockservice.lock_release('own/d', :td) AS released;
RESET ROLE;
DROP ROLE regress_ls_carol;
DROP ROLE "Regress LS Dave";
