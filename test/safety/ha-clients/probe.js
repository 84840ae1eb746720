'use strict';
// The Node.js package's probe for test/safety/ha-clients.sh.
//
//   node probe.js hold NAME TTL HOLDER STOPFILE
//   node probe.js acquire NAME TTL WAIT TIMEOUT HOLDER GOFILE
//
// The conninfo comes from LS_CONNINFO, the package from LS_NODE_CLIENT (its
// directory); times are in seconds.  Every line printed is
// "EPOCH EVENT [DETAILS]" (see ha-clients.sh): hold takes NAME with the
// keepalive on and says every 100 ms whether the package counts it as held,
// until it is lost or STOPFILE exists (then releases it); acquire makes a
// client that has used a connection, says "ready", waits for GOFILE and
// makes one acquire call.

const fs = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');
const ls = require(process.env.LS_NODE_CLIENT);

function say(...words) {
  console.log([(Date.now() / 1000).toFixed(6), ...words].join(' '));
}

function outcome(err) {
  return err instanceof ls.OutcomeUnknownError ? 'unknown' : 'error';
}

async function hold(client, name, ttl, holder, stopfile) {
  const lease = await client.acquire(name, { ttl, wait: 30, holder });
  if (lease === null) { say('notgranted'); return 1; }
  say('granted', lease.token);
  while (!fs.existsSync(stopfile)) {
    if (lease.isLost || performance.now() >= lease.deadline) {
      say('lost', lease.token, lease.lostReason ?? '');
      return 3;
    }
    say('held', lease.token);
    await sleep(100);
  }
  try {
    say('released', await lease.release());
  } catch (err) {
    say('released', 'error', err.constructor.name, err.message);
  }
  return 0;
}

async function acquire(client, name, ttl, wait, timeout, holder, gofile) {
  await client.holders(name);
  say('ready');
  while (!fs.existsSync(gofile)) await sleep(20);
  const t0 = performance.now();
  const took = () => ((performance.now() - t0) / 1000).toFixed(3);
  try {
    const lease = await client.acquire(name, { ttl, wait, timeout, holder, keepalive: false });
    if (lease === null) { say('notgranted', took()); return 1; }
    say('granted', took(), lease.token);
    return 0;
  } catch (err) {
    say(outcome(err), took(), err.constructor.name, err.message);
    return 1;
  }
}

async function main(argv) {
  const client = new ls.Client(process.env.LS_CONNINFO);
  try {
    const [mode, name] = argv;
    if (mode === 'hold' && argv.length === 5) return await hold(client, name, Number(argv[2]), argv[3], argv[4]);
    if (mode === 'acquire' && argv.length === 7) {
      return await acquire(client, name, Number(argv[2]), Number(argv[3]), Number(argv[4]), argv[5], argv[6]);
    }
    console.error('usage: probe.js hold|acquire ...');
    return 2;
  } finally {
    client.end().catch(() => {});
  }
}

main(process.argv.slice(2)).then((rc) => process.exit(rc), (err) => {
  say('error', '0', err.constructor.name, err.message);
  process.exit(1);
});
