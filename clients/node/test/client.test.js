'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const pg = require('pg');
const { Client, LeaseLostError, OutcomeUnknownError, CommitUnconfirmedError, LockServiceError } = require('..');
const { parseConninfo } = require('../conninfo');
const net = require('node:net');

// the harness gives libpq keyword strings; node-postgres takes URLs
function toUrl(dsn) {
  if (!dsn) throw new Error('LS_DSN, LS_ADMIN_DSN, LS_BOUNCER_DSN: run through run-tests.sh');
  const kv = Object.fromEntries(dsn.trim().split(/\s+/).map((p) => p.split('=')));
  return `postgresql://${encodeURIComponent(kv.user)}@${kv.host}:${kv.port}/${encodeURIComponent(kv.dbname)}`;
}
const DSN = toUrl(process.env.LS_DSN);
const ADMIN = toUrl(process.env.LS_ADMIN_DSN);
const BOUNCER = toUrl(process.env.LS_BOUNCER_DSN);

const pools = [];
function makeClient(dsn = DSN) {
  const pool = new pg.Pool({ connectionString: dsn, max: 10 });
  pool.on('error', () => {}); // terminated idle connections in the tests
  pools.push(pool);
  return new Client(pool);
}
let n = 0;
const uniq = () => `node-${process.pid}-${++n}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function admin(sql, args = []) {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try { return (await c.query(sql, args)).rows; } finally { await c.end(); }
}
test.after(async () => { for (const p of pools) await p.end().catch(() => {}); });

test('acquire, release, holders, same holder same token', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 10 });
  assert.equal(typeof lease.token, 'bigint');
  assert.equal(await c.acquire(name, { ttl: 10 }), null);
  assert.equal(await c.leader(name), lease.holder);
  const again = await c.acquire(name, { ttl: 10, holder: lease.holder, keepalive: false });
  assert.equal(again.token, lease.token);
  assert.equal(await lease.release(), true);
  assert.equal(await lease.release(), false);
  const next = await c.acquire(name, { ttl: 10 });
  assert.ok(next.token > lease.token);
  await next.release();
});

test('argument rules at the server: over-long names (22001), fractions of a second', async () => {
  const c = makeClient(); const name = uniq();
  await assert.rejects(c.acquire('n'.repeat(257), { ttl: 10 }), (e) => e instanceof LockServiceError && e.code === '22001');
  await assert.rejects(c.acquire(name, { ttl: 10, holder: 'h'.repeat(257) }), (e) => e instanceof LockServiceError && e.code === '22001');
  const lease = await c.acquire(name, { ttl: 0.25, keepalive: false });
  const [h] = await c.holders(name);
  assert.equal(h.expires_at - h.granted_at, 250);
  await lease.release();
});

test('conninfo: keywords and URLs with host lists, as libpq reads them', () => {
  const k = parseConninfo(String.raw`host=n1,n2 port=5432,5433 dbname='my db' user=app password='p\'q' connect_timeout=2 target_session_attrs=read-write keepalives_idle=5`);
  assert.deepEqual(k.hosts, [{ host: 'n1', port: 5432 }, { host: 'n2', port: 5433 }]);
  assert.deepEqual(k.config, { database: 'my db', user: 'app', password: "p'q", keepAlive: true, keepAliveInitialDelayMillis: 5000 });
  assert.equal(k.hostTimeoutMs, 2000);
  assert.equal(k.readWrite, true);
  const u = parseConninfo('postgresql://app:s%40cret@n1:5433,n2/db?target_session_attrs=read-write&connect_timeout=3');
  assert.deepEqual(u.hosts, [{ host: 'n1', port: 5433 }, { host: 'n2', port: 5432 }]);
  assert.equal(u.config.password, 's@cret');
  assert.equal(u.hostTimeoutMs, 3000);
  assert.throws(() => parseConninfo('host=a =b'), TypeError);
});

test('a multi-host conninfo whose first host never answers: each host gets connect_timeout of its own', async () => {
  const silent = net.createServer(() => {}); // handshakes complete, nothing answers
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const kv = Object.fromEntries(process.env.LS_DSN.trim().split(/\s+/).map((p) => p.split('=')));
  const conninfo = `host=127.0.0.1,${kv.host} port=${silent.address().port},${kv.port} dbname=${kv.dbname} user=${kv.user} `
    + 'connect_timeout=2 target_session_attrs=read-write keepalives_idle=5';
  const c = new Client(conninfo);
  try {
    const t0 = Date.now();
    const lease = await c.acquire(uniq(), { ttl: 30, keepalive: false });
    const took = Date.now() - t0;
    assert.ok(lease, 'granted on the second host');
    assert.ok(took >= 1500 && took < 10000, `the first host's 2 s, then the second (${took} ms)`);
    assert.equal(await lease.release(), true);
  } finally {
    await c.end();
    silent.close();
  }
});

