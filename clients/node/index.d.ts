import type { Pool, PoolClient, PoolConfig, Client as PgClient } from 'pg';

export type Kind = 'exclusive' | 'shared' | 'permit';

export interface AcquireOptions {
  /** seconds, > 0; default 30 */
  ttl?: number;
  /** seconds to wait: 0 (default) tries once, null waits until granted or signal aborts */
  wait?: number | null;
  /** default: host:pid:random, the same for every retry of this acquire */
  holder?: string;
  /** renew every ttl/3 in the background (default true) */
  keepalive?: boolean;
  /** aborting it cancels a waiting acquire on the server */
  signal?: AbortSignal | null;
  /**
   * seconds the whole call may take, reconnections and a synchronous
   * standby's confirmation included (default: wait + 5; none with wait null);
   * past it the call rejects with OutcomeUnknownError
   */
  timeout?: number | null;
}

export interface HolderInfo {
  holder: string;
  token: bigint;
  kind: Kind;
  granted_at: Date;
  expires_at: Date;
}

type Queryable = PoolClient | PgClient;

export class Lease {
  readonly name: string;
  readonly holder: string;
  readonly token: bigint;
  readonly kind: Kind;
  ttl: number;
  readonly margin: number;
  /** aborted when the lease is lost (reason: a LeaseLostError) or released */
  readonly signal: AbortSignal;
  /** resolves with the reason when the lease is lost */
  readonly lost: Promise<string>;
  lostReason: string | null;
  readonly isLost: boolean;
  /** performance.now() time at which the lease counts as lost without a confirmed renewal */
  readonly deadline: number;
  throwIfLost(): void;
  renew(ttl?: number | null): Promise<boolean>;
  release(): Promise<boolean>;
  resign(): Promise<boolean>;
  fenced<T>(pgClient: Queryable, fn: (tx: Queryable) => Promise<T>, resource?: string): Promise<T>;
  check(pgClient: Queryable): Promise<boolean>;
  [Symbol.asyncDispose](): Promise<boolean>;
}

/**
 * A pg.Pool over a libpq conninfo (keywords or a postgresql:// URL, several
 * hosts allowed): each new connection goes to the first host, in order, that
 * answers within connect_timeout (default 10 s) and, with
 * target_session_attrs=read-write, accepts writes.
 */
export function createPool(conninfo: string, poolOptions?: PoolConfig): Pool;

export class Client {
  /** pool: a pg.Pool, or a libpq conninfo (see createPool) */
  constructor(pool: Pool | string, options?: { margin?: number | null });
  /** ends the pool the client made from a conninfo */
  end(): Promise<void>;
  acquire(name: string, opts?: AcquireOptions): Promise<Lease | null>;
  acquireShared(name: string, opts?: AcquireOptions): Promise<Lease | null>;
  acquirePermit(name: string, permits: number, opts?: AcquireOptions): Promise<Lease | null>;
  run<T>(name: string, opts: AcquireOptions, fn: (lease: Lease, signal: AbortSignal) => Promise<T>): Promise<T>;
  campaign(name: string, holder: string, opts?: { ttl?: number; wait?: number | null; signal?: AbortSignal | null }): Promise<Lease | null>;
  holders(name: string): Promise<HolderInfo[]>;
  leader(name: string): Promise<string | null>;
}

export class LockServiceError extends Error {
  /** the SQLSTATE when the server reported the error */
  code?: string;
}
export class NotGrantedError extends LockServiceError {}
export class LeaseLostError extends LockServiceError {}
export class OutcomeUnknownError extends LockServiceError {}
/** the reply came with a server WARNING (a cancelled synchronous-replication wait): never a success */
export class CommitUnconfirmedError extends OutcomeUnknownError {}
