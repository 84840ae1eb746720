// Resource reservation: at most PERMITS holders of a pool at once (a semaphore).
//   node examples/reservation.js DSN NAME PERMITS SECONDS
const pg = require('pg');
const { Client } = require('..');

async function main() {
  const [dsn, name, permits, seconds] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  const lease = await client.acquirePermit(name, Number(permits), { ttl: 5, wait: 60 });
  console.log(`start ${Date.now()}`);
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000)); // use one of the PERMITS slots
  console.log(`end ${Date.now()}`);
  await lease.release();
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
