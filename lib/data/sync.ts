import type { Connection } from "mysql2/promise";
import { RollbackError } from "../errors";
import { ident } from "../mysql";
import { Applier, ApplyCounts } from "./applier";
import { ChunkSizer, prefetch } from "./chunker";
import { TableComparer, chunkMismatches } from "./compare";
import { ShrinkGuardReport, ShrinkSettings, countTables, judgeShrink, shrinkRefusal } from "./guard";
import { checkIntegrity } from "./integrity";
import type { TableCheck } from "./preflight";
import { PassRecord, recheckTarget } from "./recheck";
import { ReplicaReport, checkReplica, replicaStatus, sqlThreadRunning } from "./replica";
import { SyncReport, SyncTableReport, VerifyReport, VerifyTableReport } from "./report";
import { ResumeState, addCounts, defaultStateFile, zeroCounts } from "./resume";
import { SampleCollector } from "./samples";
import { Side, openConnection, openWriter, rows } from "./session";
import { provenPosition, stabilityOf } from "./stability";
import { DEFAULT_CHUNK, Sides, VerifyOptions, openSides, prepare, verifyChecks } from "./verify";

/** What verify takes (servers, tables, replica mode), plus what only a sync needs. */
export interface SyncOptions extends VerifyOptions, ShrinkSettings {
  /** Compute and report what would change; write nothing. */
  readonly dryRun?: boolean;
  /** Write into tables that have triggers on the target. */
  readonly allowTriggers?: boolean;
  /** Resume state file (default .rollback/sync-<pair>.json). */
  readonly stateFile?: string;
  /** Ignore the state of an interrupted run. */
  readonly restart?: boolean;
  /** Sync passes at most (default 3): a pass re-syncs tables the verify after the previous one found different. */
  readonly maxPasses?: number;
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
  started: number;
}

