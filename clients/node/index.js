'use strict';
// lockservice for Node.js over node-postgres: leases renewed in the
// background, an AbortSignal that fires when a lease is lost, fenced
// transactions, leader election, shared locks and semaphores.
//
// A lease is lost when a renewal is refused, or when no renewal was
// confirmed by the local deadline: the monotonic time (performance.now())
// the last confirmed call was sent, plus ttl, minus a margin (ttl/5). The
// server keeps a lease confirmed by a call sent at t until at least t + ttl.

const { performance } = require('node:perf_hooks');
const { createPool } = require('./conninfo');
const crypto = require('node:crypto');
const os = require('node:os');

// Node 20 before 20.4 has no Symbol.asyncDispose: the well-known symbol's registry key
if (!Symbol.asyncDispose) Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') });

const RETRY_FIRST = 100;
const RETRY_MAX = 1000;

class LockServiceError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'LockServiceError';
    this.code = code; // the SQLSTATE when the server sent one
  }
}
class NotGrantedError extends LockServiceError {
  constructor(name, wait) { super(`lock ${JSON.stringify(name)} not granted within ${wait} s`); this.name = 'NotGrantedError'; }
}
class LeaseLostError extends LockServiceError {
  constructor(name, reason) { super(`lease of ${JSON.stringify(name)} lost: ${reason}`); this.name = 'LeaseLostError'; }
}
class OutcomeUnknownError extends LockServiceError {
  constructor(message) { super(message); this.name = 'OutcomeUnknownError'; }
}
// The reply came with a server WARNING: PostgreSQL's "canceling wait for
// synchronous replication" (committed on the primary only, which a failover
// can undo). Never a success; retried as the same holder while the call's
// time lasts.
class CommitUnconfirmedError extends OutcomeUnknownError {
  constructor(message) { super(message); this.name = 'CommitUnconfirmedError'; }
}
// How long an acquire may take beyond its wait by default (seconds):
// connecting, and the commit (a synchronous standby's confirmation).
const CALL_MARGIN = 5;

