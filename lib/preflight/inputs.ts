import { z } from "zod";
import type { RollbackConfig } from "../config";
import { RollbackError, messageOf } from "../errors";

/**
 * What preflight checks, as plain data without a secret: the stack config's values that later
 * steps depend on. The runbook's preflight step passes them as `--inputs-json` (built by
 * preflightInputs from the validated config); a person the day before runs `--stack NAME`,
 * which reads Pulumi.NAME.yaml and builds the same object with the same function. Database
 * passwords never pass here: the URLs come from the environment (IDC_DATABASE_URL,
 * AWS_DATABASE_URL), AWS credentials from the SDK's usual chain.
 */
const EndpointInputs = z.object({ host: z.string(), port: z.number().int(), database: z.string(), user: z.string() }).strict();

export const PreflightInputsSchema = z
  .object({
    target: z.enum(["idc", "aws"]),
    /** Where the stack's AWS objects live (rds.region, which defaults to aws:region). */
    region: z.string().min(1),
    endpoints: z.object({ idc: EndpointInputs, aws: EndpointInputs }).strict(),
    nginx: z
      .object({
        /** The host nginx runs on, when the runbook reaches it over SSH; absent: on the runner. */
        sshHost: z.string().optional(),
        file: z.string().min(1),
        testCommand: z.string().min(1),
        reloadCommand: z.string().min(1),
        dumpCommand: z.string().min(1).optional(),
        maintenanceFlag: z.string().min(1),
      })
      .strict(),
    connectionSecret: z.object({ store: z.enum(["secretsmanager", "ssm"]), id: z.string().min(1), kmsKeyId: z.string().min(1).optional() }).strict(),
    route53: z
      .object({ zoneId: z.string().min(1), name: z.string().min(1), type: z.enum(["A", "AAAA", "CNAME"]), setIdentifiers: z.array(z.string()).length(2) })
      .strict(),
    rds: z.object({ instanceId: z.string().min(1), desiredState: z.enum(["stopped", "available"]) }).strict(),
    /** restartIfUnhealthy: idc-health restarts a container whose MySQL does not answer. */
    idcMysql: z.object({ dockerHost: z.string().min(1), containerName: z.string().min(1), restartIfUnhealthy: z.boolean() }).strict(),
    backupPaths: z.array(z.string().min(1)).min(1),
  })
  .strict();

export type PreflightInputs = z.output<typeof PreflightInputsSchema>;

/** The preflight's view of a validated config. Pure; the result holds no secret. */
export function preflightInputs(config: RollbackConfig): PreflightInputs {
  const endpoint = (e: RollbackConfig["idc"]) => ({ host: e.host, port: e.port, database: e.database, user: e.user });
  const { nginx, connectionSecret: secret, route53 } = config;
  return {
    target: config.target,
    region: config.rds.region,
    endpoints: { idc: endpoint(config.idc), aws: endpoint(config.aws) },
    nginx: {
      ...(nginx.connection.mode === "ssh" ? { sshHost: nginx.connection.host } : {}),
      file: nginx.file,
      testCommand: nginx.testCommand,
      reloadCommand: nginx.reloadCommand,
      ...(nginx.dumpCommand ? { dumpCommand: nginx.dumpCommand } : {}),
      maintenanceFlag: nginx.maintenanceFlag,
    },
    connectionSecret: { store: secret.store, id: secret.id, ...(secret.kmsKeyId ? { kmsKeyId: secret.kmsKeyId } : {}) },
    route53: { zoneId: route53.zoneId, name: route53.name, type: route53.type, setIdentifiers: [route53.idc.setIdentifier, route53.aws.setIdentifier] },
    // The state rds-power brings the instance to: the rollback stops it, the cutover starts it.
    rds: { instanceId: config.rds.instanceId, desiredState: config.target === "idc" ? "stopped" : "available" },
    idcMysql: { dockerHost: config.idcMysql.dockerHost, containerName: config.idcMysql.containerName, restartIfUnhealthy: config.idcMysql.restartIfUnhealthy },
    backupPaths: [...config.runbook.backupPaths],
  };
}

/** `--inputs-json`: what the runbook's preflight step passes; the error names the flag and the field. */
export function parseInputs(json: string, subject = "--inputs-json"): PreflightInputs {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new RollbackError("ARGS_INVALID", subject, `is not JSON: ${messageOf(e)}`);
  }
  const parsed = PreflightInputsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RollbackError("ARGS_INVALID", `${subject} ${issue.path.join(".")}`, issue.message);
  }
  return parsed.data;
}
