import { Contacts, ContactRole } from "./contacts";
import { messageOf, RollbackError } from "./errors";
import { formatDuration } from "./progress";
import { contactsFromEnv } from "./report";
import { redact } from "./report/redact";

/**
 * Notifications (plan §8, R9): a Slack-compatible incoming webhook gets a message at the start,
 * at each phase, every N minutes while the rollback runs, and at the end, with the contacts.
 * Delivery never stops the rollback: a failure is logged (without the URL: it is a secret, the
 * path of a Slack webhook is its credential) and the run goes on.
 */
export type MessageKind = "start" | "phase" | "progress" | "end";

export interface NotifierOptions {
  /** Slack-compatible incoming webhook; without one, messages are only logged. */
  readonly webhookUrl?: string;
  readonly contacts?: Contacts;
  /** Interval of progress messages (plan §8: 30 minutes; the drill uses seconds). */
  readonly progressEveryMs: number;
  /** Where every message and every delivery failure is logged (one line each). */
  readonly log: (line: string) => void;
  /** What is being rolled back, e.g. "rollback (stack rollback)" or "drill (default)". */
  readonly title: string;
  readonly timeoutMs?: number;
}

/** What the progress timer reports: read when it fires. */
export interface RunState {
  readonly phase?: string;
  readonly step?: string;
  readonly detail?: string;
}

export interface Delivery {
  readonly kind: MessageKind;
  readonly ok: boolean;
  /** HTTP status or error code; never the URL. */
  readonly result: string;
}

const ROLE_TITLE: Record<ContactRole, string> = {
  systemAdmin: "System admin",
  dba: "DBA",
  appTeam: "App team",
  infraTeam: "Infra team",
  emergency: "Emergency line",
};

export function contactLines(c: Contacts | undefined): string[] {
  if (!c) return ["Contacts: not configured (set rollback:contacts)"];
  return (Object.keys(ROLE_TITLE) as ContactRole[]).map((r) => `${ROLE_TITLE[r]}: ${c[r].name} (${c[r].reach})`);
}

/** The Slack message body: `text` is what every Slack-compatible receiver (Mattermost, Teams connectors, Discord /slack) shows. */
export function slackBody(kind: MessageKind, title: string, lines: readonly string[]): { text: string } {
  const icon = { start: ":rotating_light:", phase: ":arrow_forward:", progress: ":hourglass:", end: ":checkered_flag:" }[kind];
  return { text: [`${icon} *${title}* — ${kind}`, ...lines].join("\n") };
}

export class Notifier {
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;
  private queue: Promise<void> = Promise.resolve();
  readonly deliveries: Delivery[] = [];

  constructor(
    private readonly opts: NotifierOptions,
    private readonly state: () => RunState = () => ({}),
  ) {}

  /** Start message with contacts; starts the progress timer. */
  start(lines: readonly string[]): void {
    this.send("start", [...lines, ...contactLines(this.opts.contacts)]);
    this.watch();
  }

  /** Progress messages every interval from now, without a start message (a later step of the same run). */
  watch(): void {
    this.stop();
    this.timer = setInterval(() => this.progress(), this.opts.progressEveryMs);
    this.timer.unref();
  }

  /** Stops the progress messages; queued messages are still delivered (see flush). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  phase(lines: readonly string[]): void {
    this.send("phase", lines);
  }

  progress(): void {
    const s = this.state();
    this.send("progress", [
      `Running for ${formatDuration(Date.now() - this.started)}`,
      ...(s.phase ? [`Phase: ${s.phase}`] : []),
      ...(s.step ? [`Step: ${s.step}`] : []),
      ...(s.detail ? [s.detail] : []),
    ]);
  }

  /** End message; a failed run escalates to the emergency contact (R9). Waits for delivery. */
  async end(ok: boolean, lines: readonly string[]): Promise<void> {
    this.stop();
    const c = this.opts.contacts;
    const escalate = !ok && c ? [`Escalation: ${c.emergency.name} (${c.emergency.reach})`] : [];
    this.send("end", [`Result: ${ok ? "succeeded" : "FAILED"}`, `Took ${formatDuration(Date.now() - this.started)}`, ...lines, ...escalate]);
    await this.flush();
  }

  /** Waits until every queued message was delivered or failed. */
  flush(): Promise<void> {
    return this.queue;
  }

  private send(kind: MessageKind, lines: readonly string[]): void {
    const body = slackBody(kind, this.opts.title, lines);
    this.opts.log(`notify ${kind}: ${lines[0] ?? ""}`);
    // One message at a time, in order: receivers show them as a thread of progress.
    this.queue = this.queue.then(() => this.deliver(kind, body));
  }

  private async deliver(kind: MessageKind, body: { text: string }): Promise<void> {
    const url = this.opts.webhookUrl;
    if (!url) return;
    let result: Delivery;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      result = { kind, ok: res.ok, result: `HTTP ${res.status}` };
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      result = { kind, ok: false, result: cause?.code ?? redact(messageOf(e), [url]) };
    }
    this.deliveries.push(result);
    if (!result.ok) this.opts.log(`notify ${kind}: webhook delivery failed (${result.result}); the rollback goes on`);
  }
}

/**
 * A notifier for the scripts around a real run (scripts/step.ts, scripts/report.ts), configured
 * from the environment like every secret: ROLLBACK_WEBHOOK_URL (the stack's
 * `notifications.webhookUrl`), ROLLBACK_CONTACTS (JSON), ROLLBACK_PROGRESS_EVERY_MIN (default 30).
 * Undefined without a webhook: the scripts then notify no one.
 */
export function notifierFromEnv(title: string, state: () => RunState, env: NodeJS.ProcessEnv = process.env): Notifier | undefined {
  const webhookUrl = env.ROLLBACK_WEBHOOK_URL;
  if (!webhookUrl) return undefined;
  const every = Number(env.ROLLBACK_PROGRESS_EVERY_MIN ?? 30);
  if (!Number.isFinite(every) || every <= 0) {
    throw new RollbackError("ENV_INVALID", "ROLLBACK_PROGRESS_EVERY_MIN", "must be a number of minutes above 0");
  }
  return new Notifier(
    { webhookUrl, contacts: contactsFromEnv(env), progressEveryMs: every * 60_000, log: (l) => process.stderr.write(`${l}\n`), title },
    state,
  );
}
