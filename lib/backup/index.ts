/**
 * Backups (R4, R10): create a consistent backup, verify backups (ours and plain mysqldump
 * files), restore one into the database DATABASE_URL names — refusing anything corrupt.
 */
export { createBackup } from "./create";
export type { CreateOptions, CreateReport } from "./create";
export { verifyBackups, chooseNewest } from "./verify";
export type { Candidate, VerifyOptions, VerifyReport } from "./verify";
export { restoreBackup } from "./restore";
export type { GtidPolicy, RestoreOptions, RestoreReport, RestoredTable } from "./restore";
