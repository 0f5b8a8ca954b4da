import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type QuietState, SsmQuietMarker } from '../../functions/adapters/quiet-marker.js';

const NAME = '/provisioning-handoff/test/reconciler-quiet';
const ssm = mockClient(SSMClient);
let stored: string | undefined;

/** An SSM parameter as the service keeps it: what PutParameter wrote, GetParameter reads. */
beforeEach(() => {
  ssm.reset();
  stored = undefined;
  ssm.on(PutParameterCommand).callsFake((input: { Value?: string }) => {
    stored = input.Value;
    return {};
  });
  ssm.on(GetParameterCommand).callsFake(() => ({ Parameter: { Name: NAME, Value: stored } }));
});

function marker() {
  return new SsmQuietMarker(new SSMClient({ region: 'us-east-1' }), NAME);
}

const since = new Date('2026-11-23T09:30:15.250Z');

describe('the reconciler quiet marker in SSM', () => {
  it.each<QuietState>([{ state: 'armed', since }, { state: 'quiet', since }, { state: 'awake' }])(
    'reads back $state as it was written, so an idle system can go quiet',
    async (state) => {
      await marker().write(state);

      expect(await marker().read()).toEqual(state);
    },
  );

  it('keeps the text the stack seeds and operators read: awake, armed <ISO>, quiet <ISO>', async () => {
    await marker().write({ state: 'quiet', since });

    expect(stored).toBe('quiet 2026-11-23T09:30:15.250Z');
    stored = 'awake';
    expect(await marker().read()).toEqual({ state: 'awake' });
  });

  it.each(['garbage', 'quiet', 'quiet yesterday', 'asleep 2026-11-23T09:30:15.250Z', ''])(
    'reads an unreadable value (%j) as awake, so the next tick looks at the database',
    async (value) => {
      stored = value;

      expect(await marker().read()).toEqual({ state: 'awake' });
    },
  );
});
