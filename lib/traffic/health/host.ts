import { readFile, statfs } from "node:fs/promises";
import { freemem, totalmem } from "node:os";
import { CheckResult, timed } from "./check";

/** Free space on the filesystem holding `path`, as the unprivileged user sees it (f_bavail, not f_bfree). */
export function checkDisk(path: string, minFreePct: number): Promise<CheckResult> {
  return timed("disk", path, async () => {
    const s = await statfs(path);
    const totalBytes = s.blocks * s.bsize;
    const freeBytes = s.bavail * s.bsize;
    const freePct = totalBytes > 0 ? Math.round((freeBytes / totalBytes) * 1000) / 10 : 0;
    return {
      evidence: { freePct, freeBytes, totalBytes, minFreePct },
      problems: freePct < minFreePct ? [`${freePct}% free, below ${minFreePct}%`] : [],
    };
  });
}

/**
 * Memory the host can still give out. Linux's MemAvailable counts reclaimable page cache;
 * os.freemem() (MemFree) does not, and on a database host it is always near zero.
 */
export function checkMemory(minFreeMb: number): Promise<CheckResult> {
  return timed("memory", "host", async () => {
    const meminfo = await readFile("/proc/meminfo", "utf8").catch(() => "");
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
    const availableMb = Math.round(m ? Number(m[1]) / 1024 : freemem() / 1048576);
    return {
      evidence: { availableMb, totalMb: Math.round(totalmem() / 1048576), minFreeMb, source: m ? "MemAvailable" : "os.freemem" },
      problems: availableMb < minFreeMb ? [`${availableMb} MB available, below ${minFreeMb} MB`] : [],
    };
  });
}
