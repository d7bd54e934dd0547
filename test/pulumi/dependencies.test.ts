import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { Runbook } from "../../components/runbook";
import { plannedSteps, runbookOrder } from "../../components/runbook/plan";
import { loadConfig } from "../../lib/config";
import { ROOT, type StackName, mockStack, stackFile } from "./harness";

/**
 * Resource options are not visible to mocks, so these tests capture them with the legacy
 * `transformations` option (inherited by every child; `registerStackTransformation` fails under
 * mocks and new-style `transforms` are not run), and rebuild the graph the engine would order by.
 */
interface Captured {
  readonly resource: pulumi.Resource;
  readonly name: string;
  readonly type: string;
  readonly props: Record<string, any>;
  readonly opts: pulumi.CustomResourceOptions & pulumi.ComponentResourceOptions;
}

async function capture(stack: StackName, edit?: (c: Record<string, any>) => void): Promise<Graph> {
  const config = stackFile(stack);
  edit?.(config);
  const recorder = await mockStack(stack, config);
  const captured: Captured[] = [];
  const record: pulumi.ResourceTransformation = (a) => {
    captured.push({ resource: a.resource, name: a.name, type: a.type, props: a.props, opts: a.opts });
    return undefined;
  };
  new Runbook("rollback", { config: loadConfig(), runId: "run-1", projectDir: ROOT, awsAccess: {} }, { transformations: [record] });
  // Let registrations finish before the next test's setMocks replaces this monitor.
  await recorder.settled();
  return new Graph(captured);
}

class Graph {
  constructor(readonly all: readonly Captured[]) {}

  get(name: string): Captured {
    const c = this.all.find((x) => x.name === name);
    if (!c) throw new Error(`no resource ${name}`);
    return c;
  }

  isComponent(c: Captured): boolean {
    return pulumi.ComponentResource.isInstance(c.resource);
  }

  get customs(): Captured[] {
    return this.all.filter((c) => !this.isComponent(c));
  }

  private of(r: pulumi.Resource): Captured {
    return this.all.find((c) => c.resource === r)!;
  }

  /** Depending on a component means depending on every custom resource under it (the SDK's rule). */
  private expand(c: Captured): Captured[] {
    if (!this.isComponent(c)) return [c];
    return this.all.filter((x) => x.opts.parent === c.resource).flatMap((x) => this.expand(x));
  }

  direct(c: Captured): Captured[] {
    const deps = ([] as pulumi.Input<pulumi.Resource>[]).concat((c.opts.dependsOn ?? []) as pulumi.Input<pulumi.Resource>[]);
    return deps.flatMap((d) => this.expand(this.of(d as pulumi.Resource)));
  }

  /** Every custom resource `name` waits for, transitively. */
  upstreamOf(name: string): Set<string> {
    const seen = new Set<string>();
    const queue = this.direct(this.get(name));
    while (queue.length > 0) {
      const c = queue.pop()!;
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      queue.push(...this.direct(c));
    }
    return seen;
  }
}

/** Everything that sends users or the app somewhere else. */
const TRAFFIC_MOVES = [
  "rollback-connection-secret-version",
  "rollback-connection-secret-recycle",
  "rollback-nginx-upstream-switch",
  "rollback-dns-weights-idc",
  "rollback-dns-weights-aws",
  "rollback-maintenance-off",
];

/** The resource a runbook step is, as the next step depends on it. */
const STEP_RESOURCE: Record<string, string> = {
  "connection-secret": "rollback-connection-secret",
  "nginx-upstream": "rollback-nginx-upstream",
  "dns-weights": "rollback-dns-weights",
  "rds-power": "rollback-rds",
  "idc-health": "rollback-idc-mysql",
};

/** Each step of `order` depends on the one before it, and on nothing else. */
function expectChain(g: Graph, order: readonly string[]): void {
  const steps = order.filter((s) => s !== "report");
  for (let i = 1; i < steps.length; i++) {
    const here = g.get(STEP_RESOURCE[steps[i]] ?? `rollback-${steps[i]}`);
    const before = g.get(STEP_RESOURCE[steps[i - 1]] ?? `rollback-${steps[i - 1]}`);
    expect(here.opts.dependsOn, `${steps[i]} after ${steps[i - 1]}`).toEqual([before.resource]);
  }
}

