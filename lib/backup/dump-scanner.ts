/**
 * Reads a mysqldump / mariadb-dump stream byte by byte, once, and says what it holds: which
 * section each byte belongs to (header, a table's structure, a table's data, or the objects
 * restored after the tables: triggers, views, routines, events, footer), how many rows each
 * table's INSERTs carry, the binlog/GTID position, and whether the dump completed.
 *
 * One reader serves three jobs: `create` splits mariadb-dump's output into per-table files,
 * `verify` checks any dump file (ours or an IDC team's), `restore` splits a plain dump into
 * the same layout as our backups. No I/O here: bytes in, sections and facts out.
 *
 * Why this is reliable: mysqldump escapes newlines inside values (`\n`), so every newline in
 * a dump is a line break of SQL, never data; sections start with fixed comment markers.
 */

/**
 * `database`: the `CREATE DATABASE` / `USE` lines after a "-- Current Database:" marker of a
 * --databases dump. They name the dumped database, so a restore into another one must not run
 * them; the splitter drops them.
 */
/**
 * `replication`: mysqldump's statements that change the loading server's replication state —
 * `SET @@SESSION.SQL_LOG_BIN= 0` (and its reset), which keeps a restore out of the target's
 * binary log, so its replicas never get the rows (and needs SYSTEM_VARIABLES_ADMIN), and
 * `SET @@GLOBAL.GTID_PURGED` (commented or not), which adds the source's GTIDs to the target's
 * for good and fails with ERROR 3546 once gtid_executed is not empty — in the second file of a
 * split dump at the latest. The splitter drops them; restore's GTID policy decides instead.
 */
export type SectionKind = "header" | "database" | "replication" | "structure" | "data" | "post";

export interface Section {
  readonly kind: SectionKind;
  /** The table, for `structure` and `data`. */
  readonly table?: string;
}

export interface TableFacts {
  structure: boolean;
  data: boolean;
  rows: number;
}

export interface DumpFacts {
  /** First line, e.g. "MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)". */
  tool: string | null;
  /** From "-- Host: h    Database: d". */
  database: string | null;
  serverVersion: string | null;
  /** The header sets TIME_ZONE='+00:00' (mysqldump --tz-utc, the default): TIMESTAMPs load unshifted on any server. */
  tzUtc: boolean;
  binlog: { file: string; position: number } | null;
  gtid: string | null;
  /** "-- Current Database:" markers: present only in --databases / --all-databases dumps. */
  databases: string[];
  /** Tables in dump order ("db.table" once a dump holds several databases). */
  tables: Map<string, TableFacts>;
  views: string[];
  /**
   * The header runs `SET @@GLOBAL.GTID_PURGED` (MySQL's mysqldump --set-gtid-purged=ON/AUTO), not
   * only as a comment (COMMENTED): a plain load would change the target's GTID state.
   */
  setsGtidPurged: boolean;
  /** The header runs `SET @@SESSION.SQL_LOG_BIN= 0` (mysqldump with GTIDs): a plain load never reaches replicas. */
  disablesBinlog: boolean;
  /** The last non-blank line is mysqldump's "-- Dump completed" trailer. */
  completed: boolean;
  /** The trailer's date ("YYYY-MM-DD HH:MM:SS", the dumping client's local time), null without one. */
  completedAt: string | null;
  rows: number;
}

const HEADER: Section = { kind: "header" };
const POST: Section = { kind: "post" };
const DATABASE: Section = { kind: "database" };
const REPLICATION: Section = { kind: "replication" };

const CH = { nl: 10, quote: 39, backslash: 92, open: 40, close: 41, tick: 96, dash: 45, space: 32, dot: 46 } as const;

