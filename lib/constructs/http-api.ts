import type { RemovalPolicy } from 'aws-cdk-lib';
import {
  ApiMapping,
  type CfnStage,
  DomainName,
  HttpApi,
  HttpMethod,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Route } from '../../functions/routes.js';
import type { ProjectFunction } from './project-function.js';

export interface ProvisioningHttpApiProps {
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Serve the API on this domain too, with an ACM certificate for it in the stack's region. */
  readonly customDomain?: { readonly domainName: string; readonly certificate: ICertificate };
}

/** The HTTP API of SPEC 2.1 (routes added by the stack): public routes for Stripe, the orchestrator and the success page; IAM for operators. */
export class ProvisioningHttpApi extends Construct {
  readonly api: HttpApi;
  /** Where callers reach it: the custom domain when there is one, else the execute-api endpoint. */
  readonly url: string;
  /** With a custom domain: the regional name its DNS record (CNAME or alias) must point to. */
  readonly domainTarget: { readonly name: string; readonly hostedZoneId: string } | undefined;
  private readonly iam = new HttpIamAuthorizer();

  constructor(scope: Construct, id: string, props: ProvisioningHttpApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      description:
        'Provisioning hand-off: Stripe webhook, orchestrator callback, status and operator routes',
      createDefaultStage: true,
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const stage = this.api.defaultStage?.node.defaultChild as CfnStage;
    stage.defaultRouteSettings = {
      throttlingRateLimit: props.throttle.rateLimit,
      throttlingBurstLimit: props.throttle.burstLimit,
    };
    stage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      // No query strings, headers or bodies: they can carry session ids and signatures.
      format: JSON.stringify({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        requestTime: '$context.requestTime',
        routeKey: '$context.routeKey',
        status: '$context.status',
        latencyMs: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
        caller: '$context.identity.userArn',
      }),
    };
    const custom = props.customDomain;
    if (custom) {
      const domain = new DomainName(this, 'Domain', custom);
      new ApiMapping(this, 'DomainMapping', { api: this.api, domainName: domain });
      this.url = `https://${custom.domainName}`;
      this.domainTarget = {
        name: domain.regionalDomainName,
        hostedZoneId: domain.regionalHostedZoneId,
      };
    } else {
      this.url = this.api.apiEndpoint;
      this.domainTarget = undefined;
    }
  }

  /** Serves a route of SPEC 2.1 with a function; operator routes require IAM-signed requests. */
  addRoute(route: Route, fn: ProjectFunction): void {
    this.api.addRoutes({
      path: route.path,
      methods: [HttpMethod[route.method]],
      integration: new HttpLambdaIntegration(`${route.method}${route.path}`, fn.fn),
      ...(route.operator ? { authorizer: this.iam } : {}),
    });
  }
}
