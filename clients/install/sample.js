// The Node.js sample: installed from the package's tarball (npm pack) into a
// project of its own. Usage: node sample.js URL NAME
const pg = require('pg');
const { Client } = require('lockservice');

async function main() {
  const [url, name] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: url });
  const client = new Client(pool);
  const lease = await client.acquire(name, { ttl: 15, wait: 5 });
  console.log(`acquired ${name} token ${lease.token}`);
  console.log(`released ${await lease.release()}`);
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
