import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';

/** The secrets the product reads (SPEC 2.7). */
export type SecretName =
  | 'stripeWebhookSecrets'
  | 'stripeApiKey'
  | 'triggerSecret'
  | 'callbackSecret';

/**
 * Where secret values come from: Secrets Manager in AWS, environment variables
 * locally. A secret that is unset or blank answers undefined, so callers can fall
 * back or answer 503. Values are never logged.
 */
export interface SecretSource {
  get(name: SecretName): Promise<string | undefined>;
}

/** Reads secrets by ARN through Powertools, cached for `maxAgeSeconds` so rotation lands within it. */
export class SecretsManagerSource implements SecretSource {
  private readonly provider: SecretsProvider;

  constructor(
    private readonly arns: Partial<Record<SecretName, string>>,
    client?: SecretsManagerClient,
    private readonly maxAgeSeconds = 300,
  ) {
    this.provider = new SecretsProvider(client ? { awsSdkV3Client: client } : {});
  }

  async get(name: SecretName): Promise<string | undefined> {
    const arn = this.arns[name];
    if (!arn) return undefined;
    try {
      const value = await this.provider.get(arn, { maxAge: this.maxAgeSeconds });
      return typeof value === 'string' && value.trim() ? value.trim() : undefined;
    } catch (error) {
      // A secret created without a value yet is "not configured", not a fault.
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}

/** Local runtime and tests: the same names as environment variables (SPEC 2.7). */
export class EnvironmentSecretSource implements SecretSource {
  private static readonly VARIABLES: Record<SecretName, string> = {
    stripeWebhookSecrets: 'STRIPE_WEBHOOK_SECRET',
    stripeApiKey: 'STRIPE_API_KEY',
    triggerSecret: 'PROVISIONING_TRIGGER_SECRET',
    callbackSecret: 'PROVISIONING_CALLBACK_SECRET',
  };

  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  async get(name: SecretName): Promise<string | undefined> {
    const value = this.env[EnvironmentSecretSource.VARIABLES[name]]?.trim();
    return value ? value : undefined;
  }
}

/** Several webhook secrets may be live during a rotation: one value, comma or whitespace separated. */
export function splitSecretList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter(Boolean);
}

/** Which secret signs callbacks, and its value: never logged. */
export interface CallbackSigner {
  readonly name: 'callbackSecret' | 'triggerSecret';
  readonly secret: string;
}

/**
 * The secret a callback is signed with: the callback secret, or the trigger secret while
 * none is set (the route verifies with the same one). During a rotation the secret holds
 * "new,old": sign with the new one, which the route also accepts.
 */
export async function callbackSigningSecret(
  secrets: SecretSource,
): Promise<CallbackSigner | undefined> {
  const [callback] = splitSecretList(await secrets.get('callbackSecret'));
  if (callback) return { name: 'callbackSecret', secret: callback };
  const [trigger] = splitSecretList(await secrets.get('triggerSecret'));
  if (trigger) return { name: 'triggerSecret', secret: trigger };
  return undefined;
}

function isNotFound(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause.name === 'ResourceNotFoundException') return true;
  }
  return false;
}

/** A database login as RDS keeps it in Secrets Manager (the Data API reads the same secret). */
const databaseLogin = z.object({ username: z.string().min(1), password: z.string().min(1) });

/**
 * The password of a database role from its secret, after checking that the secret is
 * that role's. Never logged; an error names the secret's ARN, never its content.
 */
export async function readRolePassword(
  client: SecretsManagerClient,
  arn: string,
  role: string,
): Promise<string> {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  let login: z.infer<typeof databaseLogin>;
  try {
    login = databaseLogin.parse(JSON.parse(SecretString ?? ''));
  } catch {
    throw new Error(`secret ${arn} is not a database login (JSON with username and password)`);
  }
  if (login.username !== role) {
    throw new Error(`secret ${arn} is the login of another user than ${role}`);
  }
  return login.password;
}
