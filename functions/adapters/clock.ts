/** The time, injected so the domain's thresholds can be tested without waiting. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