// node-postgres errors: a server error has a 5-character code; 57P0x means
// the session was terminated (the reply may never have come).
function isServerError(err) {
  return err && typeof err.code === 'string' && err.code.length === 5 && !err.code.startsWith('57P');
}
function serverError(err) {
  return isServerError(err) ? new LockServiceError(err.message, err.code) : err;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ignore = () => {};

// node-postgres emits 'error' on the pool when the backend of an idle
// connection ends (a restart, a failover, pg_terminate_backend), and on a
// checked-out connection when it ends between two queries; an 'error' event
// with no listener ends the Node process. The pool has already dropped such
// a connection and the next call opens another, so a listener that does
// nothing is all it takes. One per pool, however many Clients share it.
const guardedPools = new WeakSet();
function guardPool(pool) {
  if (typeof pool.on !== 'function' || guardedPools.has(pool)) return;
  guardedPools.add(pool);
  pool.on('error', ignore);
  pool.on('connect', (conn) => { conn.lsIdleSince = performance.now(); }); // a new one: alive now (checkout)
}

// pool.connect() with the same guard on the connection while it is checked
// out, and the server WARNINGs of its calls collected in conn.lsWarnings;
// checkin(conn, broken) gives it back (broken: destroyed, not reused).
function noteWarning(msg) {
  if (msg && msg.severity === 'WARNING') this.lsWarnings.push(msg.message);
}

// A connection that sat idle in the pool may lead to a server that vanished
// meanwhile (a partition drops packets without a word). libpq's
// tcp_user_timeout would end a statement sent there after a few seconds;
// Node cannot set it, and the statement would wait for TCP's
// retransmissions (minutes). So a connection idle for IDLE_CHECK_MS or
// more (or of unknown age) first answers a ping within the pool's host
// timeout (connect_timeout for a pool of createPool, PING_TIMEOUT_MS for
// others), or is destroyed and another one taken; after PING_TRIES failed
// pings the next one is used as it is.
const IDLE_CHECK_MS = 1000;
const PING_TIMEOUT_MS = 5000;
const PING_TRIES = 3;
function answers(conn, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  const ping = conn.query('SELECT 1').then(() => true, () => false);
  return Promise.race([ping, late]).finally(() => clearTimeout(timer));
}
async function checkout(pool) {
  for (let tries = 0; ; tries++) {
    const conn = await pool.connect();
    conn.lsWarnings = [];
    if (typeof conn.on === 'function') {
      conn.on('error', ignore);
      conn.on('notice', noteWarning);
    }
    const idle = performance.now() - (conn.lsIdleSince ?? -Infinity);
    if (idle < IDLE_CHECK_MS || tries >= PING_TRIES
        || await answers(conn, pool.lsHostTimeoutMs ?? PING_TIMEOUT_MS)) return conn;
    checkin(conn, true);
  }
}
function checkin(conn, broken) {
  if (typeof conn.removeListener === 'function') {
    conn.removeListener('error', ignore);
    conn.removeListener('notice', noteWarning);
  }
  conn.lsIdleSince = performance.now();
  conn.release(broken ? true : undefined);
}
// CommitUnconfirmedError when a WARNING came with the call's reply.
function checkWarnings(conn, what) {
  if (conn.lsWarnings.length > 0) {
    throw new CommitUnconfirmedError(`${what}: the server could not confirm the commit (${conn.lsWarnings.at(-1)}); the outcome is unknown`);
  }
}
// work(conn) on a checked-out connection, ended at deadlineAt (performance.now()
// time, null: none). Past it while connecting: an Error (nothing was sent);
// past it after: the connection is destroyed and the call rejects with
// OutcomeUnknownError (a statement sent may have taken effect).
async function withConnection(pool, what, deadlineAt, work) {
  if (deadlineAt !== null && performance.now() >= deadlineAt) throw new Error(`${what}: the call's deadline passed before connecting`);
  let timer;
  let connected = false;
  const late = deadlineAt === null ? null : new Promise((_, reject) => {
    timer = setTimeout(() => reject(connected
      ? new OutcomeUnknownError(`${what}: no reply by the call's deadline; the outcome is unknown`)
      : new Error(`${what}: no connection by the call's deadline`)), Math.max(1, deadlineAt - performance.now()));
  });
  late?.catch(ignore);
  const connecting = checkout(pool);
  let conn;
  try {
    conn = await (late ? Promise.race([connecting, late]) : connecting);
  } catch (err) {
    clearTimeout(timer);
    connecting.then((c) => checkin(c, true), ignore); // one that comes too late goes
    throw err;
  }
  connected = true;
  let broken = false;
  try {
    const done = work(conn, () => { broken = true; });
    if (late === null) return await done;
    done.catch(ignore);
    return await Promise.race([done, late]);
  } catch (err) {
    if (!isServerError(err)) broken = true;
    throw err;
  } finally {
    clearTimeout(timer);
    checkin(conn, broken);
  }
}

const SQL = {
  exclusive: 'SELECT lockservice.lock_acquire($1, $2, $3::float8 * interval \'1 s\', $4::float8 * interval \'1 s\') AS token',
  shared: 'SELECT lockservice.lock_acquire_shared($1, $2, $3::float8 * interval \'1 s\', $4::float8 * interval \'1 s\') AS token',
  permit: 'SELECT lockservice.sem_acquire($1, $2, $5::int, $3::float8 * interval \'1 s\', $4::float8 * interval \'1 s\') AS token',
};

// lockservice 1.5: sessions (one keepalive for many locks) and multi-lock
const SESSION_SQL = {
  exclusive: 'SELECT lockservice.lock_acquire($1, $2::bigint, $3::float8 * interval \'1 s\') AS token',
  shared: 'SELECT lockservice.lock_acquire_shared($1, $2::bigint, $3::float8 * interval \'1 s\') AS token',
  permit: 'SELECT lockservice.sem_acquire($1, $2::bigint, $4::int, $3::float8 * interval \'1 s\') AS token',
};
const SQL_ALL = 'SELECT lockservice.lock_acquire_all($1::text[], $2, $3::float8 * interval \'1 s\', $4::float8 * interval \'1 s\') AS token';
const SQL_SESSION_ALL = 'SELECT lockservice.lock_acquire_all($1::text[], $2::bigint, $3::float8 * interval \'1 s\') AS token';

function checkNames(names) {
  if (!Array.isArray(names)) throw new TypeError('names must be an array of strings');
  names.forEach((n) => checkName(n));
  if (names.length === 0) throw new RangeError('names must not be empty');
  if (new Set(names).size !== names.length) throw new RangeError('names must not repeat');
  return names;
}

function checkName(v, what = 'name') {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
  if (v === '') throw new RangeError(`${what} must not be empty`);
  return v;
}
function checkSeconds(v, what, { allowZero, allowNull = false }) {
  if (v === null || v === undefined) {
    if (allowNull) return null;
    throw new TypeError(`${what} must be a number of seconds`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${what} must be a finite number of seconds`);
  if (v < 0 || (v === 0 && !allowZero)) throw new RangeError(`${what} must be ${allowZero ? '>= 0' : '> 0'}, got ${v}`);
  return v;
}
function defaultHolder() {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(6).toString('hex')}`;
}

class Lease {
  constructor(client, name, holder, token, kind, ttl, sentAt) {
    this.client = client;
    this.name = name;
    this.holder = holder;
    this.token = token; // a BigInt: tokens exceed 2^53
    this.kind = kind;
    this.ttl = ttl;
    this.margin = client.margin ?? ttl / 5;
    this.lostReason = null;
    this._confirmedSent = sentAt;
    this._released = false;
    this._controller = new AbortController();
    this.signal = this._controller.signal; // aborted when the lease is lost (or released)
    this.lost = new Promise((resolve) => { this._resolveLost = resolve; });
    this._timer = null;
  }

  get deadline() { return this._confirmedSent + (this.ttl - this.margin) * 1000; }
  get isLost() { return this.lostReason !== null; }

  _markLost(reason) {
    if (this._released || this.lostReason !== null) return;
    this.lostReason = reason;
    this._stop();
    this._controller.abort(new LeaseLostError(this.name, reason));
    this._resolveLost(reason);
  }

  _stop() {
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
  }

  _schedule(at) {
    this._stop();
    const next = Math.min(at, this.deadline);
    this._timer = setTimeout(() => this._tick(at), Math.max(0, next - performance.now()));
    this._timer.unref?.();
  }

  async _tick(due) {
    if (this._released || this.isLost) return;
    const now = performance.now();
    if (now >= this.deadline) return this._markLost('no renewal confirmed by the local deadline');
    if (now < due) return this._schedule(due);
    const sent = performance.now();
    let ok;
    try {
      ok = await this._renewCall(null, this.deadline);
    } catch (err) {
      if (this._released) return;
      this._delay = Math.min((this._delay ?? RETRY_FIRST / 2) * 2, RETRY_MAX); // unconfirmed: retry, never counted
      return this._schedule(performance.now() + this._delay);
    }
    this._delay = undefined;
    if (this._released) return;
    if (ok) {
      this._confirmedSent = Math.max(this._confirmedSent, sent);
      this._schedule(sent + (this.ttl / 3) * 1000);
    } else {
      this._markLost('renewal refused: the lease expired, was released or taken over');
    }
  }

  _startKeepalive() { this._schedule(this._confirmedSent + (this.ttl / 3) * 1000); }

  _renewCall(ttl, deadlineAt) { return this.client._renewOnce(this, ttl, deadlineAt); }

  throwIfLost() {
    if (!this.isLost && performance.now() >= this.deadline) this._markLost('no renewal confirmed by the local deadline');
    if (this.isLost) throw new LeaseLostError(this.name, this.lostReason);
  }

  async renew(ttl = null) {
    checkSeconds(ttl, 'ttl', { allowZero: false, allowNull: true });
    const sent = performance.now();
    const ok = await this.client._retrying(() => this._renewCall(ttl, this.deadline), this.deadline, 'renew');
    if (ok) {
      if (ttl !== null) this.ttl = ttl;
      this._confirmedSent = Math.max(this._confirmedSent, sent);
    } else {
      this._markLost('renewal refused: the lease expired, was released or taken over');
    }
    return ok;
  }

  async release() {
    if (this._released) return false;
    this._released = true;
    this._stop();
    try {
      return await this.client._retrying(async () => {
        const r = await this.client.pool.query('SELECT lockservice.lock_release($1, $2) AS ok', [this.name, this.token.toString()]);
        return r.rows[0].ok;
      }, performance.now() + Math.max(this.ttl, 1) * 1000, 'release');
    } finally {
      this._controller.abort(new LockServiceError('released'));
    }
  }

  async resign() { return this.release(); }

  // fence(resource, token) at the start of a transaction on pgClient; fn's
  // writes commit only if no newer holder reached the resource (LS001).
  async fenced(pgClient, fn, resource = this.name) {
    checkName(resource, 'resource');
    await pgClient.query('BEGIN');
    try {
      try {
        await pgClient.query('SELECT lockservice.fence($1, $2)', [resource, this.token.toString()]);
      } catch (err) { throw serverError(err); }
      const result = await fn(pgClient);
      await pgClient.query('COMMIT');
      return result;
    } catch (err) {
      await pgClient.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  // lock_check in pgClient's open transaction: true holds the lease until it ends.
  async check(pgClient) {
    const r = await pgClient.query('SELECT lockservice.lock_check($1, $2) AS ok', [this.name, this.token.toString()]);
    if (!r.rows[0].ok) this._markLost('lock_check: the lease is no longer held');
    return r.rows[0].ok;
  }
}

Lease.prototype[Symbol.asyncDispose] = Lease.prototype.release; // await using lease = ...

// A lease kept by a Session: no keepalive and no ttl of its own; its deadline
// is the session's and it is lost with it. release() gives back this one.
class SessionLease extends Lease {
  constructor(session, name, token, kind) {
    super(session.client, name, session.holder, token, kind, session.ttl, session._confirmedSent);
    this.session = session;
  }

  get deadline() { return this.session.deadline; }
  _startKeepalive() {}
  renew(ttl = null) { return this.session.renew(ttl); }
  async release() {
    this.session._forget(this);
    return super.release();
  }
}

// A lock session (lockservice 1.5): one keepalive renews every lock in it;
// when it is lost (a renewal refused, or none confirmed by the local deadline)
// every lease in it is lost at the same moment. close() releases them all.
class Session extends Lease {
  constructor(client, id, holder, ttl, sentAt) {
    super(client, `session ${id}`, holder, id, 'session', ttl, sentAt);
    this.id = id; // a BigInt
    this._leases = [];
  }

  get leases() { return [...this._leases]; }

  _renewCall(ttl, deadlineAt) {
    return withConnection(this.client.pool, 'session renew', deadlineAt, async (conn) => {
      const r = await conn.query('SELECT lockservice.session_renew($1::bigint, $2::float8 * interval \'1 s\') AS ok',
        [this.id.toString(), ttl]);
      checkWarnings(conn, 'session renew');
      return r.rows[0].ok;
    });
  }

  _markLost(reason) {
    super._markLost(reason);
    if (this.isLost) for (const lease of this.leases) lease._markLost(`session ${this.id} lost: ${this.lostReason}`);
  }

  _forget(lease) { this._leases = this._leases.filter((l) => l !== lease); }

  _kept(lease) {
    this._leases.push(lease);
    if (this.isLost) lease._markLost(`session ${this.id} lost: ${this.lostReason}`);
    return lease;
  }

  async _acquireIn(kind, name, opts, permits) {
    checkName(name);
    const { wait = 0, signal = null, timeout = null } = opts ?? {};
    checkSeconds(wait, 'wait', { allowZero: true, allowNull: true });
    checkSeconds(timeout, 'timeout', { allowZero: false, allowNull: true });
    if (kind === 'permit' && (!Number.isInteger(permits) || permits < 1)) throw new RangeError('permits must be an integer >= 1');
    const { token } = await this.client._acquireCall(SESSION_SQL[kind], `acquire of ${JSON.stringify(name)} in session ${this.id}`, (left) => {
      const args = [name, this.id.toString(), left];
      if (kind === 'permit') args.push(permits);
      return args;
    }, { wait, timeout, signal });
    if (token === null) return null;
    return this._kept(new SessionLease(this, name, BigInt(token), kind));
  }

  /** An exclusive lease kept by the session, or null (LockServiceError LS006 once the session ended). */
  acquire(name, opts = {}) { return this._acquireIn('exclusive', name, opts); }
  acquireShared(name, opts = {}) { return this._acquireIn('shared', name, opts); }
  acquirePermit(name, permits, opts = {}) { return this._acquireIn('permit', name, opts, permits); }

  /** Exclusive leases of every name kept by the session, all or nothing, or null. */
  async acquireAll(names, opts = {}) {
    checkNames(names);
    const { wait = 0, signal = null, timeout = null } = opts ?? {};
    checkSeconds(wait, 'wait', { allowZero: true, allowNull: true });
    checkSeconds(timeout, 'timeout', { allowZero: false, allowNull: true });
    const { token } = await this.client._acquireCall(SQL_SESSION_ALL, `acquire of ${JSON.stringify(names)} in session ${this.id}`,
      (left) => [names, this.id.toString(), left], { wait, timeout, signal });
    if (token === null) return null;
    return names.map((name, i) => this._kept(new SessionLease(this, name, BigInt(token[i]), 'exclusive')));
  }

  /** End the session and release every lease in it; false when it had already ended. */
  async close() {
    if (this._released) return false;
    this._released = true;
    this._stop();
    const leases = this._leases;
    this._leases = [];
    for (const lease of leases) {
      lease._released = true;
      lease._controller.abort(new LockServiceError('released'));
    }
    try {
      return await this.client._retrying(async () => {
        const r = await this.client.pool.query('SELECT lockservice.session_close($1::bigint) AS ok', [this.id.toString()]);
        return r.rows[0].ok;
      }, performance.now() + Math.max(this.ttl, 1) * 1000, 'session close');
    } finally {
      this._controller.abort(new LockServiceError('released'));
    }
  }

  release() { return this.close(); }

  fenced() { throw new TypeError('a session has no token of its own: fence with its leases'); }
  check() { throw new TypeError('a session has no lock of its own: check its leases'); }
}

class Client {
  // pool: a pg.Pool (or anything with connect() and query()), or a libpq
  // conninfo (keywords or a URL, several hosts allowed: see createPool);
  // options.margin in seconds. Every call is one statement or one short
  // transaction without session state or named prepared statements
  // (PgBouncer transaction mode).
  constructor(pool, { margin = null } = {}) {
    const owned = typeof pool === 'string';
    if (owned) pool = createPool(pool);
    if (!pool || typeof pool.query !== 'function' || typeof pool.connect !== 'function') {
      throw new TypeError('pool must be a pg.Pool or a conninfo string');
    }
    this.margin = checkSeconds(margin, 'margin', { allowZero: true, allowNull: true });
    this.pool = pool;
    this._ownsPool = owned;
    guardPool(pool);
  }

  /** Ends the pool the client made from a conninfo (a pool passed in stays yours). */
  async end() {
    if (this._ownsPool) await this.pool.end();
  }

  async _retrying(fn, until, what) {
    let delay = RETRY_FIRST;
    let unconfirmed = null; // an attempt's reply came with a WARNING: say so at the end
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (isServerError(err)) throw serverError(err);
        if (err instanceof CommitUnconfirmedError) unconfirmed = err;
        if (performance.now() + delay >= until) {
          if (unconfirmed || err instanceof OutcomeUnknownError) throw unconfirmed ?? err;
          throw new OutcomeUnknownError(`${what}: no reply (${err.message}); the outcome is unknown`);
        }
        await sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX);
      }
    }
  }

  // one renewal, ended at deadlineAt (performance.now() time)
  _renewOnce(lease, ttl, deadlineAt) {
    return withConnection(this.pool, 'renew', deadlineAt, async (conn) => {
      const r = await conn.query('SELECT lockservice.lock_renew($1, $2, $3::float8 * interval \'1 s\') AS ok',
        [lease.name, lease.token.toString(), ttl]);
      checkWarnings(conn, 'renew');
      return r.rows[0].ok;
    });
  }

  // one attempt, ended at deadlineAt; a wait runs in a transaction (the
  // backend stays the same through PgBouncer) so that signal can cancel it
  // with pg_cancel_backend
  _acquireOnce(sql, what, args, waiting, signal, sentFlag, deadlineAt) {
    return withConnection(this.pool, what, deadlineAt, async (conn, markBroken) => {
      sentFlag.sent = true;
      if (!waiting) {
        const token = (await conn.query(sql, args)).rows[0].token;
        checkWarnings(conn, what);
        return token;
      }
      let onAbort;
      try {
        await conn.query('BEGIN');
        const pid = (await conn.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await conn.query("SELECT set_config('client_connection_check_interval', '1000', true)");
        if (signal) {
          onAbort = () => { this.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(ignore); };
          if (signal.aborted) onAbort(); else signal.addEventListener('abort', onAbort, { once: true });
        }
        const token = (await conn.query(sql, args)).rows[0].token;
        await conn.query('COMMIT');
        checkWarnings(conn, what);
        return token;
      } catch (err) {
        if (isServerError(err)) await conn.query('ROLLBACK').catch(markBroken);
        throw err;
      } finally {
        if (onAbort) signal.removeEventListener('abort', onAbort);
      }
    });
  }

  // an acquire (sql with argsFor(wait left in seconds, or null)), retried
  // while its outcome is unknown: a retry asks again as the same holder (or
  // in the same session), which returns the same token(s) if it got them.
  // Returns { token, sent } (token null: not granted).
  async _acquireCall(sql, what, argsFor, { wait, timeout, signal }) {
    if (signal !== null && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
    const start = performance.now();
    const waitUntil = wait === null ? null : start + wait * 1000;
    // the whole call, reconnections and a synchronous standby's confirmation included
    const limit = timeout ?? (wait === null ? null : wait + CALL_MARGIN);
    const deadlineAt = limit === null ? null : start + limit * 1000;
    let delay = RETRY_FIRST;
    let unconfirmed = null; // an attempt's reply came with a WARNING: say so at the end
    const sentFlag = { sent: false };
    for (;;) {
      const left = waitUntil === null ? null : Math.max(0, (waitUntil - performance.now()) / 1000);
      const sent = performance.now();
      try {
        const token = await this._acquireOnce(sql, what, argsFor(left), left === null || left > 0, signal, sentFlag, deadlineAt);
        return { token, sent };
      } catch (err) {
        if (isServerError(err)) throw serverError(err);
        if (signal?.aborted) throw new OutcomeUnknownError(`${what} cancelled without a reply: a lease it got ends at its ttl`);
        // no reply, or an unconfirmed commit: ask again as the same holder
        // (the same lease if it was granted), while the call's time lasts
        if (err instanceof CommitUnconfirmedError) unconfirmed = err;
        if (deadlineAt !== null && performance.now() + delay >= deadlineAt) {
          if (unconfirmed) throw unconfirmed;
          if (!sentFlag.sent || err instanceof OutcomeUnknownError) throw err;
          throw new OutcomeUnknownError(`${what}: no reply (${err.message}); the outcome is unknown`);
        }
        await sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX);
      }
    }
  }

  async _acquire(kind, name, opts, permits) {
    checkName(name);
    const { ttl = 30, wait = 0, keepalive = true, signal = null, timeout = null } = opts ?? {};
    checkSeconds(ttl, 'ttl', { allowZero: false });
    checkSeconds(wait, 'wait', { allowZero: true, allowNull: true });
    checkSeconds(timeout, 'timeout', { allowZero: false, allowNull: true });
    const holder = opts?.holder === undefined ? defaultHolder() : checkName(opts.holder, 'holder');
    if (kind === 'permit' && (!Number.isInteger(permits) || permits < 1)) throw new RangeError('permits must be an integer >= 1');
    const { token, sent } = await this._acquireCall(SQL[kind], `acquire of ${JSON.stringify(name)}`, (left) => {
      const args = [name, holder, ttl, left];
      if (kind === 'permit') args.push(permits);
      return args;
    }, { wait, timeout, signal });
    if (token === null) return null;
    const lease = new Lease(this, name, holder, BigInt(token), kind, ttl, sent);
    if (keepalive) lease._startKeepalive();
    return lease;
  }

  /**
   * Exclusive leases of every name, all or nothing (lockservice 1.5): in the
   * order of names, or null when not all granted within opts.wait (then none
   * is held). While it waits it holds none, so overlapping sets never deadlock.
   */
  async acquireAll(names, opts = {}) {
    checkNames(names);
    const { ttl = 30, wait = 0, keepalive = true, signal = null, timeout = null } = opts ?? {};
    checkSeconds(ttl, 'ttl', { allowZero: false });
    checkSeconds(wait, 'wait', { allowZero: true, allowNull: true });
    checkSeconds(timeout, 'timeout', { allowZero: false, allowNull: true });
    const holder = opts?.holder === undefined ? defaultHolder() : checkName(opts.holder, 'holder');
    const { token, sent } = await this._acquireCall(SQL_ALL, `acquire of ${JSON.stringify(names)}`,
      (left) => [names, holder, ttl, left], { wait, timeout, signal });
    if (token === null) return null;
    return names.map((name, i) => {
      const lease = new Lease(this, name, holder, BigInt(token[i]), 'exclusive', ttl, sent);
      if (keepalive) lease._startKeepalive();
      return lease;
    });
  }

  /**
   * Open a lock session (lockservice 1.5), kept alive in the background: the
   * locks acquired in it are renewed by its one keepalive and lost with it.
   */
  async session(opts = {}) {
    const { ttl = 30, timeout = null } = opts ?? {};
    checkSeconds(ttl, 'ttl', { allowZero: false });
    checkSeconds(timeout, 'timeout', { allowZero: false, allowNull: true });
    const holder = opts?.holder === undefined ? defaultHolder() : checkName(opts.holder, 'holder');
    const sent = performance.now();
    const until = sent + (timeout ?? ttl + CALL_MARGIN) * 1000;
    const id = await this._retrying(() => withConnection(this.pool, 'session open', until, async (conn) => {
      const r = await conn.query('SELECT lockservice.session_open($1, $2::float8 * interval \'1 s\') AS id', [holder, ttl]);
      checkWarnings(conn, 'session open');
      return r.rows[0].id;
    }), until, 'session open');
    const session = new Session(this, BigInt(id), holder, ttl, sent);
    session._startKeepalive();
    return session;
  }

  /** An exclusive lease, or null when not granted within opts.wait seconds (0: try once, null: forever). */
  acquire(name, opts = {}) { return this._acquire('exclusive', name, opts); }
  acquireShared(name, opts = {}) { return this._acquire('shared', name, opts); }
  acquirePermit(name, permits, opts = {}) { return this._acquire('permit', name, opts, permits); }

  /** fn(lease, signal) under an exclusive lease; signal aborts when it is lost (then LeaseLostError). */
  async run(name, opts, fn) {
    const { wait = null } = opts ?? {};
    const lease = await this.acquire(name, { ...opts, wait });
    if (lease === null) throw new NotGrantedError(name, wait);
    try {
      const lost = lease.lost.then((reason) => { throw new LeaseLostError(name, reason); });
      lost.catch(() => {});
      return await Promise.race([fn(lease, lease.signal), lost]);
    } finally {
      await lease.release().catch(() => {});
    }
  }

  /** Become the leader of name: wait (forever by default) for its lease. */
  campaign(name, holder, { ttl = 15, wait = null, signal = null } = {}) {
    checkName(holder, 'holder');
    return this.acquire(name, { ttl, wait, holder, signal });
  }

  async holders(name) {
    checkName(name);
    try {
      const r = await withConnection(this.pool, 'holders', null, (conn) => conn.query(
        'SELECT holder, token, kind, granted_at, expires_at FROM lockservice.lock_holder($1) ORDER BY granted_at, token', [name]));
      return r.rows.map((h) => ({ ...h, token: BigInt(h.token) }));
    } catch (err) { throw serverError(err); }
  }

  async leader(name) {
    const h = (await this.holders(name)).find((x) => x.kind === 'exclusive');
    return h ? h.holder : null;
  }
}

module.exports = {
  Client, Lease, Session, SessionLease, createPool, LockServiceError, NotGrantedError, LeaseLostError, OutcomeUnknownError, CommitUnconfirmedError,
};
