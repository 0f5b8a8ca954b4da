import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { type App, Duration, Fn, Stack } from 'aws-cdk-lib';
import { ProvisioningHandoff } from '../../lib/index.js';

/** What API Gateway hands the operator route's function for an IAM-signed request. */
const OPERATOR_REQUEST = {
  version: '2.0',
  routeKey: 'POST /api/internal/provisioning/jobs',
  rawPath: '/api/internal/provisioning/jobs',
  rawQueryString: '',
  headers: { 'content-type': 'application/json', 'idempotency-key': 'integ-test-tenant' },
  requestContext: {
    accountId: 'integ',
    apiId: 'integ',
    authorizer: { iam: { userArn: 'arn:aws:iam::000000000000:role/integ-runner' } },
    domainName: 'integ',
    domainPrefix: 'integ',
    http: {
      method: 'POST',
      path: '/api/internal/provisioning/jobs',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'integ-runner',
    },
    requestId: 'integ',
    routeKey: 'POST /api/internal/provisioning/jobs',
    stage: '$default',
    time: '01/Jan/2026:00:00:00 +0000',
    timeEpoch: 1767225600000,
  },
  body: JSON.stringify({
    package_slug: 'integ',
    customer_email: 'integ-test@example.com',
    reason: 'integration test',
  }),
  isBase64Encoded: false,
};

/**
 * The integration test: the construct with its sandbox orchestrator in a stack of its
 * own, and the assertions integ-tests-alpha deploys beside it (custom resources that
 * fail the deployment when an expectation is not met).
 */
export function defineIntegTest(app: App): IntegTest {
  const stack = new Stack(app, 'ProvisioningHandoffInteg', {
    description: 'Provisioning hand-off integration test (npm run integ deploys and destroys it)',
  });
  const handoff = new ProvisioningHandoff(stack, 'Handoff', {
    stage: 'integ',
    sandboxOrchestrator: true,
  });
  const integ = new IntegTest(app, 'ProvisioningHandoff', { testCases: [stack] });

  // A package the operator route can sell: a fresh database has an empty catalogue.
  const catalogue = integ.assertions.awsApiCall('RDSData', 'executeStatement', {
    resourceArn: handoff.database.cluster.clusterArn,
    secretArn: handoff.database.credentials.secretArn,
    database: handoff.database.databaseName,
    sql: "INSERT INTO packages (slug, tier, tokens_quota) VALUES ('integ', 'integ', 1000) ON CONFLICT (slug) DO NOTHING",
  });
  catalogue.provider.addToRolePolicy({
    Effect: 'Allow',
    Action: ['secretsmanager:GetSecretValue'],
    Resource: [handoff.database.credentials.secretArn],
  });

  const requested = integ.assertions.invokeFunction({
    functionName: handoff.functions.jobCreate.functionName,
    payload: JSON.stringify(OPERATOR_REQUEST),
  });
  requested.expect(ExpectedResult.objectLike({ Payload: { statusCode: 202 } }));

  // The success page's view, through the public route: ready once the sandbox called back.
  const ready = integ.assertions.httpApiCall(
    Fn.join('', [handoff.api.url, requested.getAttString('Payload.body.statusUrl')]),
  );
  ready
    .expect(ExpectedResult.objectLike({ status: 200, body: { state: 'ready' } }))
    .waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(15) });

  catalogue.next(requested).next(ready);
  return integ;
}
