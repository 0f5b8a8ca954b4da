import { readRunningRuntime, runtimeFilePath } from '../../local/runtime-file.js';
import {
  SANDBOX_MODES,
  type SandboxMode,
  sandboxModeBody,
  switchSandboxMode,
} from '../../local/sandbox-orchestrator.js';
import type { Command } from '../command.js';
import { RefusedError, TransportError, UsageError } from '../errors.js';
import { messageOf } from '../target.js';

export const sandbox: Command = {
  name: 'sandbox',
  synopsis: `sandbox [${SANDBOX_MODES.join('|')}]`,
  summary: 'the local sandbox orchestrator’s mode: show it, or switch it (npm start only)',
  help: `Shows the mode of the sandbox orchestrator the running npm start serves, or switches it,
to walk a branch of the runbook on this machine: ok provisions, fail reports a failed
saga, down answers 503, silent never calls back, slow accepts late, saga reports long
progress, reject answers 422, unauthorized 401, throttle 429 with a Retry-After.
It finds the runtime through DATA_DIR/runtime.json. A stack's sandbox (deployed with
-c sandboxOrchestrator=true) always provisions: its mode is not switched here.`,
  options: [],
  async run(context, args) {
    if (args.options.stack !== undefined) {
      throw new UsageError(
        'sandbox switches the local runtime’s sandbox; a stack’s is set at deploy',
      );
    }
    if (args.positionals.length > 1)
      throw new UsageError(`unexpected argument ${args.positionals[1]}`);
    const [given] = args.positionals;
    const wanted = SANDBOX_MODES.find((mode) => mode === given);
    if (given !== undefined && !wanted) {
      throw new UsageError(`${given} is not a mode: one of ${SANDBOX_MODES.join(', ')}`);
    }
    const runtime = readRunningRuntime(context.io.env);
    if (!runtime) {
      throw new TransportError(
        `no local runtime is running (${runtimeFilePath(context.io.env)}): start it with npm start`,
      );
    }
    if (!runtime.sandboxUrl) {
      throw new RefusedError(
        'the running npm start has no sandbox orchestrator (SANDBOX_ORCHESTRATOR=off): restart it without',
      );
    }
    const { sandboxUrl } = runtime;
    const send = context.collaborators.fetch;
    let mode: SandboxMode;
    try {
      if (wanted) await switchSandboxMode(sandboxUrl, wanted, send);
      // A switch answered 204: the mode is the one asked for.
      mode = wanted ?? sandboxModeBody.parse(await (await send(`${sandboxUrl}/mode`)).json()).mode;
    } catch (error) {
      throw new TransportError(
        `the sandbox orchestrator at ${sandboxUrl} failed: ${messageOf(error)}`,
      );
    }
    context.out.result({ mode, switched: wanted !== undefined }, () =>
      wanted ? `sandbox orchestrator switched to ${mode}` : `sandbox orchestrator: ${mode}`,
    );
  },
};
