import { createHash, randomBytes } from "node:crypto";
import { open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { RollbackError, messageOf } from "../errors";

/** sha256 of a text, hex; reports carry it instead of (or next to) the text. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The file's text, or undefined when it does not exist (any other error is raised, naming the file). */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new RollbackError("FILE_UNREADABLE", path, messageOf(e));
  }
}

/**
 * Replaces `path` with `text` atomically: a temp file in the same directory (rename is only
 * atomic within one filesystem), fsync'ed, with the old file's mode and owner, then rename(2)
 * over the target. A reader (nginx -t, a reload) sees the old text or the new, never half a file.
 * A symlink (sites-enabled -> sites-available) is followed, so the link stays a link.
 * The temp name starts with a dot and does not end in `.conf`, so an `include conf.d/*.conf`
 * glob never picks it up.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const target = await realpath(path).catch(() => path);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const old = await stat(target).catch(() => undefined);
  try {
    const fh = await open(tmp, "wx");
    try {
      // open()'s mode goes through the umask; chmod sets it exactly. Keep the owner when we can
      // (as root on the nginx host); not being allowed to is fine.
      await fh.chmod(old ? old.mode & 0o7777 : 0o644);
      if (old) await fh.chown(old.uid, old.gid).catch(() => undefined);
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    const missingDir = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw new RollbackError("FILE_UNWRITABLE", path, missingDir ? `directory ${dir} does not exist` : messageOf(e), missingDir ? "create it, or fix the path" : "check the directory's permissions");
  }
  // fsync the directory so the rename itself survives a crash.
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Removes a file; a file that is already gone is fine. */
export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new RollbackError("FILE_UNWRITABLE", path, messageOf(e));
  }
}

/**
 * An exclusive lock file next to `path` (`path.lock`, holding our pid), so two switches (a
 * Pulumi run and a person at the console) cannot interleave their write/test/reload/restore.
 * A lock left by a process that no longer exists on this host is taken over.
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lock, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new RollbackError("FILE_UNWRITABLE", lock, messageOf(e));
      const holder = Number((await readIfExists(lock)) ?? "");
      if (attempt === 0 && !(Number.isInteger(holder) && holder > 0 && isAlive(holder))) {
        await removeIfExists(lock);
        continue;
      }
      throw new RollbackError("FILE_LOCKED", lock, `held by process ${holder || "?"}`, "another switch is running; wait for it, or remove the lock if that process is gone");
    }
  }
  try {
    return await work();
  } finally {
    await removeIfExists(lock);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
