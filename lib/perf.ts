import { readFile } from "node:fs/promises";
import type { Connection } from "mysql2/promise";
import { z } from "zod";
import { Dsn } from "./dsn";
import { RollbackError, messageOf } from "./errors";
import { connect } from "./mysql";

/**
 * The performance probe (R1 "response time ≥ 30 % worse", R2): a configured set of read-only
 * queries run N times on both databases, interleaved so that load spikes on a shared machine hit
 * both sides alike. Degradation compares medians (p50): on few samples p95 is one outlier away
 * from noise, so it is reported but does not drive the verdict. The runs are split into rounds a
 * moment apart, and the verdict is the median round's: a burst of load that lands on one side's
 * queries for a whole round (a busy neighbour, a server still flushing) moves one round, not it.
 */
export const PerfQuerySchema = z
  .object({
    name: z.string().min(1),
    sql: z.string().min(1),
    params: z.array(z.union([z.string(), z.number()])).optional(),
  })
  .strict();

export type PerfQuery = z.infer<typeof PerfQuerySchema>;

export interface SideStats {
  readonly runs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly meanMs: number;
}

export interface QueryComparison {
  readonly name: string;
  readonly baseline: SideStats;
  readonly candidate: SideStats;
  readonly degradationPct: number;
}

export interface PerfReport {
  /** Labels of the two sides, e.g. "idc" (baseline) and "aws" (candidate). */
  readonly baselineLabel: string;
  readonly candidateLabel: string;
  readonly runs: number;
  readonly queries: QueryComparison[];
  /** Sum of the per-query medians on each side. */
  readonly baselineP50Ms: number;
  readonly candidateP50Ms: number;
  /** How much slower the candidate is, in percent of the baseline (negative: faster): the median round's. */
  readonly degradationPct: number;
  /** Each round's degradation, in order. */
  readonly roundsDegradationPct: number[];
}

/** Nearest-rank percentile of a sorted sample. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function stats(samplesMs: readonly number[]): SideStats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / (sorted.length || 1);
  return { runs: sorted.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), meanMs: mean };
}

export function degradationPct(baselineMs: number, candidateMs: number): number {
  if (baselineMs <= 0) return candidateMs > 0 ? Infinity : 0;
  return ((candidateMs - baselineMs) / baselineMs) * 100;
}

export type QuerySamples = { name: string; baseline: number[]; candidate: number[] };

/** Compares the samples of one round (pure: the probe's I/O produces the samples). */
export function compare(samples: readonly QuerySamples[], labels: { baseline: string; candidate: string }): Omit<PerfReport, "roundsDegradationPct"> {
  const queries = samples.map((s) => {
    const baseline = stats(s.baseline);
    const candidate = stats(s.candidate);
    return { name: s.name, baseline, candidate, degradationPct: degradationPct(baseline.p50Ms, candidate.p50Ms) };
  });
  const baselineP50Ms = queries.reduce((n, q) => n + q.baseline.p50Ms, 0);
  const candidateP50Ms = queries.reduce((n, q) => n + q.candidate.p50Ms, 0);
  return {
    baselineLabel: labels.baseline,
    candidateLabel: labels.candidate,
    runs: samples[0]?.baseline.length ?? 0,
    queries,
    baselineP50Ms,
    candidateP50Ms,
    degradationPct: degradationPct(baselineP50Ms, candidateP50Ms),
  };
}

/** Pools the rounds for the per-query figures; the verdict is the median round's degradation. */
export function combineRounds(rounds: readonly (readonly QuerySamples[])[], labels: { baseline: string; candidate: string }): PerfReport {
  const pooled = rounds[0].map((q, k) => ({
    name: q.name,
    baseline: rounds.flatMap((r) => r[k].baseline),
    candidate: rounds.flatMap((r) => r[k].candidate),
  }));
  const perRound = rounds.map((r) => compare(r, labels).degradationPct);
  const sorted = [...perRound].sort((a, b) => a - b);
  return { ...compare(pooled, labels), degradationPct: sorted[Math.floor((sorted.length - 1) / 2)], roundsDegradationPct: perRound };
}