const markers: ReadonlyArray<[RegExp, (m: RegExpMatchArray, s: DumpScanner) => Section]> = [
  [/^-- Table structure for table `(.+)`$/, (m, s) => s.table(m[1], "structure")],
  [/^-- Dumping data for table `(.+)`$/, (m, s) => s.table(m[1], "data")],
  [/^-- (?:Temporary (?:table|view) structure|Final view structure) for view `(.+)`$/, (m, s) => s.view(m[1])],
  [/^-- Dumping (?:events|routines) for database '.*'$/, () => POST],
  [/^-- Current Database: `(.+)`$/, (m, s) => s.currentDatabase(m[1])],
];

/**
 * Lines that end the header or a table's structure or data section: trigger blocks (mysqldump
 * writes them right after a table, starting with `/*!50003` or `DELIMITER`) and the footer that
 * restores the session (starts with the TIME_ZONE reset; right after the header when the
 * database has no tables). They belong to what runs after the tables.
 */
const postStarts = ["/*!50003 ", "DELIMITER ", "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE"].map((s) => Buffer.from(s));
const insertStarts = ["INSERT ", "REPLACE "].map((s) => Buffer.from(s));
const tzUtcLine = Buffer.from("/*!40103 SET TIME_ZONE='+00:00' */;");
const gtidPurgedStarts = ["SET @@GLOBAL.GTID_PURGED=", "/* SET @@GLOBAL.GTID_PURGED="].map((s) => Buffer.from(s));
const sqlLogBinLines = ["SET @@SESSION.SQL_LOG_BIN= 0;", "SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;"].map((s) => Buffer.from(s));

function startsWith(buf: Buffer, at: number, end: number, prefix: Buffer): boolean {
  return end - at >= prefix.length && buf.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;
}

/** Index just past a backtick-quoted identifier starting at `i` (doubled backticks are part of it). */
function skipIdent(buf: Buffer, i: number, end: number): number {
  for (i++; i < end; i++) {
    if (buf[i] !== CH.tick) continue;
    if (buf[i + 1] === CH.tick) i++;
    else return i + 1;
  }
  return end;
}

/** Where the VALUES tuples of an `INSERT INTO `t` (`a`,`b`) VALUES ...` line start: past the table and column list. */
function valuesStart(buf: Buffer, from: number, end: number): number {
  let i = buf.indexOf(CH.tick, from);
  if (i < 0 || i >= end) return end;
  i = skipIdent(buf, i, end);
  if (buf[i] === CH.dot && buf[i + 1] === CH.tick) i = skipIdent(buf, i + 1, end);
  while (buf[i] === CH.space) i++;
  if (buf[i] !== CH.open) return i;
  for (i++; i < end && buf[i] !== CH.close; i++) if (buf[i] === CH.tick) i = skipIdent(buf, i, end) - 1;
  return i + 1;
}

/**
 * Counts the `(...)` tuples in a stretch of VALUES. Quotes are tracked with mysqldump's
 * backslash escaping (`\'`), so a value like `'a),(b'` is not two rows.
 */
export function countTuples(buf: Buffer, from: number, end: number): number {
  let n = 0;
  let depth = 0;
  let inString = false;
  for (let i = from; i < end; i++) {
    const c = buf[i];
    if (inString) {
      if (c === CH.backslash) i++;
      else if (c === CH.quote) inString = false;
    } else if (c === CH.quote) inString = true;
    else if (c === CH.open) {
      if (depth++ === 0) n++;
    } else if (c === CH.close) depth--;
  }
  return n;
}

/** Undoes mysqldump's identifier quoting inside backticks. */
function unquote(name: string): string {
  return name.replace(/``/g, "`");
}

function emptyFacts(): DumpFacts {
  return {
    tool: null,
    database: null,
    serverVersion: null,
    tzUtc: false,
    binlog: null,
    gtid: null,
    databases: [],
    tables: new Map(),
    views: [],
    setsGtidPurged: false,
    disablesBinlog: false,
    completed: false,
    completedAt: null,
    rows: 0,
  };
}

