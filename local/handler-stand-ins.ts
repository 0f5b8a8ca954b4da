import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Log } from '../functions/services/dependencies.js';

/**
 * What Lambda hands a function, for calling a handler outside it (the local runtime, the
 * bench, the tests): an invocation context and a log that keeps quiet.
 */

/**
 * The context of one invocation of `name`, with the fields handlers and Powertools read.
 * `remaining` is the function's timeout in milliseconds, counted down from now on the
 * wall clock, or how much is left, asked on each call (a virtual clock's reading).
 */
export function lambdaContext(name: string, remaining: number | (() => number)): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `local-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:local-${name}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/local/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: typeof remaining === 'number' ? countdown(remaining) : remaining,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function countdown(ms: number): () => number {
  const deadline = Date.now() + ms;
  return () => Math.max(0, deadline - Date.now());
}

/** A log for runs whose output nobody reads (a measurement, a fuzz run). */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