test('a pooled connection whose server went silent is pinged and replaced, not used until the deadline', async () => {
  // a proxy whose existing connections can be frozen (data dropped both
  // ways, as a partition does) while new ones still get through
  const kv = Object.fromEntries(process.env.LS_DSN.trim().split(/\s+/).map((p) => p.split('=')));
  const pairs = [];
  const proxy = net.createServer((c) => {
    const s = net.connect(Number(kv.port), kv.host);
    const pair = { c, s, frozen: false };
    pairs.push(pair);
    c.on('data', (d) => { if (!pair.frozen) s.write(d); });
    s.on('data', (d) => { if (!pair.frozen) c.write(d); });
    for (const x of [c, s]) x.on('error', () => {});
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const c = new Client(`host=127.0.0.1 port=${proxy.address().port} dbname=${kv.dbname} user=${kv.user} connect_timeout=2`);
  try {
    const first = await c.acquire(uniq(), { ttl: 30, keepalive: false });
    assert.equal(await first.release(), true); // its connection waits in the pool
    await sleep(1200);
    for (const p of pairs) p.frozen = true;
    const t0 = Date.now();
    const lease = await c.acquire(uniq(), { ttl: 30, keepalive: false, timeout: 15 });
    const took = Date.now() - t0;
    assert.ok(lease, 'granted on a new connection');
    assert.ok(took >= 1500 && took < 6000, `the ping's 2 s, then a new connection (${took} ms), not the 15 s deadline`);
    assert.equal(await lease.release(), true);
  } finally {
    await c.end();
    for (const p of pairs) { p.c.destroy(); p.s.destroy(); }
    proxy.close();
  }
});

test('wait: timeout, then granted on release; await using', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 10 });
  const t0 = Date.now();
  assert.equal(await c.acquire(name, { ttl: 10, wait: 0.5 }), null);
  assert.ok(Date.now() - t0 >= 400);
  setTimeout(() => lease.release(), 500);
  const second = await c.acquire(name, { ttl: 10, wait: 20 });
  assert.ok(second.token > lease.token);
  await second[Symbol.asyncDispose]();
  assert.equal(await c.leader(name), null);
});

test('an aborted wait ends at once and grants nothing', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 30 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 500);
  const t0 = Date.now();
  await assert.rejects(c.acquire(name, { ttl: 10, wait: null, signal: ac.signal }),
    (e) => (e instanceof LockServiceError && e.code === '57014') || e instanceof OutcomeUnknownError);
  assert.ok(Date.now() - t0 < 10000);
  const hs = await c.holders(name);
  assert.deepEqual(hs.map((h) => h.token), [lease.token]);
  await lease.release();
});

test('keepalive keeps a short lease', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 1.5 });
  await sleep(4000);
  assert.equal(lease.isLost, false);
  const rows = await admin('SELECT count(*)::int AS n FROM lockservice.leases_live WHERE name = $1 AND expires_at > clock_timestamp()', [name]);
  assert.equal(rows[0].n, 1);
  assert.equal(await lease.release(), true);
});

