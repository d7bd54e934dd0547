import type { PreflightInputs } from "../../lib/preflight";

/**
 * Inputs as the runbook would pass them, for a test to point at what it started (servers,
 * nginx, folders) or mocked (AWS). Every field is overridable per test.
 */
export function inputs(over: Partial<PreflightInputs> = {}): PreflightInputs {
  return {
    target: "idc",
    region: "ap-northeast-2",
    endpoints: {
      idc: { host: "127.0.0.1", port: 3306, database: "mysql", user: "root" },
      aws: { host: "127.0.0.1", port: 3307, database: "mysql", user: "root" },
    },
    nginx: { file: "/nonexistent/upstream.conf", testCommand: "nginx -t", reloadCommand: "nginx -s reload", maintenanceFlag: "/nonexistent/maintenance.flag" },
    connectionSecret: { store: "secretsmanager", id: "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:shop/db-AbCdEf" },
    route53: { zoneId: "Z0123456789ABC", name: "db.shop.example.com", type: "CNAME", setIdentifiers: ["idc", "aws"] },
    rds: { instanceId: "shop-prod", desiredState: "stopped" },
    idcMysql: { dockerHost: "unix:///nonexistent/docker.sock", containerName: "shop-mysql", restartIfUnhealthy: true },
    backupPaths: ["/nonexistent/backup"],
    ...over,
  };
}
