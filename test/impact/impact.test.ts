import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assessImpact, formatImpact, parsePreview, urnName } from "../../lib/impact";
import { runScript } from "../traffic/support";
import { T, UNKNOWN, rollbackPreview } from "./fixtures";

const assess = (doc: object) => assessImpact(parsePreview(JSON.stringify(doc), "preview.json"));

describe("impact gate: what a rollback preview moves", () => {
  it("lists upstream, secret version, DNS weights, RDS state and stop guard, and the commands to run", () => {
    const i = assess(rollbackPreview());
    expect(i.ok).toBe(true);
    expect(formatImpact(i)).toEqual([
      "move upstream nginxUpstream: shop-prod.c9akciq32.ap-northeast-2.rds.amazonaws.com:3306 -> 10.20.0.15:3306",
      "move secret arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:shop/db-connection-AbCdEf: version v-aws -> a new AWSCURRENT version (value [secret])",
      'move dns db.shop.example.com CNAME "idc": weight 0 -> weight 100',
      'move dns db.shop.example.com CNAME "aws": weight 100 -> weight 0',
      "move rds shop-prod: available -> stopped (final snapshot)",
      "move stop-guard keep-shop-prod-stopped: DISABLED -> ENABLED",
      "run  rollback-preflight (replace): node dist/scripts/step.js preflight --timeline .rollback/run-42/timeline.jsonl -- node dist/scripts/preflight.js --inputs-json '{...}'",
      "run  rollback-maintenance-on (replace): node dist/scripts/step.js maintenance-on --timeline .rollback/run-42/timeline.jsonl -- node dist/scripts/maintenance.js on --flag /var/www/maintenance/shop.flag --json",
      "run  rollback-nginx-upstream-switch (replace): node dist/scripts/switch-upstream.js --file /etc/nginx/stream.d/shop-db-upstream.conf --name shop_db --servers 10.20.0.15:3306 --kind stream --json",
      "impact: 6 move(s), 3 command(s); nothing long-lived is replaced or deleted",
    ]);
    // What is printed of a command is its command line; its environment (secrets) is not carried.
    expect(Object.keys(i.commands[0])).toEqual(["name", "op", "command"]);
  });

  it("says when a value is known only after up (a first run creates the records)", () => {
    const i = assess(rollbackPreview([{ op: "create", types: T.record, name: "rollback-dns-weights-new", new: { inputs: { name: "db.shop.example.com", type: "CNAME", setIdentifier: "idc", weightedRoutingPolicies: [{ weight: UNKNOWN }] } } }]));
    expect(i.moves.at(-1)).toEqual({ what: "dns", name: 'db.shop.example.com CNAME "idc"', from: "weight (none)", to: "weight (known after up)" });
  });
});

