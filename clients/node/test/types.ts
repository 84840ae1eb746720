// Type-checked (tsc --strict, run-tests.sh), never run: the README's uses
// written against index.d.ts, so a declaration that drifts from the API
// fails the build.
import * as pg from 'pg';
import {
  Client, Lease, createPool, LockServiceError, NotGrantedError, LeaseLostError,
  OutcomeUnknownError, CommitUnconfirmedError, HolderInfo,
} from '..';

export async function uses(pool: pg.Pool): Promise<void> {
  const client = new Client(pool, { margin: 1 });
  const lease: Lease | null = await client.acquire('job', { ttl: 15, wait: 0.5, timeout: 5, holder: 'h' });
  if (lease !== null) {
    const token: bigint = lease.token;
    const reason: string = await Promise.race([lease.lost, Promise.resolve('held')]);
    lease.throwIfLost();
    const renewed: boolean = await lease.renew(10);
    const db = await pool.connect();
    try {
      const n: number = await lease.fenced(db, async (tx) => (await tx.query('SELECT 1')).rowCount ?? 0, 'reports');
      const held: boolean = await lease.check(db);
      void [token, reason, renewed, n, held];
    } finally {
      db.release();
    }
    await lease.release();
  }
  const result: string = await client.run('nightly', { ttl: 15, wait: null }, async (l: Lease, signal: AbortSignal) => {
    signal.throwIfAborted();
    return l.holder;
  });
  const leader: string | null = await client.leader('scheduler');
  const elected: Lease | null = await client.campaign('scheduler', 'node-a', { ttl: 10, wait: null });
  const holders: HolderInfo[] = await client.holders('job');
  const permit: Lease | null = await client.acquirePermit('pool', 3, { ttl: 30 });
  const shared: Lease | null = await client.acquireShared('config', { ttl: 30 });
  void [result, leader, elected, holders, permit, shared];
}

export async function fromConninfo(): Promise<void> {
  const client = new Client('host=n1,n2 dbname=app user=app connect_timeout=2 target_session_attrs=read-write');
  await client.end();
  const pool: pg.Pool = createPool('postgresql://app@n1,n2/app', { max: 4 });
  await new Client(pool).acquire('job');
}

export function classify(e: unknown): string {
  if (e instanceof CommitUnconfirmedError) return 'unconfirmed';
  if (e instanceof OutcomeUnknownError) return 'unknown';
  if (e instanceof LeaseLostError || e instanceof NotGrantedError) return e.message;
  if (e instanceof LockServiceError) return e.code ?? 'client';
  return 'other';
}