export class DumpScanner {
  readonly facts: DumpFacts = emptyFacts();
  private section: Section = HEADER;
  private carry: Buffer[] = [];
  private lastLineIsTrailer = false;
  /** Inside a `replication` statement: the section to go back to after it, and its text so far. */
  private replication: { resume: Section; text: string; open: boolean } | null = null;
  /** The database of a --databases dump the lines are in now. */
  private database = "";

  /** `emit` receives every byte of the input exactly once, in order, with the section it belongs to. */
  constructor(private readonly emit: (section: Section, bytes: Buffer) => void = () => undefined) {}

  push(chunk: Buffer): void {
    // mysqldump writes up to a megabyte of rows on one line: the pieces of an unfinished line
    // are kept apart and joined once it ends (joining at every chunk copied a line ~8 times).
    // Copies: stream chunks may be reused by their producer.
    if (chunk.lastIndexOf(CH.nl) < 0) {
      this.carry.push(Buffer.from(chunk));
      return;
    }
    const buf = this.carry.length > 0 ? Buffer.concat([...this.carry, chunk]) : chunk;
    const last = buf.lastIndexOf(CH.nl);
    this.carry = last + 1 < buf.length ? [Buffer.from(buf.subarray(last + 1))] : [];
    this.lines(buf, last + 1);
  }

  /** Flushes a last line without a newline and returns the facts; `completed` only if the trailer came last. */
  end(): DumpFacts {
    if (this.carry.length > 0) {
      const tail = Buffer.concat(this.carry);
      this.carry = [];
      this.lines(tail, tail.length);
    }
    this.facts.completed = this.lastLineIsTrailer;
    if (!this.facts.completed) this.facts.completedAt = null;
    return this.facts;
  }

  /** The section a table's marker opens; also records the table. */
  table(quoted: string, kind: "structure" | "data"): Section {
    const name = this.qualify(unquote(quoted));
    const facts = this.facts.tables.get(name) ?? { structure: false, data: false, rows: 0 };
    facts[kind] = true;
    this.facts.tables.set(name, facts);
    return { kind, table: name };
  }

  view(quoted: string): Section {
    const name = this.qualify(unquote(quoted));
    if (!this.facts.views.includes(name)) this.facts.views.push(name);
    return POST;
  }

  /** A --databases dump of one database reads like a plain one; a second database qualifies every name. */
  currentDatabase(quoted: string): Section {
    const f = this.facts;
    this.database = unquote(quoted);
    // mysqldump names a database again before its final views: count each once.
    if (f.databases.includes(this.database)) return DATABASE;
    f.databases.push(this.database);
    if (f.databases.length === 2) {
      const first = f.databases[0];
      f.tables = new Map([...f.tables].map(([name, t]) => [`${first}.${name}`, t]));
      f.views = f.views.map((v) => `${first}.${v}`);
    }
    return DATABASE;
  }

  private qualify(name: string): string {
    return this.facts.databases.length > 1 ? `${this.database}.${name}` : name;
  }

  private lines(buf: Buffer, stop: number): void {
    let runStart = 0;
    let at = 0;
    // `line` may move this.section back from a replication statement: the run keeps its own.
    let run = this.section;
    while (at < stop) {
      let nl = buf.indexOf(CH.nl, at);
      if (nl < 0 || nl >= stop) nl = stop;
      const next = this.line(buf, at, nl);
      if (next !== run) {
        if (at > runStart) this.emit(run, buf.subarray(runStart, at));
        runStart = at;
        run = next;
      }
      this.section = next;
      at = nl + 1;
    }
    if (stop > runStart) this.emit(run, buf.subarray(runStart, stop));
  }

