// A holder in its own process, set up as the README says (a pg.Pool with no
// 'error' listener of its own), for the test that terminates its backends:
// prints JSON lines (its token, then its local deadline every 50 ms, and
// whether the lease was lost).
const pg = require('pg');
const { performance } = require('node:perf_hooks');
const { Client } = require('..');

async function main() {
  const [dsn, name] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  const lease = await client.acquire(name, { ttl: 3, wait: 10 });
  const origin = performance.timeOrigin;
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  say({ token: lease.token.toString() });
  setInterval(() => say({ deadline: origin + lease.deadline, lost: lease.isLost }), 50);
}
main().catch((e) => { console.error(e); process.exit(1); });
