/**
 * The bridge's database sessions, kept as the Data API keeps them: a call outside a
 * transaction gets a session of its own that keeps nothing afterwards; a transaction
 * holds one session across calls until it is committed, rolled back, aborted by an
 * error, or left idle for 3 minutes; a call is cut off after 45 s.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import {
  asDataApiError,
  statementTimeout,
  transactionBusy,
  transactionNotFound,
} from './data-api-errors.js';

export interface SessionLimits {
  /** A call still running after this long fails with StatementTimeoutException (the Data API's 45 s). */
  readonly statementTimeoutMs?: number;
  /** A transaction no call has used for this long is rolled back and forgotten (the Data API's 3 minutes). */
  readonly idleTransactionTimeoutMs?: number;
}

const DATA_API_STATEMENT_TIMEOUT_MS = 45_000;
const DATA_API_IDLE_TRANSACTION_MS = 3 * 60_000;

/**
 * What `DISCARD ALL` does, spelled out because DISCARD ALL cannot run in the implicit
 * transaction of a multi-statement query; then the session goes back to UTC.
 */
const RESET_SESSION = [
  'SET SESSION AUTHORIZATION DEFAULT',
  'RESET ALL',
  'DEALLOCATE ALL',
  'CLOSE ALL',
  'UNLISTEN *',
  'SELECT pg_advisory_unlock_all()',
  'DISCARD PLANS',
  'DISCARD TEMP',
  'DISCARD SEQUENCES',
  "SET TimeZone = 'UTC'",
].join('; ');

interface OpenTransaction {
  readonly connection: pg.PoolClient;
  /** Serverless v2 refuses a second request on a transaction still running one. */
  busy: boolean;
  idleTimer?: NodeJS.Timeout;
}

/** A statement past the call timeout that goes on running (continueAfterTimeout). */
class ContinuingStatement extends Error {
  constructor(readonly finished: Promise<unknown>) {
    super('statement continues after the call timed out');
  }
}

export class DataApiSessions {
  private readonly statementTimeoutMs: number;
  private readonly idleTransactionTimeoutMs: number;
  private readonly utcConnections = new WeakSet<pg.PoolClient>();
  private readonly transactions = new Map<string, OpenTransaction>();
  private readonly continuing = new Set<Promise<unknown>>();

  constructor(
    private readonly pool: pg.Pool,
    limits: SessionLimits = {},
  ) {
    this.statementTimeoutMs = limits.statementTimeoutMs ?? DATA_API_STATEMENT_TIMEOUT_MS;
    this.idleTransactionTimeoutMs = limits.idleTransactionTimeoutMs ?? DATA_API_IDLE_TRANSACTION_MS;
  }

  /** Runs one autocommitted call on a session of its own. */
  async autocommit<T>(work: (connection: pg.ClientBase) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    try {
      const result = await work(connection);
      await this.release(connection);
      return result;
    } catch (error) {
      if (error instanceof ContinuingStatement) {
        this.track(error.finished.finally(() => this.release(connection)));
        throw statementTimeout();
      }
      await this.release(connection);
      throw asDataApiError(error);
    }
  }

  async begin(): Promise<string> {
    const connection = await this.connect();
    try {
      await connection.query('BEGIN');
    } catch (error) {
      connection.release();
      throw asDataApiError(error);
    }
    const transactionId = randomBytes(96).toString('base64');
    const transaction: OpenTransaction = { connection, busy: false };
    this.transactions.set(transactionId, transaction);
    this.armIdleExpiry(transactionId, transaction);
    return transactionId;
  }

  /**
   * Runs one call inside an open transaction. Any error ends the transaction: Aurora
   * rolls it back and forgets its id ("aborted due to an error from a previous call").
   * A statement that continues past the call timeout keeps the transaction busy until
   * it ends; if it fails, the transaction is aborted then.
   */
  async inTransaction<T>(
    transactionId: string,
    work: (connection: pg.ClientBase) => Promise<T>,
  ): Promise<T> {
    const transaction = this.findTransaction(transactionId);
    if (transaction.busy) throw transactionBusy();
    transaction.busy = true;
    clearTimeout(transaction.idleTimer);
    try {
      const result = await work(transaction.connection);
      this.settle(transactionId, transaction);
      return result;
    } catch (error) {
      if (error instanceof ContinuingStatement) {
        this.track(
          error.finished.then(
            () => this.settle(transactionId, transaction),
            () => this.abort(transactionId, transaction),
          ),
        );
        throw statementTimeout();
      }
      await this.abort(transactionId, transaction);
      throw asDataApiError(error);
    }
  }

