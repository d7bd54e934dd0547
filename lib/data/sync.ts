import { createHash } from "node:crypto";
import type { Connection } from "mysql2/promise";
import { RollbackError, messageOf } from "../errors";
import { ServerInfo, serverIdentitySql } from "../flavor";
import { describeTls, ident } from "../mysql";
import { Applier, ApplyCounts, batchBudget } from "./applier";
import { ChunkSizer, prefetch } from "./chunker";
import { TableComparer, chunkMismatches } from "./compare";
import { ShrinkGuardReport, ShrinkSettings, countTables, judgeShrink, shrinkRefusal } from "./guard";
import { checkIntegrity } from "./integrity";
import type { TableCheck } from "./preflight";
import { PassRecord, recheckTarget } from "./recheck";
import { ReplicaReport, checkReplica, replicaStatus, sqlThreadRunning } from "./replica";
import { SkippedTable, SyncReport, SyncTableReport, VerifyReport, VerifyTableReport, completeVerify } from "./report";
import { compareObjects, fixObjects, objectScope } from "./objects";
import { ResumeState, StateServer, addCounts, defaultStateFile, zeroCounts } from "./resume";
import { SampleCollector } from "./samples";
import { Side, openConnection, openWriter, rows } from "./session";
import { GET_LOCK_SQL, LOCK_HOLDER_SQL, SESSION_OWNER_SQL } from "./sql";
import { provenPosition, stabilityOf } from "./stability";
import { SavedTrigger, dropTriggers, readTriggers, restoreTriggers } from "./triggers";
import { DEFAULT_CHUNK, Sides, VerifyOptions, openSides, prepare, verifyChecks } from "./verify";

/** What verify takes (servers, tables, replica mode), plus what only a sync needs. */
export interface SyncOptions extends VerifyOptions, ShrinkSettings {
  /** Compute and report what would change; write nothing. */
  readonly dryRun?: boolean;
  /** Create the source's triggers, views, routines and events the target lacks or has otherwise (objects.ts). */
  readonly fixSchemaObjects?: boolean;
  /** Refuse tables with triggers on the target instead of dropping and recreating them (triggers.ts). */
  readonly refuseTriggers?: boolean;
  /** Resume state file (default .rollback/sync-<pair>.json); its directory must exist. */
  readonly stateFile?: string;
  /** Ignore the state of an interrupted run. */
  readonly restart?: boolean;
  /** Sync passes at most (default 3): a pass re-syncs tables the verify after the previous one found different. */
  readonly maxPasses?: number;
  /** Stops the sync between chunks (Ctrl-C): the open chunk is finished, triggers are recreated, the state kept. */
  readonly signal?: AbortSignal;
  /** Called with the shrink guard's verdict before anything is written. */
  readonly onGuard?: (guard: ShrinkGuardReport) => void;
}

interface TableRun {
  /** What the last pass saw of the source, for the target-only final check (recheck.ts). */
  pass: PassRecord;
  comparer: TableComparer;
  counts: ApplyCounts;
  chunks: number;
  chunksChanged: number;
  samples: SampleCollector;
  strategy: "upsert" | "delete-insert";
  /** Time spent on this table, over all passes. */
  ms: number;
}

/** The target's max_allowed_packet: the applier sizes statements and values by it (applier.ts batchBudget). */
async function maxAllowedPacket(writer: Connection): Promise<number> {
  const [r] = await rows<{ m: string }>(writer, "SELECT @@max_allowed_packet AS m");
  return Number(r.m);
}

async function autoIncrement(side: Side, table: string): Promise<number | null> {
  const [r] = await rows<{ ai: string | null }>(
    side.reader,
    "SELECT AUTO_INCREMENT AS ai FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
    [side.dsn.database, table],
  );
  return r?.ai === null || r?.ai === undefined ? null : Number(r.ai);
}

/**
 * Raises the target's AUTO_INCREMENT to the source's, so rows inserted after the rollback
 * cannot reuse ids the source already handed out (DMS does not carry AUTO_INCREMENT either).
 */
async function raiseAutoIncrement(sides: Sides, writer: Connection | null, table: string): Promise<SyncTableReport["autoIncrement"]> {
  const [s, t] = await Promise.all([autoIncrement(sides.source, table), autoIncrement(sides.target, table)]);
  if (s === null) return null;
  const raise = t === null || s > t;
  if (raise && writer) await writer.query(`ALTER TABLE ${ident(table)} AUTO_INCREMENT = ${s}`);
  return { source: s, target: t, raisedTo: raise ? s : null };
}

