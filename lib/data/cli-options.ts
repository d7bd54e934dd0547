import { listFlag, numberFlag } from "../cli";
import { dsnFromEnv } from "../dsn";
import { tableProgress } from "./progress";
import type { VerifyOptions } from "./verify";

/**
 * The options verify.ts and sync.ts share (sync's final step is a verify), parsed once.
 * Both scripts spread `COMPARE_FLAGS` into their parseArgs options and pass the parsed values here.
 */
export const COMPARE_FLAGS = {
  tables: { type: "string" },
  exclude: { type: "string" },
  "chunk-size": { type: "string" },
  "chunk-time": { type: "string" },
  samples: { type: "string" },
  rounds: { type: "string" },
  "assume-quiet": { type: "boolean" },
  replica: { type: "boolean" },
  "replica-wait": { type: "string" },
  "compare-definers": { type: "boolean" },
  "skip-schema-objects": { type: "boolean" },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  help: { type: "boolean" },
} as const;

type CompareValues = { [K in keyof typeof COMPARE_FLAGS]?: (typeof COMPARE_FLAGS)[K]["type"] extends "string" ? string : boolean };

/**
 * Servers from the environment (never argv), tables, chunking, verify rounds, and the progress
 * display the options report to (the caller ends it with `progress.done()`).
 */
export function compareOptions(v: CompareValues): { options: VerifyOptions; progress: ReturnType<typeof tableProgress> } {
  const progress = tableProgress(Boolean(v.quiet));
  const options: VerifyOptions = {
    source: dsnFromEnv("SOURCE_DATABASE_URL"),
    target: dsnFromEnv("TARGET_DATABASE_URL"),
    tables: listFlag(v.tables),
    exclude: listFlag(v.exclude),
    chunkSize: numberFlag(v["chunk-size"], "chunk-size", 10_000, 100),
    chunkTimeMs: v["chunk-time"] === undefined ? undefined : numberFlag(v["chunk-time"], "chunk-time", 500, 1),
    sampleLimit: numberFlag(v.samples, "samples", 10),
    rounds: numberFlag(v.rounds, "rounds", 3, 1),
    assumeQuiet: Boolean(v["assume-quiet"]),
    replica: Boolean(v.replica),
    replicaWaitSeconds: numberFlag(v["replica-wait"], "replica-wait", 0),
    compareDefiners: Boolean(v["compare-definers"]),
    skipSchemaObjects: Boolean(v["skip-schema-objects"]),
    onChunk: progress.onChunk,
    onTable: () => progress.done(),
  };
  return { options, progress };
}
