import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type DnsWeights as Weights, type Side, type WeightStep, dnsWeights } from "../lib/dns-weights";

/** One side's record set: its set identifier and values. */
export interface WeightedSide {
  readonly setIdentifier: string;
  readonly records: readonly string[];
}

/**
 * DnsWeightsArgs describe the weighted record pair and where traffic should go.
 */
export interface DnsWeightsArgs {
  /** The existing hosted zone, referenced by id (never created or deleted here). */
  readonly zoneId: pulumi.Input<string>;
  /** The record name users resolve, e.g. `db.example.com` or `app.example.com`. */
  readonly name: string;
  readonly type: "A" | "AAAA" | "CNAME";
  /** One TTL for both records: Route53 requires the same TTL across a weighted set. */
  readonly ttl: number;
  readonly idc: WeightedSide;
  readonly aws: WeightedSide;
  /** The side this stack makes live. */
  readonly target: Side;
  /** The gradual plan (relative weights per step); `[{ target: 100, source: 0 }]` is the one-shot flip. */
  readonly weightSteps: readonly WeightStep[];
  /** The 1-based step to apply now; the last step when undefined. */
  readonly step?: number;
}

/**
 * How long a weight change may take to reach every Route53 server. aws.route53.Record waits for
 * it already: terraform-provider-aws (internal/service/route53/record.go) follows every
 * ChangeResourceRecordSets, the UPSERT of a create or an update alike, with
 * `waitChangeInsync` (GetChange until INSYNC), bounded by the resource's create/update timeout
 * (30 min by default). Pulumi's customTimeouts set that bound: 10 minutes, inside the
 * normalisation phase's 30-minute budget. Past it the record fails, and nothing after the
 * dns-weights step (maintenance-off, rds-power) runs.
 */
export const DNS_INSYNC_TIMEOUT = "10m";

/**
 * The DnsWeights component sets the weights of the two weighted Route53 records (IDC, AWS).
 * Both stacks write the same two records: `allowOverwrite` makes a create an UPSERT instead of
 * failing on the record the other stack wrote, and the records are retained on destroy.
 */
export class DnsWeights extends pulumi.ComponentResource {
  /** The weights applied, `{ idc, aws }`. */
  public readonly weights: Weights;
  public readonly records: Record<Side, aws.route53.Record>;

  constructor(name: string, args: DnsWeightsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollback:traffic:DnsWeights", name, {}, opts);
    this.weights = dnsWeights(args.target, args);

    const record = (side: Side, dependsOn: pulumi.ResourceOptions["dependsOn"]) =>
      new aws.route53.Record(
        `${name}-${side}`,
        {
          zoneId: args.zoneId,
          name: args.name,
          type: args.type,
          ttl: args.ttl,
          records: [...args[side].records],
          setIdentifier: args[side].setIdentifier,
          weightedRoutingPolicies: [{ weight: this.weights[side] }],
          allowOverwrite: true,
        },
        { parent: this, dependsOn, retainOnDelete: true, customTimeouts: { create: DNS_INSYNC_TIMEOUT, update: DNS_INSYNC_TIMEOUT } },
      );
    // The target's weight goes up before the source's goes down: the other order passes through
    // weights that are both 0, which Route53 answers as an equal split (and, with health checks,
    // as "all records eligible").
    const source: Side = args.target === "idc" ? "aws" : "idc";
    const targetRecord = record(args.target, opts?.dependsOn);
    const sourceRecord = record(source, [targetRecord]);
    this.records = { [args.target]: targetRecord, [source]: sourceRecord } as Record<Side, aws.route53.Record>;

    this.registerOutputs({ weights: this.weights });
  }
}