/**
 * The name of the sync's advisory lock on the target. GET_LOCK names are at most 64 characters
 * (MySQL 5.7+ refuses longer ones; MariaDB truncates), so a long database name is hashed.
 */
export function syncLockName(database: string): string {
  const name = `idc-rollback-sync:${database}`;
  return name.length <= 64 ? name : `idc-rollback-sync:${createHash("sha1").update(database).digest("hex")}`;
}

/**
 * Takes the target's sync lock on the writer session, for the whole run (the server drops it
 * when that session ends, kill -9 included). Another holder: SYNC_BUSY, naming its connection.
 */
async function acquireSyncLock(writer: Connection, target: Side): Promise<void> {
  const name = syncLockName(target.dsn.database);
  const [r] = await rows<{ got: number | null }>(writer, GET_LOCK_SQL, [name]);
  if (Number(r.got) === 1) return;
  const [h] = await rows<{ id: string | null }>(writer, LOCK_HOLDER_SQL, [name]);
  const owner = h?.id ? (await rows<{ user: string; host: string }>(writer, SESSION_OWNER_SQL, [h.id]))[0] : undefined;
  const who = h?.id
    ? `connection ${h.id}${owner ? ` (${owner.user}@${owner.host})` : " (its user and host are shown only with the PROCESS privilege)"}`
    : "a session that just ended";
  throw new RollbackError(
    "SYNC_BUSY",
    target.label,
    `another sync into this database is running: ${who} holds the lock '${name}'`,
    "wait for it to finish; if its process is gone, end that connection (KILL, or CALL mysql.rds_kill on RDS) and rerun",
  );
}

/** Which server and database a side is, for the resume state: not the account (another user may resume or restore). */
async function serverOf(side: Side): Promise<StateServer> {
  const [r] = await rows<{ id: string }>(side.reader, serverIdentitySql(side));
  return { label: `${side.dsn.host}:${side.dsn.port}/${side.dsn.database}`, identity: String(r.id) };
}

function interrupted(target: Side): RollbackError {
  return new RollbackError("ABORTED", target.label, "interrupted — a rerun resumes", "the chunk in progress was finished or rolled back; the target's triggers were recreated");
}

/**
 * Runs `work` with the target's triggers on the synced tables dropped (triggers.ts): saved into
 * the state first (with any an earlier, killed run still holds there), recreated and proven
 * afterwards whether `work` succeeded or threw. A failing recreation keeps the definitions in
 * the state for the next run or `sync --restore-triggers`.
 */
async function withoutTriggers<T>(
  writer: Connection,
  target: Side,
  server: ServerInfo,
  state: ResumeState,
  tables: readonly string[],
  work: () => Promise<T>,
): Promise<{ result: T; triggers: SyncReport["triggers"] }> {
  const current = await readTriggers(writer, target.dsn.database, new Set(tables));
  const known = new Set(state.triggers.map((t) => t.name));
  const saved: SavedTrigger[] = [...state.triggers, ...current.filter((t) => !known.has(t.name))];
  if (!saved.length) return { result: await work(), triggers: null };
  await state.saveTriggers(saved);
  await dropTriggers(writer, current);

  const restore = async () => {
    const recreated = await restoreTriggers(target.dsn, server, writer, saved);
    await state.clearTriggers();
    return { saved: saved.map((t) => t.name), dropped: current.map((t) => t.name), recreated, verified: true };
  };
  let result: T;
  try {
    // The upsert fires BEFORE INSERT triggers on rows it only updates: write nothing unless they are surely gone.
    const left = await readTriggers(writer, target.dsn.database, new Set(tables));
    if (left.length) {
      throw new RollbackError(
        "TARGET_TRIGGERS",
        left.map((t) => t.name).join(", "),
        "these triggers are still on the target after being dropped (created again meanwhile?); nothing was written",
        "stop whatever creates them, then rerun sync",
      );
    }
    result = await work();
  } catch (e) {
    const restored = await restore().then(
      () => null,
      (r: unknown) => r,
    );
    if (restored === null) throw e;
    const first = e instanceof RollbackError ? e : new RollbackError("UNEXPECTED", target.label, messageOf(e));
    throw new RollbackError(first.code, first.subject, `${first.problem}; the target's triggers could NOT be recreated: ${messageOf(restored)}`, "fix that, then run sync --restore-triggers (their definitions are in the resume state)");
  }
  return { result, triggers: await restore() };
}

