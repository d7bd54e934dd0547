import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigSchema, RollbackConfig } from "../config";
import type { Contacts } from "../contacts";
import type { DrillCredentials } from "./credentials";
import type { DrillEnvironment } from "./environment";
import { IDC_CONTAINER, SECRET_EXTRAS, SECRET_FORMAT, UPSTREAM } from "./environment";
import { DATABASE, OPS_DATABASE } from "./shop";

/**
 * The drill's stack config: what a `Pulumi.drill.yaml` would hold for this machine, validated by
 * the program's own schema (lib/config). The runbook steps get their arguments and environment
 * from it through the same functions the Pulumi Runbook uses, so the drill rehearses what
 * `pulumi up` would run. Only what cannot exist here is a labelled stand-in: the secret ARN
 * (a file), the Route53 zone, the RDS instance and the IDC docker host (the docker shim).
 */
export const DRILL_CONTACTS: Contacts = {
  systemAdmin: { name: "Drill system admin", reach: "sysadmin@example.invalid" },
  dba: { name: "Drill DBA", reach: "dba@example.invalid" },
  appTeam: { name: "Drill app team", reach: "#app-team" },
  infraTeam: { name: "Drill infra team", reach: "#infra-team" },
  emergency: { name: "Drill on-call", reach: "+82-2-0000-0000" },
};

/** Resolves a Pulumi Output outside an engine run (Outputs apply without one). */
export function resolveOutput<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise<T>((done) => {
    pulumi.output(value).apply((v) => {
      done(v as T);
      return v;
    });
  });
}

/** switch-upstream's proof: the drill's apps name themselves in X-App; nginx's /rollback-probe reaches them outside maintenance. */
function probeFor(target: "idc" | "aws", env: DrillEnvironment) {
  return { url: `${env.nginxUrl}/rollback-probe`, expect: `header:X-App=${target}`, timeoutSeconds: 10 };
}

/** The drill's config for the other stack (the forward cut-over): same values, target and probe toward `target`. */
export function configToward(config: RollbackConfig, target: "idc" | "aws", env: DrillEnvironment): RollbackConfig {
  return { ...config, target, nginx: { ...config.nginx, probe: probeFor(target, env) } };
}

export function drillConfig(env: DrillEnvironment, creds: DrillCredentials, opts: { progressEveryS: number; webhookUrl?: string }): RollbackConfig {
  // TLS where the sandbox offers it: MySQL's datadir has self-signed certificates, MariaDB's none,
  // and neither has the RDS CA that AWS's default (VERIFY_IDENTITY) would check against.
  const endpoint = (port: number) => ({ host: "127.0.0.1", port, database: DATABASE, user: creds.runbook.user, password: creds.runbook.password, tls: { mode: "PREFERRED" } });
  const raw = {
    target: "idc",
    // The runbook's own path to each database: direct, the operator's alternative path (plan §9).
    idc: endpoint(env.idc.port),
    aws: endpoint(env.aws.port),
    nginx: {
      connection: { mode: "local" },
      upstreamName: UPSTREAM,
      kind: "http",
      file: env.upstreamFile,
      testCommand: env.nginx.testCommand,
      reloadCommand: env.nginx.reloadCommand,
      maintenanceFlag: env.maintenanceFlag,
      probe: probeFor("idc", env),
      idcServers: [`127.0.0.1:${env.apps.idc.port}`],
      awsServers: [`127.0.0.1:${env.apps.aws.port}`],
    },
    connectionSecret: {
      store: "secretsmanager",
      // Stand-in: the drill's secret is a file; the ARN only names it in reports.
      id: `arn:aws:secretsmanager:drill:000000000000:secret:${env.secretFile}`,
      format: SECRET_FORMAT,
      extras: SECRET_EXTRAS,
      recycleCommand: `kill -HUP ${env.apps.aws.pid} ${env.apps.idc.pid}`,
    },
    route53: {
      zoneId: "ZDRILL0000000",
      name: "db.shop.drill.invalid",
      type: "CNAME",
      idc: { records: ["idc-db.shop.drill.invalid"] },
      aws: { records: ["rds.shop.drill.invalid"] },
    },
    rds: { instanceId: "drill-shop", region: "ap-northeast-2" },
    idcMysql: {
      // The real engine's API socket (podman), or a path the stand-in shim ignores (lib/drill/docker-shim.ts).
      dockerHost: env.docker.dockerHost,
      containerName: IDC_CONTAINER,
      waitTimeoutSeconds: 60,
    },
    runbook: {
      drainTimeoutSeconds: 30,
      backupPaths: env.backupPaths,
      backupMaxAgeHours: 24,
      health: {
        expectWritable: true,
        http: [`http://127.0.0.1:${env.apps.idc.port}/health`, `${env.nginxUrl}/nginx-health`],
        maxLatencyMs: 2000,
        canaryTable: `${OPS_DATABASE}.canary`,
        createCanary: true,
        disks: [env.idc.datadir],
        minDiskFreePct: 1,
        minMemFreeMb: 32,
      },
      timelineDir: join(env.dir, "runs"),
      // The drill's app account; the runbook's own user is another one (creds.runbook).
      fence: { users: [creds.app.user], timeoutSeconds: 5, quietSeconds: 1 },
    },
    contacts: DRILL_CONTACTS,
    notifications: { progressEveryMin: opts.progressEveryS / 60, ...(opts.webhookUrl ? { webhookUrl: opts.webhookUrl } : {}) },
  };
  const parsed = ConfigSchema.parse(raw);
  return { ...parsed, rds: { ...parsed.rds, region: "ap-northeast-2" } };
}
