import { RollbackError } from "../errors";

const MANAGED = "# Managed by the rollback stack";

/**
 * The new text of an nginx file after putting `block` (renderUpstream's output) in place of the
 * `upstream <name> { … }` block it holds — the rest of the file untouched — or appended when the
 * file has no such block yet (or does not exist). A pure function: the switch computes the whole
 * new file before it writes anything.
 */
export function spliceUpstream(current: string | undefined, name: string, block: string, file: string): string {
  if (current === undefined || current.trim() === "") return block;
  const found = findUpstreamBlocks(current, name, file);
  if (found.length > 1) {
    throw new RollbackError("UPSTREAM_DUPLICATE", file, `has ${found.length} "upstream ${name}" blocks`, "nginx refuses duplicates; keep one");
  }
  if (found.length === 0) return `${current.endsWith("\n") ? current : current + "\n"}\n${block}`;
  const [{ start, end }] = found;
  return current.slice(0, start) + block + current.slice(end);
}

/**
 * Refuses a file that is not an nginx upstream file: after comments, every top-level directive
 * must be an `upstream NAME { … }` block. The switch rewrites one block in place and keeps the
 * rest; appending a block to a file of other things (a server block, mime.types, a README) would
 * put an upstream where nginx does not expect one, or "switch" a file nginx never parses as config.
 */
export function requireUpstreamFile(text: string, file: string): void {
  const head = /upstream\s+[A-Za-z0-9_][A-Za-z0-9_.-]*\s*\{/y;
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === "#") i = text.indexOf("\n", i) === -1 ? text.length : text.indexOf("\n", i) + 1;
    else {
      head.lastIndex = i;
      if (!head.exec(text)) {
        const line = text.slice(0, i).split("\n").length;
        const word = /^\S{1,40}/.exec(text.slice(i))?.[0] ?? c;
        throw new RollbackError("FILE_NOT_UPSTREAM", file, `is not an nginx upstream file: line ${line} starts "${word}", not an upstream block`, "point --file at the file that holds only upstream blocks; nothing was written");
      }
      i = matchingBrace(text, head.lastIndex - 1, file) + 1;
    }
  }
}

/** Offsets of each `upstream <name> {…}` block, from its line start (with our marker comment above it) to after its line end. */
function findUpstreamBlocks(text: string, name: string, file: string): { start: number; end: number }[] {
  const head = new RegExp(`^[ \\t]*upstream\\s+${name.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")}\\s*\\{`, "gm");
  const blocks: { start: number; end: number }[] = [];
  for (let m = head.exec(text); m; m = head.exec(text)) {
    const close = matchingBrace(text, m.index + m[0].length - 1, file);
    let start = m.index;
    const prevLineStart = text.lastIndexOf("\n", start - 2) + 1;
    if (start > 0 && text.slice(prevLineStart, start).trimStart().startsWith(MANAGED)) start = prevLineStart;
    const nl = text.indexOf("\n", close);
    blocks.push({ start, end: nl === -1 ? text.length : nl + 1 });
    head.lastIndex = close;
  }
  return blocks;
}

/** Index of the `}` closing the `{` at `open`, skipping `#` comments and quoted strings as nginx does. */
function matchingBrace(text: string, open: number, file: string): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "#") {
      const nl = text.indexOf("\n", i);
      if (nl === -1) break;
      i = nl;
    } else if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === "\\") i++;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  throw new RollbackError("FILE_UNPARSEABLE", file, `the block opened at offset ${open} is never closed`, "fix the file by hand; nothing was written");
}