test('bad input is refused before anything is sent', async () => {
  const before = (await admin('SELECT (acquires + acquire_timeouts)::int AS n FROM lockservice.stats_counters()'))[0].n;
  const c = makeClient();
  await assert.rejects(c.acquire(''), RangeError);
  await assert.rejects(c.acquire(null), TypeError);
  await assert.rejects(c.acquire('n', { ttl: -1 }), RangeError);
  await assert.rejects(c.acquire('n', { ttl: 0 }), RangeError);
  await assert.rejects(c.acquire('n', { ttl: '10' }), TypeError);
  await assert.rejects(c.acquire('n', { wait: -1 }), RangeError);
  await assert.rejects(c.acquire('n', { holder: '' }), RangeError);
  await assert.rejects(c.acquirePermit('n', 0), RangeError);
  await assert.rejects(c.holders(''), RangeError);
  assert.throws(() => new Client(null), TypeError);
  const after = (await admin('SELECT (acquires + acquire_timeouts)::int AS n FROM lockservice.stats_counters()'))[0].n;
  assert.equal(after, before);
});

test('fenced write: the stale holder is refused (LS001)', async () => {
  const c = makeClient(); const name = uniq();
  await admin('CREATE TABLE IF NOT EXISTS node_register (name text PRIMARY KEY, v bigint)');
  await admin('GRANT SELECT, INSERT, UPDATE ON node_register TO PUBLIC');
  const first = await c.acquire(name, { ttl: 10 });
  await first.release();
  const second = await c.acquire(name, { ttl: 10 });
  const db = new pg.Client({ connectionString: DSN });
  await db.connect();
  const write = (l) => l.fenced(db, (tx) => tx.query(
    'INSERT INTO node_register VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET v = excluded.v', [name, l.token.toString()]));
  await write(second);
  await assert.rejects(write(first), (e) => e.code === 'LS001');
  const v = (await admin('SELECT v FROM node_register WHERE name = $1', [name]))[0].v;
  assert.equal(BigInt(v), second.token);
  await db.end();
  await second.release();
});

test('shared leases and semaphores', async () => {
  const c = makeClient(); const name = uniq();
  const a = await c.acquireShared(name, { ttl: 10 });
  const b = await c.acquireShared(name, { ttl: 10 });
  assert.ok(a && b && a.token !== b.token);
  assert.equal(await c.acquire(name, { ttl: 10 }), null);
  await a.release(); await b.release();
  const sem = `${name}-sem`;
  const p1 = await c.acquirePermit(sem, 2, { ttl: 10 });
  const p2 = await c.acquirePermit(sem, 2, { ttl: 10 });
  assert.ok(p1 && p2);
  assert.equal(await c.acquirePermit(sem, 2, { ttl: 10 }), null);
  await assert.rejects(c.acquire(sem, { ttl: 10 }), (e) => e.code === 'LS004');
  await p1.release(); await p2.release();
});

test('force_release: the lease reports lost and run aborts the work', async () => {
  const c = makeClient(); const name = uniq();
  const t0 = Date.now();
  await assert.rejects(c.run(name, { ttl: 1.5, wait: 5 }, async (lease, signal) => {
    await admin('SELECT lockservice.force_release($1)', [name]);
    await new Promise((resolve) => signal.addEventListener('abort', resolve)); // would run forever
    assert.ok(signal.reason instanceof LeaseLostError);
    throw signal.reason;
  }), (e) => e instanceof LeaseLostError && /refused/.test(e.message));
  assert.ok(Date.now() - t0 < 5000);
});

function pgCtl(...args) {
  execFileSync('pg_ctl', ['-D', process.env.LS_PGDATA, '-l', process.env.LS_PGLOG, '-w', ...args], { stdio: 'ignore' });
}

