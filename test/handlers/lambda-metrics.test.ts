import {
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DataApiExecutor } from '../../functions/db/data-api-executor.js';
import { reportDataApiRetry } from '../../functions/db/data-api-faults.js';
import { createStatusHandler } from '../../functions/handlers/status.js';
import { PowertoolsTelemetry } from '../../functions/observability.js';
import { TEST_DATA_API_TARGET } from '../support/executors.js';
import { lambdaContext } from '../support/handler-harness.js';
import { httpEvent } from '../support/http-events.js';

const rds = mockClient(RDSDataClient);
let stdout: string[];
let stderr: string[];

beforeEach(() => {
  rds.reset();
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** The status route as its Lambda entry wires it: Data API executor and Powertools metrics. */
function statusRoute() {
  const telemetry = new PowertoolsTelemetry();
  const db = new DataApiExecutor(new RDSDataClient({ region: 'us-east-1' }), TEST_DATA_API_TARGET, {
    retry: { baseDelayMs: 10, maxDelayMs: 100, budgetMs: 1_000 },
    retryDeps: { sleep: async () => {}, random: () => 0.5, now: () => 0 },
    onRetry: reportDataApiRetry(telemetry, { warn: () => {} }),
  });
  return createStatusHandler({ db, telemetry });
}

function pollStatus() {
  return statusRoute()(
    httpEvent({ method: 'GET', path: '/api/provisioning/status?session_id=cs_test_metrics' }),
    lambdaContext(),
  );
}

describe('metrics in Lambda', () => {
  it('a status poll that waited for Aurora to resume publishes DatabaseResuming before it returns', async () => {
    rds
      .on(ExecuteStatementCommand)
      .rejectsOnce(new DatabaseResumingException({ message: 'resuming', $metadata: {} }))
      .resolves({ records: [] });

    const answer = await pollStatus();

    expect(answer.statusCode).toBe(200);
    const documents = stdout.map((line) => JSON.parse(line));
    expect(documents).toContainEqual(
      expect.objectContaining({ DatabaseResuming: 1, DataApiRetryWaitMs: expect.any(Number) }),
    );
  });

  it('an invocation that recorded no metric publishes nothing and warns of nothing', async () => {
    rds.on(ExecuteStatementCommand).resolves({ records: [] });

    const answer = await pollStatus();

    expect(answer.statusCode).toBe(200);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([]);
  });
});