/**
 * sync: makes the target equal to the source, chunk by chunk (one transaction per chunk on
 * the target, plain reads on the source), then verifies; see docs/data-engine.md.
 */
export async function syncDatabases(opts: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const sides = await openSides(opts.source, opts.target);
  let writer: Connection | null = null;
  let fetcher: Connection | null = null;
  try {
    const { checks, skipped } = await prepare(sides, { mode: "sync", tables: opts.tables, exclude: opts.exclude, refuseTriggers: opts.refuseTriggers });
    const status = await replicaStatus(sides.target.reader, sides.target);
    if (opts.replica) {
      // A replica is kept equal by replication; writing to it would break replication.
      const replica = await checkReplica(sides.source, sides.target, opts.replicaWaitSeconds ?? 0);
      const verify = await verifyChecks(sides, checks, opts, replica);
      return report(sides, [], [], verify, 0, null, null, null, Boolean(opts.dryRun), started, replica);
    }
    if (status && sqlThreadRunning(sides.target, status) && !opts.dryRun) {
      throw new RollbackError(
        "REPLICA_RUNNING",
        sides.target.label,
        "the target is a running replica: writing to it would break replication",
        "use --replica to check it has caught up (sync then only verifies), or stop replication before syncing",
      );
    }
    const selection = checks.filter((c) => c.plan).map((c) => c.table);
    // Before any write (and before the resume state is touched): a source missing many of the
    // target's rows is more likely an incomplete load than users' deletes (docs/data-engine.md).
    const counts = await countTables(sides.source, sides.target, selection);
    const guard = judgeShrink(counts, opts);
    opts.onGuard?.(guard);
    if (guard.refused && !opts.dryRun) throw shrinkRefusal(guard, sides.source.label, sides.target.label);
    const [sourceServer, targetServer] = await Promise.all([serverOf(sides.source), serverOf(sides.target)]);
    const identity = { source: sourceServer, target: targetServer, selection };
    const stateFile = opts.stateFile ?? defaultStateFile(sides.source.label, sides.target.label);
    let state = ResumeState.memory(identity);
    if (!opts.dryRun) {
      writer = await openWriter(opts.target);
      // The lock comes before the state: a second sync must not read, take over or rewrite it.
      await acquireSyncLock(writer, sides.target);
      state = await ResumeState.load(stateFile, identity, { restart: Boolean(opts.restart), createParent: opts.stateFile === undefined });
      fetcher = await openConnection(opts.source);
    }
    const budget = batchBudget(writer ? await maxAllowedPacket(writer) : 0);
    const runs = new Map<string, TableRun>();

    const syncTable = async (check: TableCheck, position: { index: number; of: number }) => {
      const tableStarted = Date.now();
      const plan = check.plan!;
      const sizer = new ChunkSizer(opts.chunkSize ?? DEFAULT_CHUNK, opts.chunkTimeMs);
      const comparer = new TableComparer(sides.source, sides.target, plan, sizer);
      const applier = writer && fetcher ? new Applier(fetcher, writer, plan, budget) : null;
      const ts = state.table(check.table);
      const pass: PassRecord = {
        sourcePoint: (await (await stabilityOf(sides.source))?.point()) ?? null,
        complete: !ts.through && !ts.pending && !ts.done,
        chunks: [],
      };
      const run: TableRun = runs.get(check.table) ?? {
        pass,
        comparer,
        counts: zeroCounts(),
        chunks: 0,
        chunksChanged: 0,
        samples: new SampleCollector(plan, opts.sampleLimit ?? 10),
        strategy: plan.otherUniqueKeys.length ? "delete-insert" : "upsert",
        ms: 0,
      };
      run.pass = pass;
      run.comparer = comparer;
      runs.set(check.table, run);
      try {
        if (ts.pending) {
          // Interrupted between "pending" and the next save: did the COMMIT land?
          let landed = true;
          for await (const c of comparer.compareRange(ts.pending.range, "checksum")) landed &&= c.identical;
          if (landed) await state.landed(check.table);
          else state.dropPending(check.table);
        }
        if (ts.done) return;
        let rowsDone = 0;
        // The next chunk is compared while this one is written (ranges are disjoint, so the
        // write cannot change its diff), unless another unique key makes the applier delete
        // "displaced" rows outside the chunk: then the next diff must see those deletes.
        const chunks = comparer.chunks(ts.through);
        for await (const chunk of run.strategy === "upsert" ? prefetch(chunks) : chunks) {
          if (opts.signal?.aborted) throw interrupted(sides.target);
          run.chunks++;
          rowsDone += chunk.sourceRows;
          pass.chunks.push({ range: chunk.range, source: chunk.sourceChecksum });
          if (!chunk.identical) {
            run.chunksChanged++;
            await run.samples.add(chunk, sides.source, sides.target);
            if (applier) {
              const counts = await applier.apply(chunk, (c) => state.pending(check.table, chunk.range, c));
              run.counts = addCounts(run.counts, counts);
            } else {
              const m = chunkMismatches(chunk);
              run.counts = addCounts(run.counts, { inserted: m.missing, updated: m.changed, deleted: m.extra, displaced: 0 });
            }
          }
          if (applier) await state.advance(check.table, chunk.range, !chunk.identical);
          await opts.onChunk?.({ table: check.table, phase: opts.dryRun ? "compare" : "apply", rowsDone, estimatedRows: check.source?.estimatedRows ?? 0, chunk, position });
        }
      } finally {
        run.ms += Date.now() - tableStarted;
      }
    };

    const passesAndVerify = async () => {
      let todo = checks.filter((c) => c.plan);
      let verify: VerifyReport | null = null;
      let passes = 0;
      const maxPasses = opts.dryRun ? 1 : Math.max(1, opts.maxPasses ?? 3);
      while (todo.length && passes < maxPasses) {
        passes++;
        if (passes > 1) for (const c of todo) state.reopen(c.table);
        for (const [i, check] of todo.entries()) await syncTable(check, { index: i + 1, of: todo.length });
        if (opts.dryRun) break;
        await state.save(true);
        const v = await verifyChecks(sides, todo, opts, undefined, (check) => {
          const run = runs.get(check.table);
          return run ? recheckTarget(sides, check, run.pass, run.comparer) : Promise.resolve(null);
        });
        verify = mergeVerify(verify, v);
        const differing = new Set(v.tables.filter((t) => !t.identical).map((t) => t.table));
        todo = todo.filter((c) => differing.has(c.table));
      }
      return { verify, passes };
    };
    const done = writer
      ? await withoutTriggers(writer, sides.target, sides.target, state, selection, passesAndVerify)
      : { result: await passesAndVerify(), triggers: null };
    let { verify } = done.result;
    if (!verify && !opts.dryRun) verify = await verifyChecks(sides, checks, opts);
    // Each pass's verify proved its own tables: the position must hold for all of them at once.
    if (verify) verify = { ...verify, sourcePosition: verify.identical ? await provenPosition(sides.source, checks, verify.tables) : null };
    // Triggers are back by now: the schema objects are compared (and fixed on request) last.
    if (verify) verify = await withObjects(sides, writer, opts, checks, skipped, verify);

    const tables: SyncTableReport[] = [];
    for (const check of checks) {
      const run = runs.get(check.table);
      // This run's own counts; what an earlier, interrupted run committed is reported apart.
      const counts = writer ? state.ownCounts(check.table) : (run?.counts ?? zeroCounts());
      const earlier = state.resumed ? state.earlier(check.table) : null;
      tables.push({
        table: check.table,
        ...counts,
        earlier: earlier && { inserted: earlier.inserted, updated: earlier.updated, deleted: earlier.deleted },
        strategy: run?.strategy ?? null,
        sampleKeys: run?.samples.samples ?? [],
        chunks: run?.chunks ?? 0,
        chunksChanged: run?.chunksChanged ?? 0,
        autoIncrement: check.source && check.target ? await raiseAutoIncrement(sides, writer, check.table) : null,
        durationMs: run?.ms ?? 0,
      });
    }
    const integrity = writer
      ? await checkIntegrity(sides.source, sides.target, checks.flatMap((c) => (c.target ? [c.target] : [])), new Set(checks.map((c) => c.table)))
      : [];
    const resumed = state.resumed ? { stateFile, startedAt: state.startedAt, earlier: sumCounts(tables.map((t) => t.earlier ?? zeroCounts())) } : null;
    const result = report(sides, tables, integrity, verify, done.result.passes, resumed, guard, done.triggers, Boolean(opts.dryRun), started);
    // The run ended with a report: its state must not be taken up by a later run as unfinished work.
    await state.clear();
    return result;
  } finally {
    await writer?.end().catch(() => undefined);
    await fetcher?.end().catch(() => undefined);
    await sides.source.close();
    await sides.target.close();
  }
}