describe.each(["rollback", "cutover"] as const)("the %s stack's dependency order", (stack) => {
  it("puts verify before every traffic move, so a failed verify stops pulumi up first", async () => {
    const g = await capture(stack);
    for (const name of TRAFFIC_MOVES) {
      const upstream = g.upstreamOf(name);
      expect(upstream, name).toContain("rollback-verify");
      expect(upstream, name).toContain("rollback-sync");
    }
  });

  it("chains the steps in runbook order, each depending on the one before", async () => {
    const g = await capture(stack);
    expectChain(g, runbookOrder(stack === "rollback" ? "idc" : "aws"));
  });

  it("declares none of the long-lived objects and retains every switch object, so destroy deletes nothing shared", async () => {
    const g = await capture(stack);
    const longLived = ["aws:route53/zone:Zone", "aws:secretsmanager/secret:Secret", "aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "docker:index/volume:Volume"];
    expect(g.customs.filter((c) => longLived.includes(c.type))).toEqual([]);
    for (const c of g.customs.filter((x) => !x.type.startsWith("pulumi:providers:"))) {
      expect(c.opts.retainOnDelete, c.name).toBe(true);
    }
    // Upserts, not creates that fail on what the other stack wrote.
    for (const side of ["idc", "aws"]) expect(g.get(`rollback-dns-weights-${side}`).props.allowOverwrite).toBe(true);
  });

  it("stores command output as secret where a secret is near, and replaces switch commands delete-first", async () => {
    const g = await capture(stack);
    for (const c of g.customs.filter((x) => x.type === "command:local:Command")) {
      const hasSecretEnv = Object.keys(c.props.environment ?? {}).length > 0;
      expect(c.opts.additionalSecretOutputs ?? [], c.name).toEqual(hasSecretEnv ? ["stdout", "stderr"] : []);
      expect(c.props.logging, c.name).toBe(hasSecretEnv ? "none" : c.props.logging);
    }
    for (const name of ["rollback-maintenance-on", "rollback-nginx-upstream-switch", "rollback-maintenance-off"]) {
      expect(g.get(name).opts.deleteBeforeReplace, name).toBe(true);
    }
    // @pulumi/aws marks the written value secret in state by itself; this guards that assumption.
    expect(g.get("rollback-connection-secret-version").opts.additionalSecretOutputs).toContain("secretString");
    const ssm = await capture(stack, (c) => Object.assign(c["rollback:connectionSecret"], { store: "ssm", id: "/shop/db" }));
    expect(ssm.get("rollback-connection-secret-parameter").opts.additionalSecretOutputs).toContain("value");
  });

  it("waits, bounded, until Route53 reports each weight change INSYNC before the next step", async () => {
    const g = await capture(stack);
    // The record's create/update waits for GetChange INSYNC (terraform-provider-aws waitChangeInsync);
    // customTimeouts bound it, and maintenance-off depends on both records.
    for (const side of ["idc", "aws"]) expect(g.get(`rollback-dns-weights-${side}`).opts.customTimeouts, side).toEqual({ create: "10m", update: "10m" });
    for (const side of ["idc", "aws"]) expect(g.upstreamOf("rollback-maintenance-off")).toContain(`rollback-dns-weights-${side}`);
  });

  it("raises the target's DNS weight before lowering the source's (never both at 0)", async () => {
    const g = await capture(stack);
    const [target, source] = stack === "rollback" ? ["idc", "aws"] : ["aws", "idc"];
    expect(g.upstreamOf(`rollback-dns-weights-${source}`)).toContain(`rollback-dns-weights-${target}`);
  });
});

describe("the stop guard", () => {
  it("is enabled only after RDS stopped (rollback) and disabled before RDS starts (cutover)", async () => {
    const rollback = await capture("rollback");
    expect(rollback.upstreamOf("rollback-rds-guard")).toContain("rollback-rds-power");
    const cutover = await capture("cutover");
    expect(cutover.upstreamOf("rollback-rds-power")).toContain("rollback-rds-guard");
    expect(cutover.upstreamOf("rollback-rds-guard")).not.toContain("rollback-maintenance-on");
  });
});

describe("the rollback stack with runbook.copyBack false (the cut-over never took user traffic)", () => {
  it("declares no sync and no verify, and gates every traffic move on diff instead", async () => {
    const g = await capture("rollback", (c) => (c["rollback:runbook"].copyBack = false));
    const names = g.all.map((c) => c.name);
    expect(names).not.toContain("rollback-sync");
    expect(names).not.toContain("rollback-verify");
    for (const name of TRAFFIC_MOVES) {
      const upstream = g.upstreamOf(name);
      expect(upstream, name).toContain("rollback-diff");
      expect(upstream, name).toContain("rollback-backup-check");
    }
    // Between them only unfence (lifting the cut-over's fence on IDC), which waits for diff too.
    expect(g.get("rollback-unfence").opts.dependsOn).toEqual([g.get("rollback-diff").resource]);
    expect(names).not.toContain("rollback-settle");
    expect(names).not.toContain("rollback-proof-check");
    expectChain(g, plannedSteps(loadConfig()));
  });
});
