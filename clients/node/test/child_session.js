// A session holder in its own process for the pause test: prints JSON lines.
// Opens a session (ttl 2 s), takes NAME-0..2 in it, reports the session's
// deadline every 20 ms until it is lost, then tries a fenced write under each lock.
const pg = require('pg');
const { performance } = require('node:perf_hooks');
const { Client } = require('..');

async function main() {
  const [dsn, name] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  const session = await client.session({ ttl: 2 });
  const leases = await session.acquireAll([0, 1, 2].map((i) => `${name}-${i}`), { wait: 10 });
  const origin = performance.timeOrigin;
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  say({ tokens: leases.map((l) => l.token.toString()) });
  const iv = setInterval(() => say({ deadline: origin + session.deadline, now: origin + performance.now() }), 20);
  await session.lost;
  clearInterval(iv);
  say({ lost: true, reason: session.lostReason, leasesLost: leases.map((l) => l.isLost) });
  const db = new pg.Client({ connectionString: dsn });
  await db.connect();
  for (const lease of leases) {
    try {
      await lease.fenced(db, async () => {}, lease.name);
      say({ write: 'done', name: lease.name });
    } catch (e) {
      say({ write: 'refused', name: lease.name, code: e.code });
    }
  }
  await db.end();
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
