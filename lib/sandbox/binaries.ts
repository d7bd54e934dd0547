import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { RollbackError } from "../errors";

const run = promisify(execFile);

export type SandboxFlavor = "mariadb" | "mysql";

/** A program and the arguments that come before its own (sid's loader, for the chroot's MySQL). */
export interface Program {
  readonly command: string;
  readonly args: readonly string[];
}

export interface ServerBinaries {
  readonly flavor: SandboxFlavor;
  /** "mariadbd" or "mysqld 9.7 (sid chroot)", for messages. */
  readonly label: string;
  readonly server: Program;
  /** Creates the system tables in an empty datadir (root@localhost, no password). */
  initialize(datadir: string, tmp: string): Promise<void>;
  /** Flavour-specific server flags, before the common ones. */
  serverArgs(tmp: string): string[];
  /** Folder with `mysql`, `mysqldump`, `mysqlbinlog` (MySQL) or `mariadb`, `mariadb-dump` (MariaDB) as plain commands. */
  readonly toolsDir: string;
}

/** The cache scripts/setup-mysql.sh fills: ROLLBACK_CACHE_DIR, else ${TMPDIR:-/tmp}/idc-rollback-cache. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROLLBACK_CACHE_DIR ?? join(env.TMPDIR ?? "/tmp", "idc-rollback-cache");
}

/** The sid chroot with Oracle MySQL (MYSQL_ROOT overrides where it is). */
export function mysqlRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.MYSQL_ROOT ?? join(cacheDir(env), "mysql-sid-server-core");
}

/** The chroot's MySQL programs, run on the host through sid's own loader and libraries. */
function mysqlProgram(root: string, path: string): Program {
  return {
    command: join(root, "usr/lib64/ld-linux-x86-64.so.2"),
    args: ["--library-path", join(root, "usr/lib/x86_64-linux-gnu"), join(root, path)],
  };
}

function mariadb(): ServerBinaries {
  return {
    flavor: "mariadb",
    label: "mariadbd",
    server: { command: process.env.MARIADBD ?? "/usr/sbin/mariadbd", args: [] },
    async initialize(datadir, tmp) {
      await run(process.env.MARIADB_INSTALL_DB ?? "mariadb-install-db", [
        "--no-defaults",
        `--datadir=${datadir}`,
        `--tmpdir=${tmp}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--user=root",
      ]);
    },
    serverArgs: () => ["--no-defaults", "--innodb-log-file-size=256M"],
    toolsDir: "/usr/bin",
  };
}

function mysql(): ServerBinaries {
  const root = mysqlRoot();
  if (!existsSync(join(root, ".ready"))) {
    throw new Error(`MySQL is not prepared in ${root}: run scripts/setup-mysql.sh as root (or set ROLLBACK_TEST_FLAVORS=mariadb)`);
  }
  const mysqld = mysqlProgram(root, "usr/sbin/mysqld");
  const paths = [
    "--no-defaults",
    `--basedir=${join(root, "usr")}`,
    `--lc-messages-dir=${join(root, "usr/share/mysql")}`,
    `--character-sets-dir=${join(root, "usr/share/mysql/charsets")}`,
    `--plugin-dir=${join(root, "usr/lib/mysql/plugin")}`,
  ];
  return {
    flavor: "mysql",
    label: "mysqld (sid chroot)",
    server: mysqld,
    async initialize(datadir) {
      await cp(await mysqlTemplate(root, mysqld, paths), datadir, { recursive: true });
      // The template's auto.cnf would give every copy the same @@server_uuid: a new one is
      // made at first start when the file is missing.
      await rm(join(datadir, "auto.cnf"), { force: true });
    },
    serverArgs: (tmp) => [
      ...paths,
      // The compiled-in secure_file_priv folder does not exist outside the chroot: mysqld aborts.
      `--secure-file-priv=${tmp}`,
      "--mysqlx=OFF",
      // Binary logging is on by default in MySQL (as on RDS with backups); fsync per commit is not needed here.
      "--sync-binlog=0",
    ],
    toolsDir: join(root, ".bin"),
  };
}

/**
 * `mysqld --initialize-insecure` takes several seconds; it runs once per chroot and every
 * server copies the result (cp of ~200 MB is far quicker). Made under a temporary name and
 * renamed, so two test workers starting at once never copy half a template.
 */
async function mysqlTemplate(root: string, mysqld: Program, paths: string[]): Promise<string> {
  const template = join(root, ".datadir-template");
  if (existsSync(template)) return template;
  const work = await mkdtemp(join(tmpdir(), "rollback-mysql-template-"));
  const datadir = join(work, "data");
  try {
    await mkdir(join(work, "tmp"));
    await run(mysqld.command, [...mysqld.args, ...paths, "--initialize-insecure", `--datadir=${datadir}`, "--user=root", `--secure-file-priv=${join(work, "tmp")}`, "--mysqlx=OFF"]);
    await rename(datadir, template).catch((e) => {
      if (!existsSync(template)) throw e; // another worker finished first: use theirs
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return template;
}

export function serverBinaries(flavor: SandboxFlavor): ServerBinaries {
  return flavor === "mysql" ? mysql() : mariadb();
}

/**
 * A bench's `--flavor` (default mariadb). For mysql the sandbox's client tools become the
 * library's: they are not on PATH, and lib/backup/client.ts looks in ROLLBACK_TOOLS_DIR first.
 */
export function benchFlavor(value: string | undefined): SandboxFlavor {
  const flavor = value ?? "mariadb";
  if (flavor !== "mariadb" && flavor !== "mysql") throw new RollbackError("ARGS_INVALID", "--flavor", `expected mariadb or mysql, got "${flavor}"`);
  if (flavor === "mysql") process.env.ROLLBACK_TOOLS_DIR ??= serverBinaries("mysql").toolsDir;
  return flavor;
}
