import type { IdleHour, Journey } from './flows.js';

/**
 * What checkouts cost, derived from the counted round trips of one checkout's journey
 * and stated assumptions, at us-east-1 list prices (check the current ones). The
 * request charges are per checkout; Aurora's capacity is per month and depends on how
 * checkouts arrive, so it is given for stated arrival patterns.
 */

export const PRICES = {
  lambdaRequest: 0.2 / 1e6,
  /** arm64, per GB-second. */
  lambdaGbSecond: 0.0000133334,
  httpApiRequest: 1.0 / 1e6,
  dataApiRequest: 0.35 / 1e6,
  sqsFifoRequest: 0.5 / 1e6,
  eventBridgeEvent: 1.0 / 1e6,
  /** Aurora Serverless v2 (Aurora Standard), per ACU-hour. */
  acuHour: 0.12,
} as const;

export const ASSUMPTIONS = {
  /** The orchestrator's reports per checkout: two progress callbacks and the final one (as the sandbox does). */
  callbacks: 3,
  /** The success page polls once a second while it moves: a 15 s saga. */
  statusPolls: 15,
  /** Milliseconds billed per invocation: an HTTP route of one Data API call, the consumer with its trigger POST. */
  httpRouteMs: 60,
  consumerMs: 400,
  /** Memory of each function, as the stack sets it (MB). */
  webhookMb: 512,
  callbackMb: 512,
  statusMb: 256,
  consumerMb: 256,
  /** SQS requests per message: send, receive, delete. */
  sqsRequests: 3,
  /** Lifecycle events per checkout: job.recorded and job.provisioned. */
  events: 2,
  /** Aurora Serverless v2's capacity when awake at its floor (ACU). */
  floorAcu: 0.5,
  /** An isolated checkout wakes Aurora for its journey and the reconciler's next tick: twice ~5.5 min. */
  isolatedWakeHours: (2 * 5.5) / 60,
} as const;

export interface CheckoutCost {
  readonly lambda: number;
  readonly httpApi: number;
  readonly dataApi: number;
  readonly sqs: number;
  readonly eventBridge: number;
  readonly total: number;
  readonly dataApiCalls: number;
  readonly invocations: number;
}

/** The request charges of one checkout, from the counted journey. */
export function perCheckout(journey: Journey): CheckoutCost {
  const a = ASSUMPTIONS;
  const dataApiCalls =
    journey.webhook +
    journey.handoff +
    a.callbacks * journey.callback +
    a.statusPolls * journey.status;
  const httpRequests = 1 + a.callbacks + a.statusPolls;
  const invocations = httpRequests + 1;
  const gbSeconds =
    (a.httpRouteMs / 1000) *
      ((a.webhookMb + a.callbacks * a.callbackMb + a.statusPolls * a.statusMb) / 1024) +
    (a.consumerMs / 1000) * (a.consumerMb / 1024);
  const lambda = invocations * PRICES.lambdaRequest + gbSeconds * PRICES.lambdaGbSecond;
  const httpApi = httpRequests * PRICES.httpApiRequest;
  const dataApi = dataApiCalls * PRICES.dataApiRequest;
  const sqs = a.sqsRequests * PRICES.sqsFifoRequest;
  const eventBridge = a.events * PRICES.eventBridgeEvent;
  return {
    lambda,
    httpApi,
    dataApi,
    sqs,
    eventBridge,
    total: lambda + httpApi + dataApi + sqs + eventBridge,
    dataApiCalls,
    invocations,
  };
}

/** Aurora for a month of `checkouts`: spread evenly it never pauses below ~8,000 a month. */
export function auroraMonth(checkouts: number): { acuHours: number; dollars: number } {
  const hoursInMonth = 730;
  const isolated = checkouts * ASSUMPTIONS.isolatedWakeHours;
  const awake = Math.min(hoursInMonth, isolated);
  const acuHours = awake * ASSUMPTIONS.floorAcu;
  return { acuHours, dollars: acuHours * PRICES.acuHour };
}

/** Data API calls in an idle month: the first tick of each idle period only (one a day, say). */
export function idleMonthDataApiCalls(idle: IdleHour): { before: number; after: number } {
  return { before: idle.withoutMarker * 730, after: idle.firstTick * 30 };
}
