import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Runbook } from "./components/runbook";
import { asRunError, loadConfig, resolveRunId } from "./lib/config";
import { loadAwsAccess } from "./lib/config/aws-access";
import { assertBuilt, projectRoot } from "./lib/config/project";

/**
 * The rollback program. `pulumi up -s rollback` makes IDC live, `pulumi up -s cutover` makes
 * AWS RDS live: the stack's `rollback:target` decides, everything else is the same program.
 * Config is validated as a whole first, so bad config stops the run before any resource exists.
 */
let rollback: Runbook;
try {
  const projectDir = projectRoot(pulumi.runtime.getRootDirectory(), __dirname);
  // Compiled (as Pulumi.yaml runs it), the runbook's commands run dist/scripts: refuse a stale build.
  // From source (the tests, under mocks) nothing runs.
  if (__filename.endsWith(".js")) assertBuilt(projectDir);
  const config = loadConfig();
  const handOver = resolve(projectDir, config.runbook.timelineDir, `next-run-id.${pulumi.getStack()}`);
  const runId = resolveRunId(process.env, { dryRun: pulumi.runtime.isDryRun(), handOver });
  rollback = new Runbook("rollback", { config, runId, projectDir, awsAccess: loadAwsAccess() });
} catch (e) {
  throw asRunError(e);
}

/** The side this stack makes live: "idc" | "aws". */
export const activeTarget = rollback.activeTarget;
/** Route53 weights applied, { idc, aws }. */
export const dnsWeights = rollback.dnsWeights;
/** The nginx upstream block as written. */
export const nginxUpstream = rollback.nginxUpstream;
/** "stopped" | "available". */
export const rdsDesiredState = rollback.rdsDesiredState;
/** The runbook's step ids, in the order they run. */
export const runbook = rollback.steps;
/** The app's connection secret (or SSM parameter) ARN; its value is never an output. */
export const connectionSecretArn = rollback.connectionSecretArn;
/**
 * The id of the run that last applied this stack. The drift check previews with it, so that
 * only real drift shows, not the per-run re-run of every runbook command.
 */
export const runId = rollback.runId;