test('a server stop: lost by the local deadline, granted elsewhere only after', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 3 });
  const manual = await c.acquire(`${name}-m`, { ttl: 30, keepalive: false });
  pgCtl('stop', '-m', 'fast');
  let lostAt;
  try {
    await Promise.race([lease.lost, sleep(10000).then(() => { throw new Error('not lost'); })]);
    lostAt = Date.now();
    await assert.rejects(manual.renew(), (e) => !(e instanceof LockServiceError) || e instanceof OutcomeUnknownError);
  } finally {
    pgCtl('start');
  }
  const other = makeClient();
  const got = await other.acquire(name, { ttl: 5, wait: 15 });
  assert.ok(got);
  assert.ok(lostAt < Date.now());
  await got.release();
});

test('a paused holder: its deadline passed before the other grant; its late write is refused', async () => {
  const c = makeClient(); const name = uniq();
  const child = spawn(process.execPath, [path.join(__dirname, 'child_holder.js'), DSN, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const events = [];
  const it = lines[Symbol.asyncIterator]();
  const first = JSON.parse((await it.next()).value);
  const firstDeadline = JSON.parse((await it.next()).value);
  events.push(firstDeadline);
  process.kill(child.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  try {
    const lease = await c.acquire(name, { ttl: 10, wait: 20 });
    const grantedAt = Date.now();
    assert.ok(lease.token > BigInt(first.token));
    const db = new pg.Client({ connectionString: DSN });
    await db.connect();
    await lease.fenced(db, async () => {}, 'register');
    await db.end();
    process.kill(child.pid, 'SIGCONT');
    for await (const l of it) events.push(JSON.parse(l));
    const deadlines = events.filter((e) => e.deadline && e.now < stoppedAt).map((e) => e.deadline);
    assert.ok(Math.max(...deadlines) < grantedAt, 'the paused lease ran out before the other grant');
    assert.ok(events.some((e) => e.write === 'refused' && e.code === 'LS001'), 'the late write was refused');
    await lease.release();
  } finally {
    try { process.kill(child.pid, 'SIGCONT'); child.kill(); } catch { /* gone */ }
  }
});

test('every backend of a holder terminated: the process lives and the lease is renewed on new connections', async () => {
  const c = makeClient(); const name = uniq();
  const app = `lsnode_terminated_${process.pid}`;
  const child = spawn(process.execPath, [path.join(__dirname, 'child_terminated.js'), `${DSN}?application_name=${app}`, name],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  const it = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  try {
    const { token } = JSON.parse((await it.next()).value);
    let terminated = 0;
    let lastTermination = 0;
    for (let round = 0; round < 4; round++) {
      // each round waits for the pool's next connection (the keepalive opens
      // one for its next renewal and keeps it idle in between), then ends it
      const until = Date.now() + 10000;
      let n = 0;
      while (n === 0 && Date.now() < until) {
        await sleep(100);
        const rows = await admin('SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1', [app]);
        n = Number(rows[0].n);
      }
      assert.ok(n > 0, `round ${round}: the holder had a backend to terminate (its exit code: ${child.exitCode}, stderr: ${stderr})`);
      terminated += n;
      lastTermination = Date.now();
    }
    assert.ok(terminated >= 4, `backends terminated: ${terminated}`);
    // a renewal confirmed after the last termination moves the deadline past it + ttl - margin
    const want = lastTermination + (3 - 3 / 5) * 1000;
    let last = null;
    const until = Date.now() + 15000;
    while (Date.now() < until) {
      const line = await Promise.race([it.next(), exited.then(() => ({ done: true }))]);
      if (line.done) break;
      last = JSON.parse(line.value);
      if (last.lost || last.deadline > want) break;
    }
    assert.equal(child.exitCode, null, `the holder process is alive (stderr: ${stderr})`);
    assert.ok(last && !last.lost, 'the lease was not lost');
    assert.ok(last.deadline > want, 'a renewal was confirmed on a new connection after the last termination');
    assert.deepEqual((await c.holders(name)).map((h) => h.token), [BigInt(token)], 'the same lease, same token');
  } finally {
    child.kill();
  }
});

// A synchronous_standby_names no standby has: every commit waits for a
// confirmation that never comes, as when the synchronous standby is cut off.
async function standbyNames(value) {
  await admin(value === null ? 'ALTER SYSTEM RESET synchronous_standby_names'
    : `ALTER SYSTEM SET synchronous_standby_names = '${value}'`);
  await admin('SELECT pg_reload_conf()');
  const until = Date.now() + 30000;
  while (Date.now() < until) {
    if ((await admin('SHOW synchronous_standby_names'))[0].synchronous_standby_names === (value ?? '')) return;
    await sleep(50);
  }
  throw new Error('the reload did not take effect');
}

for (const wait of [0, 1]) {
  test(`an acquire (wait ${wait}) that the synchronous standby never confirms is never a lease`, async () => {
    const c = makeClient(); const name = uniq();
    let local;
    await standbyNames('ls_no_such_standby');
    try {
      const t0 = Date.now();
      // someone cancels the wait for the standby once (an operator, a pooler):
      // the reply comes back with PostgreSQL's WARNING, and the retry as the
      // same holder waits again until the call's deadline
      let cancelled = 0;
      const canceller = setInterval(async () => {
        if (cancelled > 0) return;
        const r = await admin("SELECT count(pg_cancel_backend(pid)) AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND usename = 'ls_app'").catch(() => [{ n: 0 }]);
        cancelled += Number(r[0].n);
      }, 100);
      try {
        await assert.rejects(c.acquire(name, { ttl: 60, wait, holder: 'h-1', keepalive: false, timeout: 2 }),
          (e) => e instanceof CommitUnconfirmedError && /could not confirm the commit/.test(e.message));
      } finally { clearInterval(canceller); }
      assert.ok(cancelled > 0, 'the wait for the standby was cancelled once');
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 1900 && elapsed <= 3500, `ended at the deadline (${elapsed} ms)`);
      local = (await admin('SELECT token FROM lockservice.lock_holder($1)', [name]))[0]?.token;
      assert.ok(local, 'committed on the primary only');
    } finally {
      await standbyNames(null);
    }
    const lease = await c.acquire(name, { ttl: 60, holder: 'h-1', keepalive: false });
    assert.equal(lease.token, BigInt(local), 'the same holder gets the same token');
    await lease.release();
  });
}

test('a WARNING with the reply is CommitUnconfirmedError; the keepalive never counts it', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 3 });
  await standbyNames('ls_no_such_standby');
  try {
    // a renewal cancelled by someone else comes back with the WARNING
    const canceller = setInterval(() => {
      admin("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND usename = 'ls_app'").catch(() => {});
    }, 200);
    let err;
    try { await lease.renew(); } catch (e) { err = e; } finally { clearInterval(canceller); }
    assert.ok(err instanceof CommitUnconfirmedError, `renew: ${err}`);
    const reason = await lease.lost;
    assert.match(reason, /no renewal confirmed/);
  } finally {
    await standbyNames(null);
  }
});

