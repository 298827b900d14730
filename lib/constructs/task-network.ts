import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { NetworkConfig } from '../config';

export interface TaskNetworkProps {
  readonly network: NetworkConfig;
  /** Retention of the VPC flow logs (new VPC only). */
  readonly logRetention: logs.RetentionDays;
}

/**
 * Where the Fargate tasks run: an existing VPC and subnets imported by attributes (no lookup), or, for a greenfield
 * deploy, a small VPC of two AZs with public and private subnets, one NAT gateway, an S3 gateway endpoint (backups
 * travel to S3 without NAT charges) and flow logs.
 */
export class TaskNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  /** The subnets tasks are launched in. */
  readonly subnets: ec2.SubnetSelection;
  /** Whether tasks get a public IP (existing public subnets without NAT only). */
  readonly assignPublicIp: boolean;

  constructor(scope: Construct, id: string, props: TaskNetworkProps) {
    super(scope, id);
    const network = props.network;

    if (network.mode === 'existing') {
      this.assignPublicIp = network.assignPublicIp;
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: network.vpcId,
        availabilityZones: network.availabilityZones,
        ...(network.assignPublicIp ? { publicSubnetIds: network.subnetIds } : { privateSubnetIds: network.subnetIds }),
      });
      this.subnets = { subnetType: network.assignPublicIp ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS };
      Annotations.of(this.vpc).acknowledgeWarning(
        '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        'Tasks only launch into these subnets; nothing here reads or adds routes, so route table ids are not needed.',
      );
      return;
    }

    this.assignPublicIp = false;
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(network.cidr),
      maxAzs: 2,
      natGateways: network.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        all: { trafficType: ec2.FlowLogTrafficType.ALL, destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs) },
      },
    });
    this.subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  }
}
