import { describe, expect, it } from "vitest";
import { describeResult, runCommand, splitCommand } from "../../lib/traffic/command";

describe("commands given as strings (--test-cmd, --reload-cmd)", () => {
  it("splits on whitespace with quotes and escapes, without any expansion", () => {
    expect(splitCommand("nginx -t", "--test-cmd")).toEqual(["nginx", "-t"]);
    expect(splitCommand(`  ssh  web-1 'sudo nginx -s reload' "a \\"b\\"" c\\ d '$HOME' `, "x")).toEqual([
      "ssh",
      "web-1",
      "sudo nginx -s reload",
      'a "b"',
      "c d",
      "$HOME",
    ]);
    expect(splitCommand(`sh -c 'nginx -t && nginx -s reload'`, "x")).toEqual(["sh", "-c", "nginx -t && nginx -s reload"]);
    expect(splitCommand(`echo ''`, "x")).toEqual(["echo", ""]);
  });

  it.each([
    ["nginx -t; rm -rf /", /--test-cmd: unquoted ";" at position 8: commands run without a shell/],
    ["nginx -t | tee log", /unquoted "\|"/],
    ["nginx -c $CONF -t", /unquoted "\$"/],
    ["nginx -t `id`", /unquoted "`"/],
    ["nginx -t > /dev/null", /unquoted ">"/],
    ["nginx 'unterminated", /unterminated ' quote/],
    ["   ", /--test-cmd: is empty/],
    ["nginx \\", /lone backslash/],
  ])("refuses %j instead of guessing what a shell would have done", (text, problem) => {
    expect(() => splitCommand(text, "--test-cmd")).toThrow(problem);
  });

  it("runs argv directly and reports exit code and output as values", async () => {
    const ok = await runCommand(["sh", "-c", "echo out; echo err >&2"]);
    expect(ok).toMatchObject({ ok: true, exitCode: 0, stdout: "out\n", stderr: "err\n" });
    const failed = await runCommand(["sh", "-c", "echo 'nginx: [emerg] bad' >&2; exit 1"]);
    expect(failed).toMatchObject({ ok: false, exitCode: 1 });
    expect(describeResult(failed)).toBe("sh -c echo 'nginx: [emerg] bad' >&2; exit 1: exit 1: nginx: [emerg] bad");
    const missing = await runCommand(["/no/such/nginx", "-t"]);
    expect(missing).toMatchObject({ ok: false, exitCode: null, error: "/no/such/nginx: command not found" });
    const slow = await runCommand(["sleep", "5"], { timeoutMs: 100 });
    expect(slow).toMatchObject({ ok: false, signal: "SIGTERM", error: "sleep: killed after 100 ms" });
  });
});