test('an acquire killed while waiting is retried as the same holder', async () => {
  const c = makeClient(); const name = uniq();
  const held = await c.acquire(name, { ttl: 30 });
  const waiter = makeClient();
  const pending = waiter.acquire(name, { ttl: 10, wait: 30, holder: 'w-1' });
  let pids = [];
  for (let i = 0; i < 200 && pids.length === 0; i++) {
    await sleep(50);
    pids = await admin("SELECT pid FROM pg_stat_activity WHERE usename = 'ls_app' AND state = 'active' AND query LIKE '%lock_acquire%'");
  }
  assert.ok(pids.length > 0, 'the waiting acquire never showed up');
  await admin('SELECT pg_terminate_backend($1)', [pids[0].pid]);
  await sleep(500);
  await held.release();
  const got = await pending;
  assert.equal(got.holder, 'w-1');
  const again = await waiter.acquire(name, { ttl: 10, holder: 'w-1', keepalive: false });
  assert.equal(again.token, got.token);
  await got.release();
});

test('killed renewals are retried; the lease is never lost', async () => {
  const c = makeClient(); const name = uniq();
  const lease = await c.acquire(name, { ttl: 3 });
  const end = Date.now() + 6000;
  let killed = 0;
  while (Date.now() < end) {
    killed += (await admin("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = 'ls_app' AND query LIKE '%lock_renew%'"))[0].n;
    await sleep(300);
  }
  assert.ok(killed > 0);
  await sleep(1500);
  assert.equal(lease.isLost, false, lease.lostReason);
  assert.equal(await lease.release(), true);
});

