// Leader election: campaign, lead until SECONDS pass or leadership is lost, resign.
//   node examples/leader.js DSN NAME NODE SECONDS
const pg = require('pg');
const { Client } = require('..');

async function main() {
  const [dsn, name, node, seconds] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  console.log(`${node}: campaigning; leader now: ${await client.leader(name)}`);
  const lease = await client.campaign(name, node, { ttl: 2 }); // waits until elected
  console.log(`leader ${node} token ${lease.token}`);
  const timer = new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  const why = await Promise.race([timer.then(() => 'done'), lease.lost]); // lead: serve, schedule, ...
  if (why !== 'done') console.log(`${node}: lost leadership: ${why}`);
  await lease.resign();
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