  /** Commits or rolls back a transaction; either way its id is forgotten. */
  async end(transactionId: string, verb: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const transaction = this.findTransaction(transactionId);
    if (transaction.busy) throw transactionBusy();
    this.transactions.delete(transactionId);
    clearTimeout(transaction.idleTimer);
    await this.endTransaction(transaction, verb);
  }

  /**
   * The Data API's call timeout: past it the call fails with StatementTimeoutException
   * and the statement is cancelled ("the data isn't inserted"), unless
   * `continueAfterTimeout` asked it to go on running, holding its session until done.
   */
  async withinCallTimeout<T>(
    connection: pg.ClientBase,
    running: Promise<T>,
    continueAfterTimeout: boolean,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => {
      timer = setTimeout(() => resolve('timed out'), this.statementTimeoutMs);
    });
    const outcome = await Promise.race([
      running.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      timedOut,
    ]);
    clearTimeout(timer);
    if (outcome !== 'timed out') {
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    }
    if (continueAfterTimeout) throw new ContinuingStatement(running);
    const pid = (connection as unknown as { processID?: number }).processID;
    await this.pool.query('SELECT pg_cancel_backend($1)', [pid]);
    await running.catch(() => undefined);
    throw statementTimeout();
  }

  /** Rolls back every open transaction and waits for the statements still running. */
  async close(): Promise<void> {
    const open = [...this.transactions.values()];
    this.transactions.clear();
    for (const transaction of open) {
      clearTimeout(transaction.idleTimer);
      await this.endTransaction(transaction, 'ROLLBACK').catch(() => undefined);
    }
    await Promise.allSettled([...this.continuing]);
  }

  /** A pool connection whose session runs in UTC, as every Data API session does. */
  private async connect(): Promise<pg.PoolClient> {
    const connection = await this.pool.connect();
    if (!this.utcConnections.has(connection)) {
      try {
        await connection.query("SET TimeZone = 'UTC'");
      } catch (error) {
        connection.release(error instanceof Error ? error : true);
        throw error;
      }
      this.utcConnections.add(connection);
    }
    return connection;
  }

  /**
   * Gives a session back with nothing of the last call left on it (settings, session
   * advisory locks, temporary tables, prepared statements): the service may hand the
   * next request another connection, or reset this one.
   */
  private release(connection: pg.PoolClient): Promise<void> {
    return connection.query(RESET_SESSION).then(
      () => connection.release(),
      (error: unknown) => connection.release(error instanceof Error ? error : true),
    );
  }

  /** The transaction is free for its next call, and idle from now on. */
  private settle(transactionId: string, transaction: OpenTransaction): void {
    transaction.busy = false;
    this.armIdleExpiry(transactionId, transaction);
  }

  private async abort(transactionId: string, transaction: OpenTransaction): Promise<void> {
    transaction.busy = false;
    if (this.transactions.get(transactionId) !== transaction) return;
    this.transactions.delete(transactionId);
    await this.endTransaction(transaction, 'ROLLBACK').catch(() => undefined);
  }

  /** "A transaction times out if no calls use its transaction ID in three minutes": rolled back. */
  private armIdleExpiry(transactionId: string, transaction: OpenTransaction): void {
    if (this.transactions.get(transactionId) !== transaction) return;
    clearTimeout(transaction.idleTimer);
    transaction.idleTimer = setTimeout(() => {
      if (!transaction.busy) this.track(this.abort(transactionId, transaction));
    }, this.idleTransactionTimeoutMs);
    transaction.idleTimer.unref();
  }

  private findTransaction(transactionId: string): OpenTransaction {
    const transaction = this.transactions.get(transactionId);
    if (!transaction) throw transactionNotFound(transactionId);
    return transaction;
  }

  /** Ends a transaction's session work and gives its connection back to the pool, reset. */
  private async endTransaction(
    transaction: OpenTransaction,
    verb: 'COMMIT' | 'ROLLBACK',
  ): Promise<void> {
    try {
      await transaction.connection.query(verb);
    } catch (error) {
      transaction.connection.release(error instanceof Error ? error : true);
      throw asDataApiError(error);
    }
    await this.release(transaction.connection);
  }

  /** Work that outlives the call that started it; `close` waits for it. */
  private track(work: Promise<unknown>): void {
    const settled = work.catch(() => undefined);
    this.continuing.add(settled);
    void settled.finally(() => this.continuing.delete(settled));
  }
}