  /** Reads one line [at, end) and returns the section it belongs to. */
  private line(buf: Buffer, at: number, end: number): Section {
    if (this.replication) {
      if (this.replication.open) return this.replicationLine(buf, at, end);
      this.section = this.replication.resume;
      this.replication = null;
    }
    if (end === at) return this.section;
    if ((this.section.kind === "header" && gtidPurgedStarts.some((p) => startsWith(buf, at, end, p))) || sqlLogBinLines.some((p) => startsWith(buf, at, end, p))) {
      this.replication = { resume: this.section, text: "", open: true };
      return this.replicationLine(buf, at, end);
    }
    const first = buf[at];
    const kind = this.section.kind;
    if (kind === "data" && (first === CH.open || insertStarts.some((p) => startsWith(buf, at, end, p)))) {
      const rows = countTuples(buf, first === CH.open ? at : valuesStart(buf, at, end), end);
      this.facts.tables.get(this.section.table as string)!.rows += rows;
      this.facts.rows += rows;
      this.lastLineIsTrailer = false;
      return this.section;
    }
    if (first === CH.dash && buf[at + 1] === CH.dash) return this.comment(buf.toString("utf8", at, Math.min(end, at + 4096)).trimEnd());
    this.lastLineIsTrailer = false;
    if (kind === "header") this.headerStatement(buf, at, end);
    if (kind !== "post" && postStarts.some((p) => startsWith(buf, at, end, p))) return POST;
    return this.section;
  }

  /**
   * One line of a replication statement. A GTID set of several servers is printed with a line
   * break after each comma, so the statement ends at the line ending in `;` (or `*\/`).
   */
  private replicationLine(buf: Buffer, at: number, end: number): Section {
    const r = this.replication!;
    const text = buf.toString("utf8", at, end).trimEnd();
    r.text += text;
    if (!/(;|\*\/)$/.test(text)) return REPLICATION;
    r.open = false;
    if (r.text.startsWith("SET @@SESSION.SQL_LOG_BIN= 0")) this.facts.disablesBinlog = true;
    else if (/GTID_PURGED=/.test(r.text)) {
      this.facts.setsGtidPurged ||= !r.text.startsWith("/*");
      // "'+uuid:1-5,uuid2:1-3'" (8.0+ adds with a leading '+'), or the ON form's "/*!80000 '+'*/ 'set'".
      this.facts.gtid = /'\+?([^'+]*)';\s*(\*\/)?$/.exec(r.text)?.[1] ?? null;
    }
    return REPLICATION;
  }

  private headerStatement(buf: Buffer, at: number, end: number): void {
    if (startsWith(buf, at, end, tzUtcLine)) this.facts.tzUtc = true;
  }

  private comment(text: string): Section {
    this.lastLineIsTrailer = /^-- Dump completed\b/.test(text);
    if (this.lastLineIsTrailer) {
      this.facts.completedAt = /^-- Dump completed on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(text)?.[1] ?? null;
      return this.section;
    }
    for (const [re, open] of markers) {
      const m = text.match(re);
      if (m) return open(m, this);
    }
    this.headerFact(text);
    return this.section;
  }

  private headerFact(text: string): void {
    const f = this.facts;
    let m: RegExpExecArray | null;
    if (f.tool === null && (m = /^-- ((?:MariaDB|MySQL) dump .*)$/.exec(text))) f.tool = m[1];
    else if ((m = /^-- Host: .*\sDatabase: (.+)$/.exec(text))) f.database = m[1].trim();
    else if ((m = /^-- Server version\s+(.+)$/.exec(text))) f.serverVersion = m[1];
    else if ((m = /(?:MASTER|SOURCE)_LOG_FILE='([^']+)',\s*(?:MASTER|SOURCE)_LOG_POS=(\d+)/.exec(text))) {
      f.binlog = { file: m[1], position: Number(m[2]) };
    } else if ((m = /gtid_slave_pos='([^']*)'/i.exec(text))) f.gtid = m[1];
  }
}

/** Scans a whole buffer (tests, small files). */
export function scanDump(bytes: Buffer, emit?: (section: Section, bytes: Buffer) => void): DumpFacts {
  const s = new DumpScanner(emit);
  s.push(bytes);
  return s.end();
}