/** sync's final verify with the schema objects compared, after `--fix-schema-objects` created or replaced the differing ones. */
async function withObjects(
  sides: Sides,
  writer: Connection | null,
  opts: SyncOptions,
  checks: readonly TableCheck[],
  skipped: readonly SkippedTable[],
  verify: VerifyReport,
): Promise<VerifyReport> {
  if (opts.skipSchemaObjects) return completeVerify(verify, null, opts.exclude ?? [], skipped);
  const scope = objectScope(opts, checks, skipped);
  let { report, source } = await compareObjects(sides, scope);
  if (opts.fixSchemaObjects && writer && report.diffs.length) {
    const fixed = await fixObjects(sides.source.dsn.database, sides.target, writer, report.diffs, source);
    ({ report, source } = await compareObjects(sides, scope));
    report = { ...report, fixed };
  }
  return completeVerify(verify, report, opts.exclude ?? [], skipped);
}

function sumCounts(list: readonly { inserted: number; updated: number; deleted: number }[]): { inserted: number; updated: number; deleted: number } {
  return list.reduce((a, b) => ({ inserted: a.inserted + b.inserted, updated: a.updated + b.updated, deleted: a.deleted + b.deleted }), { inserted: 0, updated: 0, deleted: 0 });
}

/**
 * `sync --restore-triggers`: recreates the triggers a killed sync saved in its state and could
 * not put back, proves them, and leaves the rest of the state for a rerun to resume.
 */
