// Singleton job: run it on exactly one machine; the others skip this round.
//   node examples/singleton.js DSN NAME SECONDS
const pg = require('pg');
const { Client, NotGrantedError } = require('..');

async function main() {
  const [dsn, name, seconds] = process.argv.slice(2);
  const pool = new pg.Pool({ connectionString: dsn });
  const client = new Client(pool);
  try {
    await client.run(name, { ttl: 5, wait: 0 }, async (lease, signal) => { // wait 0: do not queue up
      console.log(`running with token ${lease.token}`);
      await new Promise((resolve, reject) => {                            // the nightly report, say
        const t = setTimeout(resolve, Number(seconds) * 1000);
        signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); });
      });
    });
    console.log('done');
  } catch (e) {
    if (!(e instanceof NotGrantedError)) throw e;
    console.log('skipped: running elsewhere');
  }
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