/** Largest statement the writer sends: half the target's max_allowed_packet, at most 16 MB. */
async function statementLimit(writer: Connection): Promise<number> {
  const [r] = await rows<{ m: string }>(writer, "SELECT @@max_allowed_packet AS m");
  return Math.min(16 * 1024 * 1024, Math.floor(Number(r.m) / 2));
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
 * sync: makes the target equal to the source, chunk by chunk (one transaction per chunk on
 * the target, plain reads on the source), then verifies; see docs/data-engine.md.
 */
export async function syncDatabases(opts: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const sides = await openSides(opts.source, opts.target);
  let writer: Connection | null = null;
  let fetcher: Connection | null = null;
  try {
    const checks = await prepare(sides, { mode: "sync", tables: opts.tables, exclude: opts.exclude, allowTriggers: opts.allowTriggers });
    const status = await replicaStatus(sides.target.reader, sides.target);
    if (opts.replica) {
      // A replica is kept equal by replication; writing to it would break replication.
      const replica = await checkReplica(sides.source, sides.target, opts.replicaWaitSeconds ?? 0);
      const verify = await verifyChecks(sides, checks, opts, replica);
      return report(sides, [], [], verify, 0, null, null, Boolean(opts.dryRun), started, replica);
    }
    if (status && sqlThreadRunning(sides.target, status) && !opts.dryRun) {
      throw new RollbackError(
        "REPLICA_RUNNING",
        sides.target.label,
        "the target is a running replica: writing to it would break replication",
        "use --replica to check it has caught up (sync then only verifies), or stop replication before syncing",
      );
    }
    // Before any write (and before the resume state is touched): a source missing many of the
    // target's rows is more likely an incomplete load than users' deletes (docs/data-engine.md).
    const counts = await countTables(sides.source, sides.target, checks.filter((c) => c.plan).map((c) => c.table));
    const guard = judgeShrink(counts, opts);
    if (guard.refused && !opts.dryRun) throw shrinkRefusal(guard, sides.source.label, sides.target.label);
    const stateFile = opts.stateFile ?? defaultStateFile(sides.source.label, sides.target.label);
    const state = await ResumeState.load(stateFile, sides.source.label, sides.target.label, Boolean(opts.restart) || Boolean(opts.dryRun));
    if (!opts.dryRun) {
      writer = await openWriter(opts.target);
      fetcher = await openConnection(opts.source);
    }
    const limit = writer ? await statementLimit(writer) : 0;
    const runs = new Map<string, TableRun>();

    const syncTable = async (check: TableCheck) => {
      const plan = check.plan!;
      const sizer = new ChunkSizer(opts.chunkSize ?? DEFAULT_CHUNK, opts.chunkTimeMs);
      const comparer = new TableComparer(sides.source, sides.target, plan, sizer);
      const applier = writer && fetcher ? new Applier(fetcher, writer, plan, limit) : null;
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
        started: Date.now(),
      };
      run.pass = pass;
      run.comparer = comparer;
      runs.set(check.table, run);
      if (ts.pending) {
        // Interrupted between "pending" and the next save: did the COMMIT land?
        let landed = true;
        for await (const c of comparer.compareRange(ts.pending.range, "checksum")) landed &&= c.identical;
        if (landed) await state.advance(check.table, ts.pending.range, true);
        else state.dropPending(check.table);
      }
      if (ts.done) return;
      let rowsDone = 0;
      // The next chunk is compared while this one is written (ranges are disjoint, so the
      // write cannot change its diff), unless another unique key makes the applier delete
      // "displaced" rows outside the chunk: then the next diff must see those deletes.
      const chunks = comparer.chunks(ts.through);
      for await (const chunk of run.strategy === "upsert" ? prefetch(chunks) : chunks) {
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
        await opts.onChunk?.({ table: check.table, phase: opts.dryRun ? "compare" : "apply", rowsDone, estimatedRows: check.source?.estimatedRows ?? 0, chunk });
      }
    };

    let todo = checks.filter((c) => c.plan);
    let verify: VerifyReport | null = null;
    let passes = 0;
    const maxPasses = opts.dryRun ? 1 : Math.max(1, opts.maxPasses ?? 3);
    while (todo.length && passes < maxPasses) {
      passes++;
      if (passes > 1) for (const c of todo) state.reopen(c.table);
      for (const check of todo) await syncTable(check);
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
    if (!verify && !opts.dryRun) verify = await verifyChecks(sides, checks, opts);
    // Each pass's verify proved its own tables: the position must hold for all of them at once.
    if (verify) verify = { ...verify, sourcePosition: verify.identical ? await provenPosition(sides.source, checks, verify.tables) : null };

    const tables: SyncTableReport[] = [];
    for (const check of checks) {
      const run = runs.get(check.table);
      // The state's counts include what an interrupted run committed before this one resumed it.
      const counts = writer ? state.table(check.table).counts : (run?.counts ?? zeroCounts());
      tables.push({
        table: check.table,
        ...counts,
        strategy: run?.strategy ?? null,
        sampleKeys: run?.samples.samples ?? [],
        chunks: run?.chunks ?? 0,
        chunksChanged: run?.chunksChanged ?? 0,
        autoIncrement: check.source && check.target ? await raiseAutoIncrement(sides, writer, check.table) : null,
        durationMs: run ? Date.now() - run.started : 0,
      });
    }
    const integrity = writer
      ? await checkIntegrity(sides.source, sides.target, checks.flatMap((c) => (c.target ? [c.target] : [])), new Set(checks.map((c) => c.table)))
      : [];
    const result = report(sides, tables, integrity, verify, passes, state.resumed ? { stateFile, startedAt: state.startedAt } : null, guard, Boolean(opts.dryRun), started);
    if (result.identical && writer) await state.clear();
    return result;
  } finally {
    await writer?.end().catch(() => undefined);
    await fetcher?.end().catch(() => undefined);
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
    tables,
    integrity,
    passes,
    resumed,
    verify,
    guard,
    ...(replica ? { replica } : {}),
    durationMs: Date.now() - started,
  };
}
