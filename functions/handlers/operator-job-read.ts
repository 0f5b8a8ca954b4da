/**
 * The operator's job read as a Lambda entry of its own, so its bundle carries the Data
 * API client only (`operator-jobs.ts` also serves the create route, which sends to the
 * queue and the event bus).
 */
export { readHandler as handler } from './operator-jobs.js';
