/**
 * The data engine (R4): exact, resumable verify and sync between two MySQL/MariaDB servers.
 * docs/data-engine.md explains the design; scripts/verify.ts and scripts/sync.ts are its CLIs.
 */
export { verifyDatabases } from "./verify";
export type { VerifyOptions, ChunkEvent } from "./verify";
export type { VerifyReport, VerifyTableReport, SyncReport, SyncTableReport, SampleKey, IntegrityFinding } from "./report";
export type { SchemaDiff } from "./schema-diff";
export type { ReplicaReport } from "./replica";
export { syncDatabases } from "./sync";
export type { SyncOptions } from "./sync";
export type { ShrinkGuardReport, ShrinkTableVerdict } from "./guard";