const READ_ONLY = /^\s*(select|with|show|explain|describe|desc)\b/i;

/** Parses a query set (JSON array); refuses anything but reads, naming the query: the probe runs on production. */
export function parseQuerySet(text: string, subject: string): PerfQuery[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RollbackError("PERF_QUERIES_INVALID", subject, `is not JSON: ${messageOf(e)}`);
  }
  const parsed = z.array(PerfQuerySchema).min(1).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RollbackError("PERF_QUERIES_INVALID", `${subject}[${issue.path.join(".")}]`, issue.message, 'expected [{"name": "...", "sql": "SELECT ..."}]');
  }
  for (const q of parsed.data) {
    if (!READ_ONLY.test(q.sql)) {
      throw new RollbackError("PERF_QUERY_NOT_READ_ONLY", `${subject}: ${q.name}`, "only SELECT/WITH/SHOW/EXPLAIN may be probed");
    }
  }
  return parsed.data;
}

export async function readQuerySet(file: string): Promise<PerfQuery[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new RollbackError("PERF_QUERIES_INVALID", file, `cannot be read: ${messageOf(e)}`);
  }
  return parseQuerySet(text, file);
}

async function timed(c: Connection, q: PerfQuery): Promise<number> {
  const t0 = process.hrtime.bigint();
  await c.query(q.sql, q.params ?? []);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export interface ProbeOptions {
  readonly baseline: { label: string; dsn: Dsn };
  readonly candidate: { label: string; dsn: Dsn };
  readonly queries: readonly PerfQuery[];
  /** Measured runs of each query per side and round. */
  readonly runs: number;
  /** Unmeasured runs first, so cold caches do not count against either side. */
  readonly warmup?: number;
  /** Rounds (3): the verdict is the median round's. */
  readonly rounds?: number;
  readonly roundPauseMs?: number;
}

/** Runs the probe on both databases, each query inside a read-only transaction. */
export async function probe(opts: ProbeOptions): Promise<PerfReport> {
  if (opts.runs < 1) throw new RollbackError("ARGS_INVALID", "runs", "must be at least 1");
  const b = await connect(opts.baseline.dsn);
  let c: Connection | undefined;
  try {
    c = await connect(opts.candidate.dsn);
    // Reads only: a query that tries to write fails instead of changing production data.
    await b.query("SET SESSION TRANSACTION READ ONLY");
    await c.query("SET SESSION TRANSACTION READ ONLY");
    const warmup = opts.warmup ?? 2;
    const rounds: QuerySamples[][] = [];
    for (let round = 0; round < (opts.rounds ?? 3); round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, opts.roundPauseMs ?? 300));
      const samples = opts.queries.map((q) => ({ name: q.name, baseline: [] as number[], candidate: [] as number[] }));
      for (let i = 0; i < (round === 0 ? warmup : 0) + opts.runs; i++) {
        for (const [k, q] of opts.queries.entries()) {
          // Alternate which side goes first, so neither always runs on a warmer machine.
          const first = i % 2 === 0 ? b : c;
          const second = first === b ? c : b;
          let tFirst: number;
          let tSecond: number;
          try {
            tFirst = await timed(first, q);
            tSecond = await timed(second, q);
          } catch (e) {
            throw new RollbackError("PERF_QUERY_FAILED", q.name, messageOf(e));
          }
          if (round === 0 && i < warmup) continue;
          samples[k].baseline.push(first === b ? tFirst : tSecond);
          samples[k].candidate.push(first === b ? tSecond : tFirst);
        }
      }
      rounds.push(samples);
    }
    return combineRounds(rounds, { baseline: opts.baseline.label, candidate: opts.candidate.label });
  } finally {
    await b.end().catch(() => undefined);
    await c?.end().catch(() => undefined);
  }
}
