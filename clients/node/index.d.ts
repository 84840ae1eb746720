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

/** A lease kept by a Session: its deadline is the session's; renew() renews the session. */
export class SessionLease extends Lease {
  readonly session: Session;
}

export interface SessionAcquireOptions {
  /** seconds to wait: 0 (default) tries once, null waits until granted or signal aborts */
  wait?: number | null;
  signal?: AbortSignal | null;
  timeout?: number | null;
}

/**
 * A lock session (lockservice 1.5): one keepalive renews every lock in it;
 * when it is lost every lease in it is lost at the same moment.
 */
export class Session extends Lease {
  readonly id: bigint;
  readonly leases: SessionLease[];
  acquire(name: string, opts?: SessionAcquireOptions): Promise<SessionLease | null>;
  acquireShared(name: string, opts?: SessionAcquireOptions): Promise<SessionLease | null>;
  acquirePermit(name: string, permits: number, opts?: SessionAcquireOptions): Promise<SessionLease | null>;
  acquireAll(names: string[], opts?: SessionAcquireOptions): Promise<SessionLease[] | null>;
  /** end the session and release every lease in it; false when it had already ended */
  close(): Promise<boolean>;
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
  /** exclusive leases of every name, all or nothing (lockservice 1.5), or null: then none is held */
  acquireAll(names: string[], opts?: AcquireOptions): Promise<Lease[] | null>;
  /** open a lock session (lockservice 1.5), kept alive in the background */
  session(opts?: { ttl?: number; holder?: string; timeout?: number | null }): Promise<Session>;
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