export async function restoreSavedTriggers(opts: Pick<SyncOptions, "source" | "target" | "stateFile">): Promise<{ stateFile: string; saved: string[]; recreated: string[] }> {
  const sides = await openSides(opts.source, opts.target);
  let writer: Connection | null = null;
  try {
    writer = await openWriter(opts.target);
    await acquireSyncLock(writer, sides.target);
    const stateFile = opts.stateFile ?? defaultStateFile(sides.source.label, sides.target.label);
    const [sourceServer, targetServer] = await Promise.all([serverOf(sides.source), serverOf(sides.target)]);
    // The selection does not matter here: any sync's saved triggers are put back.
    const state = await ResumeState.load(
      stateFile,
      { source: sourceServer, target: targetServer, selection: [] },
      { restart: false, createParent: opts.stateFile === undefined, anySelection: true },
    );
    const saved = [...state.triggers];
    const recreated = saved.length ? await restoreTriggers(sides.target.dsn, sides.target, writer, saved) : [];
    if (saved.length) await state.clearTriggers();
    return { stateFile, saved: saved.map((t) => t.name), recreated };
  } finally {
    await writer?.end().catch(() => undefined);
    await sides.source.close();
    await sides.target.close();
  }
}

/** The verify after the last pass, with tables that were already identical kept from earlier passes. */
function mergeVerify(previous: VerifyReport | null, next: VerifyReport): VerifyReport {
  if (!previous) return next;
  const byTable = new Map<string, VerifyTableReport>(previous.tables.map((t) => [t.table, t]));
  for (const t of next.tables) byTable.set(t.table, t);
  const tables = [...byTable.values()];
  return { ...next, tables, identical: tables.every((t) => t.identical), durationMs: previous.durationMs + next.durationMs };
}

function report(
  sides: Sides,
  tables: SyncTableReport[],
  integrity: SyncReport["integrity"],
  verify: VerifyReport | null,
  passes: number,
  resumed: SyncReport["resumed"],
  guard: ShrinkGuardReport | null,
  triggers: SyncReport["triggers"],
  dryRun: boolean,
  started: number,
  replica?: ReplicaReport,
): SyncReport {
  const sum = (k: "inserted" | "updated" | "deleted") => tables.reduce((n, t) => n + t[k], 0);
  const nothingToDo = tables.every((t) => !t.inserted && !t.updated && !t.deleted);
  return {
    identical: (dryRun ? nothingToDo : Boolean(verify?.identical)) && integrity.length === 0,
    dryRun,
    inserted: sum("inserted"),
    updated: sum("updated"),
    deleted: sum("deleted"),
    source: sides.source.label,
    target: sides.target.label,
    tls: { source: describeTls(sides.source.tls), target: describeTls(sides.target.tls) },
    tables,
    integrity,
    passes,
    resumed,
    verify,
    guard,
    triggers,
    ...(replica ? { replica } : {}),
    durationMs: Date.now() - started,
  };
}