test('through PgBouncer in transaction mode', async () => {
  const c = makeClient(BOUNCER); const name = uniq();
  for (let i = 0; i < 12; i++) {
    const l = await c.acquire(name, { ttl: 10 });
    assert.equal(await l.renew(), true);
    assert.equal(await l.release(), true);
  }
  const l = await c.acquire(name, { ttl: 10 });
  setTimeout(() => l.release(), 300);
  const w = await c.acquire(name, { ttl: 10, wait: 20 });
  assert.ok(w);
  await w.release();
});

// ---- the four uses, as the examples run them, in processes of their own
function example(file, ...args) {
  const p = spawn(process.execPath, [path.join(__dirname, '..', 'examples', file), DSN, ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const it = readline.createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  const done = new Promise((r) => p.on('exit', r));
  return { p, next: async () => (await it.next()).value, done };
}

test('example: leader election with failover to a second process', async () => {
  const name = uniq();
  const a = example('leader.js', name, 'node-a', 60);
  assert.match(await a.next(), /^node-a: campaigning/);
  assert.match(await a.next(), /^leader node-a/);
  const b = example('leader.js', name, 'node-b', 0.5);
  assert.equal(await b.next(), 'node-b: campaigning; leader now: node-a');
  a.p.kill('SIGKILL'); // the leader dies without resigning
  const killed = Date.now();
  assert.match(await b.next(), /^leader node-b/);
  assert.ok(Date.now() - killed < 15000);
  assert.equal(await b.done, 0);
});

test('example: singleton job', async () => {
  const name = uniq();
  const first = example('singleton.js', name, 2);
  assert.match(await first.next(), /^running with token/);
  const second = example('singleton.js', name, 0);
  assert.equal(await second.next(), 'skipped: running elsewhere');
  assert.equal(await first.next(), 'done');
  assert.equal(await first.done, 0);
});

test('example: critical section with fenced writes', async () => {
  const name = uniq();
  await admin('CREATE TABLE IF NOT EXISTS node_counter (n bigint)');
  await admin('GRANT SELECT, UPDATE ON node_counter TO PUBLIC');
  await admin('TRUNCATE node_counter');
  await admin('INSERT INTO node_counter VALUES (0)');
  const procs = [0, 1, 2].map(() => example('critical-section.js', name, 25));
  for (const p of procs) { assert.equal(await p.next(), 'ok'); assert.equal(await p.done, 0); }
  assert.equal(Number((await admin('SELECT n FROM node_counter'))[0].n), 75);
});

test('example: reservation, never more than 2 at once', async () => {
  const name = uniq();
  const procs = [0, 1, 2].map(() => example('reservation.js', name, 2, 1));
  const spans = [];
  for (const p of procs) {
    const s = Number((await p.next()).split(' ')[1]);
    const e = Number((await p.next()).split(' ')[1]);
    await p.done;
    spans.push([s, e]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  assert.ok(spans[2][0] >= Math.min(spans[0][1], spans[1][1]) - 50, JSON.stringify(spans));
});

test('a session keeps many locks with one keepalive; release one; close releases all', async () => {
  const c = makeClient(); const name = uniq();
  const session = await c.session({ ttl: 1.5 });
  assert.equal(typeof session.id, 'bigint');
  const x = await session.acquire(`${name}-x`);
  const sh = await session.acquireShared(`${name}-sh`);
  const p = await session.acquirePermit(`${name}-p`, 2);
  const both = await session.acquireAll([`${name}-b`, `${name}-a`]);
  assert.deepEqual(both.map((l) => l.name), [`${name}-b`, `${name}-a`]);
  assert.equal(session.leases.length, 5);
  assert.equal(x.holder, session.holder);
  await sleep(4500); // three ttls: the session's keepalive keeps every lock
  for (const l of [x, sh, p, ...both]) {
    assert.equal(l.isLost, false);
    const rows = await admin('SELECT token, session FROM lockservice.leases_live WHERE name = $1', [l.name]);
    assert.deepEqual(rows.map((r) => [BigInt(r.token), BigInt(r.session)]), [[l.token, session.id]]);
  }
  assert.equal(await x.renew(), true); // through the session
  assert.equal(await x.release(), true);
  assert.equal(session.leases.length, 4);
  assert.equal((await admin('SELECT count(*)::int AS n FROM lockservice.leases_live WHERE session = $1', [session.id.toString()]))[0].n, 4);
  assert.equal(await session.close(), true);
  assert.equal((await admin('SELECT count(*)::int AS n FROM lockservice.leases_live WHERE session = $1', [session.id.toString()]))[0].n, 0);
  await assert.rejects(session.acquire(`${name}-late`), (e) => e instanceof LockServiceError && e.code === 'LS006');
});

test('acquireAll: all or nothing', async () => {
  const c = makeClient(); const other = makeClient(); const name = uniq();
  const ls = await c.acquireAll([`${name}-1`, `${name}-2`], { ttl: 10 });
  assert.equal(await other.acquireAll([`${name}-0`, `${name}-2`], { wait: 0.3 }), null);
  assert.deepEqual(await other.holders(`${name}-0`), []);
  await ls[1].release();
  const got = await other.acquireAll([`${name}-0`, `${name}-2`], { wait: 5 });
  assert.ok(got[1].token > ls[1].token);
  for (const l of [...got, ls[0]]) await l.release();
  await assert.rejects(c.acquireAll([name, name]), RangeError);
});

test('a paused session holder: every lock lost with the session before the other grant; late writes refused', async () => {
  const c = makeClient(); const name = uniq();
  const child = spawn(process.execPath, [path.join(__dirname, 'child_session.js'), DSN, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const events = [];
  const it = lines[Symbol.asyncIterator]();
  const first = JSON.parse((await it.next()).value);
  events.push(JSON.parse((await it.next()).value));
  process.kill(child.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  try {
    const names = [0, 1, 2].map((i) => `${name}-${i}`);
    const got = await c.acquireAll(names, { ttl: 10, wait: 20 });
    const grantedAt = Date.now();
    got.forEach((l, i) => assert.ok(l.token > BigInt(first.tokens[i])));
    const db = new pg.Client({ connectionString: DSN });
    await db.connect();
    for (const l of got) await l.fenced(db, async () => {}, l.name);
    await db.end();
    process.kill(child.pid, 'SIGCONT');
    for await (const l of it) events.push(JSON.parse(l));
    const deadlines = events.filter((e) => e.deadline && e.now < stoppedAt).map((e) => e.deadline);
    assert.ok(Math.max(...deadlines) < grantedAt, 'the paused session ran out before the other grant');
    assert.deepEqual(events.find((e) => e.lost).leasesLost, [true, true, true]);
    assert.deepEqual(events.filter((e) => e.write === 'refused' && e.code === 'LS001').map((e) => e.name).sort(), names);
    for (const l of got) await l.release();
  } finally {
    try { process.kill(child.pid, 'SIGCONT'); child.kill(); } catch { /* gone */ }
  }
});
