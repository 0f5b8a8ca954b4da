/**
 * The exceptions the Data API bridge answers, shaped as the RDS Data client raises
 * them. BadRequestException is documented as Serverless v1 only; on v2 / provisioned,
 * SQL errors arrive as DatabaseErrorException (captured live), multi-statements as
 * ValidationException (AWS docs) and an unknown transaction as
 * TransactionNotFoundException (SDK model). Request-shape errors no source pins down
 * for v2 stay BadRequestException.
 */
import {
  BadRequestException,
  DatabaseErrorException,
  DatabaseResumingException,
  RDSDataServiceException,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
} from '@aws-sdk/client-rds-data';
import pg from 'pg';

const metadata = { $metadata: {} };

export function badRequest(message: string): BadRequestException {
  return new BadRequestException({ message, ...metadata });
}

/**
 * What the bridge refuses beyond the documented behaviour, because the service's
 * handling of it is undocumented: the message says it is the bridge's own rule.
 */
export function strictRefusal(message: string): BadRequestException {
  return badRequest(`DataApiBridge (strict): ${message}`);
}

/** v2 answers database failures as DatabaseErrorException: `ERROR: …; Position: n; SQLState: x`. */
function databaseError(error: pg.DatabaseError): DatabaseErrorException {
  const position = error.position ? `; Position: ${error.position}` : '';
  const message = `ERROR: ${error.message}${position}; SQLState: ${error.code ?? 'XX000'}`;
  return new DatabaseErrorException({ message, ...metadata });
}

export function transactionBusy(): DatabaseErrorException {
  return new DatabaseErrorException({
    message: 'Transaction is still running a query',
    ...metadata,
  });
}

/** The service error behind "ValidationException: Multistatements aren't supported." (not modelled by the SDK). */
export function validationException(message: string): RDSDataServiceException {
  return new RDSDataServiceException({
    name: 'ValidationException',
    $fault: 'client',
    message,
    ...metadata,
  });
}

export function transactionNotFound(transactionId: string): TransactionNotFoundException {
  return new TransactionNotFoundException({
    message: `Transaction ${transactionId} is not found. It may have expired, been ended by CommitTransaction or RollbackTransaction, or been aborted by an error from a previous call.`,
    ...metadata,
  });
}

export function resuming(): DatabaseResumingException {
  return new DatabaseResumingException({
    message:
      'The Aurora DB instance db-bridge is resuming after being auto-paused. Please wait a few seconds and try again.',
    ...metadata,
  });
}

/** "By default, the Data API cancels an operation and returns a timeout error" after 45 s. */
export function statementTimeout(): StatementTimeoutException {
  return new StatementTimeoutException({ message: 'Request timed out', ...metadata });
}

export function unsupportedResult(message: string): UnsupportedResultException {
  return new UnsupportedResultException({ message, ...metadata });
}

/** Turns what PostgreSQL raised into the Data API's exception; anything else passes unchanged. */
export function asDataApiError(error: unknown): unknown {
  return error instanceof pg.DatabaseError ? databaseError(error) : error;
}
