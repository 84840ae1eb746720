// A holder in its own process for the pause test: prints JSON lines.
const pg = require('pg');
const { performance } = require('node:perf_hooks');
const { Client } = require('..');

async function main() {
  const [dsn, name] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  const lease = await client.acquire(name, { ttl: 2, wait: 10 });
  const origin = performance.timeOrigin;
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  say({ token: lease.token.toString() });
  const iv = setInterval(() => say({ deadline: origin + lease.deadline, now: origin + performance.now() }), 20);
  await lease.lost;
  clearInterval(iv);
  say({ lost: true, reason: lease.lostReason });
  const db = new pg.Client({ connectionString: dsn });
  await db.connect();
  try {
    await lease.fenced(db, async () => {}, 'register');
    say({ write: 'done' });
  } catch (e) {
    say({ write: 'refused', code: e.code });
  }
  await db.end();
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
