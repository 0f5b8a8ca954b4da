/**
 * The integration test a team with an AWS account runs (`npm run integ`): it deploys
 * the construct with its sandbox orchestrator, asks for one tenant through the operator
 * route's function, and waits until the public status route says ready: API Gateway,
 * Lambda, Aurora through the Data API, SQS, the signed trigger and the signed callbacks,
 * for real; then it is destroyed. Laid out as integ-runner expects (integ.*.ts, and the
 * snapshot beside it, which test/cdk/integ-snapshot.test.ts compares offline).
 */
import { App } from 'aws-cdk-lib';
import { defineIntegTest } from './provisioning-handoff-integ.js';

defineIntegTest(new App());
