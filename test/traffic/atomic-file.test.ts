import { mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withFileLock, writeFileAtomic } from "../../lib/traffic/atomic-file";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rollback-atomic-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writing nginx files", () => {
  it("replaces the file whole, keeps its mode, and leaves no temp file behind", async () => {
    const f = join(dir, "upstream.conf");
    await writeFile(f, "old\n");
    await chmod(f, 0o640);
    await writeFileAtomic(f, "new\n");
    expect(await readFile(f, "utf8")).toBe("new\n");
    expect((await stat(f)).mode & 0o777).toBe(0o640);
    expect((await readdir(dir)).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("writes through a symlink (sites-enabled -> sites-available), so the link stays a link", async () => {
    const real = join(dir, "available.conf");
    const link = join(dir, "enabled.conf");
    await writeFile(real, "old\n");
    await symlink(real, link);
    await writeFileAtomic(link, "new\n");
    expect(await readlink(link)).toBe(real);
    expect(await readFile(real, "utf8")).toBe("new\n");
  });

  it("says which directory is missing", async () => {
    await expect(writeFileAtomic(join(dir, "nope", "up.conf"), "x")).rejects.toThrow(/FILE_UNWRITABLE: .*up.conf: directory .*nope does not exist/);
  });

  it("lets one switch at a time hold the lock, and takes over a lock left by a dead process", async () => {
    const f = join(dir, "locked.conf");
    await withFileLock(f, async () => {
      await expect(withFileLock(f, async () => "second")).rejects.toThrow(new RegExp(`FILE_LOCKED: ${f}.lock: held by process ${process.pid}`));
    });
    await writeFile(`${f}.lock`, "999999999");
    expect(await withFileLock(f, async () => "taken over")).toBe("taken over");
    await expect(stat(`${f}.lock`)).rejects.toThrow(/ENOENT/);
  });
});
