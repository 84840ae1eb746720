--
-- limits: lengths at the configured limits (in bytes), changing the limits,
-- lockservice.max_ttl, the postmaster-only and reserved settings.
--
\set VERBOSITY sqlstate

SHOW lockservice.max_name_length;
SHOW lockservice.max_holder_length;
SHOW lockservice.max_ttl;
SHOW lockservice.wait_slots;

--
-- names: 256 bytes accepted, 257 refused with 22001
--
SELECT lockservice.lock_acquire('lim/' || repeat('n', 252), 'h') AS tn \gset
SELECT octet_length(name) AS bytes, token = :tn AS token_ok
  FROM lockservice.leases WHERE name = 'lim/' || repeat('n', 252);
SELECT lockservice.lock_acquire('lim/' || repeat('n', 253), 'h');
SELECT lockservice.lock_renew('lim/' || repeat('n', 252), :tn) AS renewed,
       lockservice.lock_check('lim/' || repeat('n', 252), :tn) AS checked;
SELECT lockservice.lock_renew('lim/' || repeat('n', 253), :tn);
SELECT lockservice.lock_release('lim/' || repeat('n', 253), :tn);
SELECT lockservice.lock_check('lim/' || repeat('n', 253), :tn);
SELECT lockservice.lock_release('lim/' || repeat('n', 252), :tn) AS released;

-- the limit counts bytes, not characters: 'é' is two bytes
SELECT octet_length(repeat('é', 128)) AS bytes_128, octet_length(repeat('é', 129)) AS bytes_129;
SELECT lockservice.lock_acquire(repeat('é', 128), 'h') IS NOT NULL AS granted_256_bytes;
SELECT lockservice.lock_acquire(repeat('é', 129), 'h');
SELECT lockservice.lock_acquire('lim/holder-bytes', repeat('é', 129));

--
-- holders: 256 bytes accepted, 257 refused
--
SELECT lockservice.lock_acquire('lim/holder', repeat('h', 256)) IS NOT NULL AS granted;
SELECT octet_length(holder) AS bytes FROM lockservice.leases WHERE name = 'lim/holder';
SELECT lockservice.lock_acquire('lim/holder2', repeat('h', 257));
-- the same holder re-acquires: same lease
SELECT lockservice.lock_acquire('lim/holder', repeat('h', 256)) = token AS same_token
  FROM lockservice.leases WHERE name = 'lim/holder';

--
-- resources of fence: limited by max_name_length as well
--
SELECT lockservice.fence('lim/' || repeat('r', 252), :tn);
SELECT octet_length(resource) AS bytes FROM lockservice.fences WHERE resource LIKE 'lim/%';
SELECT lockservice.fence('lim/' || repeat('r', 253), :tn);

--
-- changing the limits (superuser)
--
SET lockservice.max_name_length = 10;
SHOW lockservice.max_name_length;
SELECT lockservice.lock_acquire('lim/567890', 'h') IS NOT NULL AS granted_10_bytes;
SELECT lockservice.lock_acquire('lim/5678901', 'h');
SELECT lockservice.fence('lim/r67890', :tn);
SELECT lockservice.fence('lim/r678901', :tn);
SELECT lockservice.lock_renew('lim/5678901', :tn);
RESET lockservice.max_name_length;
SELECT lockservice.lock_acquire('lim/5678901', 'h') IS NOT NULL AS granted_after_reset;

SET lockservice.max_holder_length = 3;
SELECT lockservice.lock_acquire('lim/h3', 'abc') IS NOT NULL AS granted_3_bytes;
SELECT lockservice.lock_acquire('lim/h4', 'abcd');
RESET lockservice.max_holder_length;
SELECT lockservice.lock_acquire('lim/h4', 'abcd') IS NOT NULL AS granted_after_reset;

-- limits can also be raised
SET lockservice.max_name_length = 1000;
SELECT lockservice.lock_acquire('lim/' || repeat('n', 996), 'h') IS NOT NULL AS granted_1000_bytes;
SELECT lockservice.lock_acquire('lim/' || repeat('n', 997), 'h');
RESET lockservice.max_name_length;

--
-- lockservice.max_ttl (integer seconds)
--
SET lockservice.max_ttl = 60;
SHOW lockservice.max_ttl;
SELECT lockservice.lock_acquire('lim/ttl', 'h', '60 seconds') AS tt \gset
SELECT lockservice.lock_acquire('lim/ttl2', 'h', '61 seconds');
SELECT lockservice.lock_acquire('lim/ttl2', 'h', '00:01:00.001');
SELECT lockservice.lock_renew('lim/ttl', :tt, '61 seconds');
SELECT lockservice.lock_renew('lim/ttl', :tt, '1 minute') AS renewed;
SET lockservice.max_ttl = '2h';
SHOW lockservice.max_ttl;
SELECT lockservice.lock_renew('lim/ttl', :tt, '90 minutes') AS renewed_90min;
SELECT lockservice.lock_renew('lim/ttl', :tt, '121 minutes');
RESET lockservice.max_ttl;
SHOW lockservice.max_ttl;
SELECT lockservice.lock_renew('lim/ttl', :tt, '1 day') AS renewed_1_day;
SELECT lockservice.lock_release('lim/ttl', :tt) AS released;

--
-- wait_slots is fixed at server start; unknown lockservice.* names are refused
--
SET lockservice.wait_slots = 10;
SHOW lockservice.wait_slots;
SET lockservice.no_such_setting = 1;
