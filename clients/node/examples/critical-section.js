// Critical section with a fenced write: increment a counter COUNT times
// (table: CREATE TABLE node_counter (n bigint) with one row).
//   node examples/critical-section.js DSN NAME COUNT
const pg = require('pg');
const { Client } = require('..');

async function main() {
  const [dsn, name, count] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  const db = new pg.Client({ connectionString: dsn });
  await db.connect();
  for (let i = 0; i < Number(count); i++) {
    const lease = await client.acquire(name, { ttl: 5, wait: 30 });
    await lease.fenced(db, async (tx) => {                 // fence + write: one transaction
      const n = BigInt((await tx.query('SELECT n FROM node_counter')).rows[0].n);
      await tx.query('UPDATE node_counter SET n = $1', [(n + 1n).toString()]);
    });
    await lease.release();
  }
  console.log('ok');
  await db.end();
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