describe("impact gate: refusals", () => {
  it("refuses a replaced Route53 record, naming why Pulumi replaces it", () => {
    const i = assess(rollbackPreview([{ op: "replace", types: T.record, name: "rollback-dns-weights-idc", old: { inputs: { setIdentifier: "idc" }, retainOnDelete: true }, new: { inputs: { setIdentifier: "idc-1" }, retainOnDelete: true }, diffReasons: ["setIdentifier"], replaceReasons: ["setIdentifier"] }]));
    expect(i.ok).toBe(false);
    expect(formatImpact(i).filter((l) => l.startsWith("REFUSED"))).toEqual([
      "REFUSED replace of aws:route53/record:Record rollback-dns-weights-idc: because of setIdentifier: only runbook commands may be replaced or deleted by a switch (retainOnDelete would keep the object, but the stack would lose track of it)",
    ]);
    expect(formatImpact(i).at(-1)).toBe("impact: refused (1 step(s), 0 preview error(s)); do not run pulumi up");
  });

  it("refuses a switch object written without retainOnDelete (CrossGuard cannot see the option)", () => {
    const i = assess(rollbackPreview([{ op: "update", types: T.secretVersion, name: "rollback-connection-secret-version", old: {}, new: { inputs: { secretId: "shop/db" }, retainOnDelete: false } }]));
    expect(i.refused.map((r) => r.problem)).toEqual(["a switch object without retainOnDelete: destroying this stack would delete what the other stack uses"]);
  });

  it("refuses deleting the secret version, the replacement halves, and an op it does not know", () => {
    const i = assess(
      rollbackPreview([
        { op: "delete", types: T.secretVersion, name: "rollback-connection-secret-version", old: { inputs: { secretId: "shop/db" } } },
        { op: "create-replacement", types: T.container, name: "rollback-idc-mysql-container", old: {}, new: {}, replaceReasons: ["image"] },
        { op: "delete-replaced", types: T.container, name: "rollback-idc-mysql-container", old: {} },
        { op: "discard-everything", types: T.power, name: "rollback-rds-power", old: {}, new: {} },
      ]),
    );
    expect(i.refused.map((r) => `${r.op} ${urnName(r.urn)}`)).toEqual([
      "delete rollback-connection-secret-version",
      "create-replacement rollback-idc-mysql-container",
      "delete-replaced rollback-idc-mysql-container",
      "discard-everything rollback-rds-power",
    ]);
  });

  it("lets runbook commands be replaced or deleted, and components come and go (they own nothing outside Pulumi)", () => {
    const i = assess(
      rollbackPreview([
        { op: "delete", types: T.command, name: "rollback-sync", old: { inputs: { create: "node dist/scripts/sync.js" } } },
        { op: "delete", types: [...T.runbook, "rollback:idc:IdcMysql"], name: "rollback-idc-mysql", old: { custom: false } },
        { op: "replace", types: ["pulumi:pulumi:Stack", "pulumi:providers:aws"], name: "default_7_48_0", old: {}, new: {}, replaceReasons: ["region"] },
      ]),
    );
    expect(i.ok).toBe(true);
    expect(i.commands.map((c) => c.name)).not.toContain("rollback-sync");
  });

  it("refuses a preview that reported an error: it proves nothing", () => {
    const i = assess(rollbackPreview([], [{ urn: "urn:pulumi:rollback::rollback::pulumi:pulumi:Stack::rollback-rollback", message: "error: CONFIG_INVALID: rollback:idc.password: is required\n", severity: "error" }, { message: "warning: x", severity: "warning" }]));
    expect(i.ok).toBe(false);
    expect(i.errors).toEqual(["rollback-rollback: error: CONFIG_INVALID: rollback:idc.password: is required"]);
  });

  it("refuses a document that is not a preview digest, naming the field", () => {
    expect(() => parsePreview("{", "p.json")).toThrow(/^PREVIEW_INVALID: p\.json: is not JSON/);
    expect(() => parsePreview(JSON.stringify({ steps: [{ op: "update" }] }), "p.json")).toThrow(/^PREVIEW_INVALID: p\.json: steps\.0\.urn: /);
  });
});

describe("scripts/impact.ts", () => {
  it("reads the preview from a file or stdin: exit 0 safe, 1 refused, 2 bad input", async () => {
    const dir = await mkdtemp(join(tmpdir(), "impact-"));
    await writeFile(`${dir}/ok.json`, JSON.stringify(rollbackPreview()));
    await writeFile(`${dir}/bad.json`, JSON.stringify(rollbackPreview([{ op: "delete", types: T.record, name: "rollback-dns-weights-aws", old: {} }])));
    const ok = await runScript("impact", [`${dir}/ok.json`, "--json"]);
    expect(ok.code).toBe(0);
    expect(ok.json.moves).toHaveLength(6);
    const bad = await runScript("impact", [`${dir}/bad.json`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("REFUSED delete of aws:route53/record:Record rollback-dns-weights-aws");
    const missing = await runScript("impact", [`${dir}/none.json`]);
    expect(missing.code).toBe(2);
    const piped = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "scripts/impact.ts"], { cwd: join(__dirname, "..", "..") });
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => (stderr += b));
      child.on("close", (code: number | null) => resolve({ code, stderr }));
      child.stdin.end(JSON.stringify(rollbackPreview()));
    });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toContain("impact: 6 move(s), 3 command(s)");
  }, 60_000);
});
