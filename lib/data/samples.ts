import type { ChunkComparison } from "./compare";
import type { SampleKey } from "./report";
import { Side, rawRows, rows } from "./session";
import { columnHashesSql, firstKeysSql, keysPredicate } from "./sql";
import type { KeyToken, TablePlan } from "./types";
import { displayKey, keyId, parseKeyToken } from "./values";

/**
 * Sample keys per kind (missing, extra, changed), so a report says which rows differ, and for
 * changed rows which columns: "data differs" alone is what people complain about in
 * pt-table-sync's reports.
 */
export class SampleCollector {
  private readonly tokens = { missing: [] as KeyToken[], extra: [] as KeyToken[], changed: [] as KeyToken[] };
  private readonly columns = new Map<string, string[]>();

  constructor(
    private readonly plan: TablePlan,
    private readonly limit: number,
  ) {}

  /**
   * Takes keys from a differing chunk while some kind still needs samples ("all" ranges are
   * read from their side). Changed rows get their differing columns right away: a sync
   * calls this before it overwrites them.
   */
  async add(c: ChunkComparison, source: Side, target: Side): Promise<void> {
    await this.take("missing", c.missing, source, c);
    await this.take("extra", c.extra, target, c);
    const taken = await this.take("changed", c.changed, source, c);
    if (taken.length) {
      for (const [id, cols] of await changedColumns(this.plan, taken, source, target)) this.columns.set(id, cols);
    }
  }

  private async take(kind: keyof SampleCollector["tokens"], list: KeyToken[] | "all", side: Side, c: ChunkComparison): Promise<KeyToken[]> {
    const need = this.limit - this.tokens[kind].length;
    if (need <= 0) return [];
    // A later sync pass meets a row again when it still differs: the sample names it once.
    const seen = new Set(this.tokens[kind].map(keyId));
    const found =
      list !== "all"
        ? list.filter((t) => !seen.has(keyId(t)))
        : (await rows<{ k: string }>(side.reader, firstKeysSql(this.plan, c.range, this.limit))).map((r) => parseKeyToken(String(r.k))).filter((t) => !seen.has(keyId(t)));
    const taken = found.slice(0, need);
    this.tokens[kind].push(...taken);
    return taken;
  }

  get samples(): SampleKey[] {
    const show = (kind: SampleKey["kind"], t: KeyToken): SampleKey => ({ kind, key: displayKey(this.plan.key.columns, t) });
    return [
      ...this.tokens.missing.map((t) => show("missing", t)),
      ...this.tokens.extra.map((t) => show("extra", t)),
      ...this.tokens.changed.map((t) => ({ ...show("changed", t), columns: this.columns.get(keyId(t)) ?? [] })),
    ];
  }
}

/** For each key, the names of the columns whose bytes differ between the sides (by their hashes). */
async function changedColumns(plan: TablePlan, tokens: KeyToken[], source: Side, target: Side): Promise<Map<string, string[]>> {
  const sql = columnHashesSql(plan, keysPredicate(plan, tokens));
  const [s, t] = await Promise.all([rawRows(source.reader, sql), rawRows(target.reader, sql)]);
  const byKey = new Map(t.map((r) => [String(r[0]), r]));
  const out = new Map<string, string[]>();
  for (const row of s) {
    const other = byKey.get(String(row[0]));
    if (!other) continue;
    const cols = plan.columns
      .filter((_, i) => {
        const a = row[i + 1];
        const b = other[i + 1];
        return a === null || b === null ? a !== b : !a.equals(b);
      })
      .map((c) => c.name);
    out.set(String(row[0]), cols);
  }
  return out;
}
