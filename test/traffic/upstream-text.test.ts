import { describe, expect, it } from "vitest";
import { formatServerList, parseServerList, renderUpstream } from "../../lib/nginx-upstream";
import { spliceUpstream } from "../../lib/traffic/upstream-file";

describe("--servers syntax", () => {
  it("reads weights, max_fails, fail_timeout and backup per server", () => {
    expect(parseServerList("10.0.0.5:3306 weight=3 max_fails=2 fail_timeout=30s, 10.0.0.6:3306 backup,[::1]:3307 fail_timeout=5")).toEqual([
      { host: "10.0.0.5", port: 3306, weight: 3, maxFails: 2, failTimeoutS: 30 },
      { host: "10.0.0.6", port: 3306, backup: true },
      { host: "[::1]", port: 3307, failTimeoutS: 5 },
    ]);
  });

  it("round-trips through formatServerList", () => {
    const text = "idc-db-1.example:3306 weight=2 max_fails=1 fail_timeout=10s, idc-db-2.example:3306 backup";
    expect(formatServerList(parseServerList(text))).toBe(text);
  });

  it.each([
    ["", /--servers: the server list is empty/],
    [" , ", /--servers: the server list is empty/],
    ["10.0.0.5", /--servers\[0\]: "10.0.0.5" is not host:port/],
    ["10.0.0.5:3306,bad_host!:3306", /--servers\[1\]: "bad_host!" is not a valid host/],
    ["10.0.0.5:0", /--servers\[0\]: port 0 is outside 1-65535/],
    ["10.0.0.5:3306 weight=two", /--servers\[0\]: "weight=two" is not a server parameter/],
    ["10.0.0.5:3306 max_fails=3s", /"max_fails=3s" is not a server parameter/],
    ["10.0.0.5:3306 down", /"down" is not a server parameter/],
    ["10.0.0.5:3306,10.0.0.5:3306 backup", /--servers\[1\]: 10.0.0.5:3306 is listed twice/],
  ])("refuses %j, naming the item", (text, problem) => {
    expect(() => parseServerList(text)).toThrow(problem);
  });

  it("renders the same upstream text as before the parser existed", () => {
    expect(renderUpstream({ name: "mysql", kind: "stream", servers: parseServerList("10.0.0.5:3306 weight=2 backup,10.0.0.6:3306") })).toBe(
      [
        "# Managed by the rollback stack (stream upstream); rewritten on every switch.",
        "upstream mysql {",
        "    server 10.0.0.5:3306 weight=2 backup;",
        "    server 10.0.0.6:3306;",
        "}",
        "",
      ].join("\n"),
    );
  });
});

describe("putting the upstream block into an nginx file", () => {
  const block = (port: number) => renderUpstream({ name: "app", kind: "http", servers: [{ host: "127.0.0.1", port }] });

  it("creates the file's text when there is none", () => {
    expect(spliceUpstream(undefined, "app", block(1), "f.conf")).toBe(block(1));
    expect(spliceUpstream("  \n", "app", block(1), "f.conf")).toBe(block(1));
  });

  it("replaces only its own block, with its marker comment, and keeps everything else byte for byte", () => {
    const before = `# keep me\nupstream app_v2 { server 10.0.0.9:80; }\n${block(1)}server_tokens off; # after\n`;
    const after = spliceUpstream(before, "app", block(2), "f.conf");
    expect(after).toBe(`# keep me\nupstream app_v2 { server 10.0.0.9:80; }\n${block(2)}server_tokens off; # after\n`);
    expect(spliceUpstream(after, "app", block(2), "f.conf")).toBe(after);
  });

  it("replaces a hand-written block with braces in comments and quotes", () => {
    const before = 'upstream app {\n  # was {old}\n  server 10.0.0.1:80; # "}"\n}\nupstream other { server 10.0.0.2:80; }\n';
    expect(spliceUpstream(before, "app", block(3), "f.conf")).toBe(`${block(3)}upstream other { server 10.0.0.2:80; }\n`);
  });

  it("appends when the file has other blocks but not this one", () => {
    expect(spliceUpstream("upstream other { server 10.0.0.2:80; }", "app", block(1), "f.conf")).toBe(
      `upstream other { server 10.0.0.2:80; }\n\n${block(1)}`,
    );
  });

  it("refuses a file with two blocks of the same name, or an unclosed block, naming the file", () => {
    expect(() => spliceUpstream(`${block(1)}${block(2)}`, "app", block(3), "/etc/nginx/up.conf")).toThrow(
      /UPSTREAM_DUPLICATE: \/etc\/nginx\/up.conf: has 2 "upstream app" blocks/,
    );
    expect(() => spliceUpstream("upstream app {\n server 10.0.0.1:80;\n", "app", block(3), "up.conf")).toThrow(/up.conf: the block opened/);
  });
});
