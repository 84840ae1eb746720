'use strict';
// libpq conninfo for node-postgres: a keyword string ("host=a,b port=5432
// dbname=app") or a postgresql:// URL with a host list, as the C library,
// lockctl and the other packages take it. node-postgres has neither host
// lists nor target_session_attrs; createPool gives it both, with a connect
// timeout per host as libpq has.

const KEYWORD = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)/y;

// "key=value ..." -> { key: value }; single quotes and backslash escapes as in libpq
function parseKeywords(text) {
  const out = {};
  let pos = 0;
  while (!/^\s*$/.test(text.slice(pos))) {
    KEYWORD.lastIndex = pos;
    const m = KEYWORD.exec(text);
    if (m === null) throw new TypeError(`cannot parse the conninfo near ${JSON.stringify(text.slice(pos, pos + 20).trim())}`);
    let v = m[2];
    if (v.startsWith("'")) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    out[m[1]] = v;
    pos = KEYWORD.lastIndex;
  }
  return out;
}

// postgresql://user:pass@h1:p1,h2:p2/db?k=v -> { key: value } in libpq's keywords
function parseUrl(text) {
  const m = /^postgres(?:ql)?:\/\/(?:([^@/]*)@)?([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(text);
  if (!m) throw new TypeError('cannot parse the connection URL');
  const out = {};
  if (m[1]) {
    const [user, password] = m[1].split(':');
    out.user = decodeURIComponent(user);
    if (password !== undefined) out.password = decodeURIComponent(password);
  }
  if (m[2]) {
    const hosts = [];
    const ports = [];
    for (const hp of m[2].split(',')) {
      const b = /^\[([^\]]+)\](?::(\d+))?$/.exec(hp) || /^([^:]*)(?::(\d+))?$/.exec(hp);
      hosts.push(decodeURIComponent(b[1]));
      ports.push(b[2] || '');
    }
    out.host = hosts.join(',');
    if (ports.some((p) => p !== '')) out.port = ports.map((p) => p || '5432').join(',');
  }
  if (m[3]) out.dbname = decodeURIComponent(m[3]);
  for (const [k, v] of new URLSearchParams(m[4] || '')) out[k] = v;
  return out;
}

// The hosts to try, in order, and node-postgres options for all of them.
function parseConninfo(conninfo) {
  const kv = /^postgres(ql)?:\/\//.test(conninfo) ? parseUrl(conninfo) : parseKeywords(conninfo);
  const hostList = (kv.host || process.env.PGHOST || 'localhost').split(',');
  const portList = String(kv.port || process.env.PGPORT || '5432').split(',');
  const hosts = hostList.map((host, i) => ({ host, port: Number(portList.length > 1 ? portList[i] : portList[0]) }));
  const config = {};
  if (kv.dbname) config.database = kv.dbname;
  if (kv.user) config.user = kv.user;
  if (kv.password) config.password = kv.password;
  if (kv.application_name) config.application_name = kv.application_name;
  if (kv.options) config.options = kv.options;
  if (kv.sslmode === 'require' || kv.sslmode === 'verify-ca' || kv.sslmode === 'verify-full') {
    config.ssl = kv.sslmode === 'require' ? { rejectUnauthorized: false } : true;
  }
  if (kv.keepalives !== '0') {
    config.keepAlive = true;
    if (kv.keepalives_idle) config.keepAliveInitialDelayMillis = Number(kv.keepalives_idle) * 1000;
  }
  const connectTimeout = Number(kv.connect_timeout || process.env.PGCONNECT_TIMEOUT || 10);
  const readWrite = ['read-write', 'primary'].includes(kv.target_session_attrs || process.env.PGTARGETSESSIONATTRS);
  return { hosts, config, hostTimeoutMs: Math.max(connectTimeout, 1) * 1000, readWrite };
}

// A pg.Pool over conninfo: each new connection goes to the first host, in
// order, that answers within connect_timeout (10 s by default) and, with
// target_session_attrs=read-write (or primary), accepts writes.
function createPool(conninfo, poolOptions = {}) {
  const pg = require('pg');
  const { hosts, config, hostTimeoutMs, readWrite } = parseConninfo(conninfo);

  async function usable(client) {
    if (!readWrite) return;
    const r = await client.query('SHOW transaction_read_only');
    if (r.rows[0].transaction_read_only !== 'off') throw new Error(`${client.host}:${client.port} is read-only`);
  }

  class MultiHostClient extends pg.Client {
    connect(callback) {
      const done = this._connectToAHost();
      if (!callback) return done;
      done.then(() => callback(null), callback);
      return undefined;
    }

    async _connectToAHost() {
      let last = new Error('no host to connect to');
      for (const { host, port } of hosts) {
        // a throwaway connection finds a host that answers (and accepts
        // writes); this one then connects there, and checks it again
        const probe = new pg.Client({ ...config, host, port, connectionTimeoutMillis: hostTimeoutMs });
        probe.on('error', () => {});
        try {
          await probe.connect();
          await usable(probe);
        } catch (err) {
          last = err;
          continue;
        } finally {
          probe.end().catch(() => {});
        }
        this.host = host;
        this.port = port;
        this.connectionParameters.host = host;
        this.connectionParameters.port = port;
        this._connectionTimeoutMillis = hostTimeoutMs;
        await super.connect();
        await usable(this);
        return;
      }
      throw last;
    }
  }

  const pool = new pg.Pool({
    ...config,
    host: hosts[0].host,
    port: hosts[0].port,
    connectionTimeoutMillis: 2 * hostTimeoutMs * hosts.length,
    ...poolOptions,
    Client: MultiHostClient,
  });
  pool.lsHostTimeoutMs = hostTimeoutMs; // how long a pooled connection's ping may take (index.js)
  return pool;
}

module.exports = { createPool, parseConninfo };
