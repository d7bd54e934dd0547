/**
 * Defence in depth for everything the runbook writes (timeline, reports, notifications): the
 * scripts never print secrets, but a child's error message may echo a connection URL. Secret
 * values are taken from the environment they came from and replaced wherever they appear.
 */
const SECRET_NAME = /(URL|DSN|PASSWORD|PASSWD|SECRET|TOKEN|WEBHOOK|CREDENTIAL|API_?KEY)/i;
const MIN_SECRET_LENGTH = 4;
const MARK = "[redacted]";

/** Values of environment variables whose names say they hold a secret, and the passwords inside URLs. */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const out = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value || !SECRET_NAME.test(name)) continue;
    if (value.length >= MIN_SECRET_LENGTH) out.add(value);
    try {
      const u = new URL(value);
      const password = decodeURIComponent(u.password);
      if (password.length >= MIN_SECRET_LENGTH) out.add(password);
      if (u.password) out.add(u.password);
    } catch {
      // not a URL: the whole value is the secret
    }
  }
  // Longest first, so a URL is replaced whole before the password inside it.
  return [...out].sort((a, b) => b.length - a.length);
}

/** Passwords in `scheme://user:password@host` URLs, whatever the environment says. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi;

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join(MARK);
  return out.replace(URL_PASSWORD, `$1${MARK}@`);
}

/** Redacts every string inside a JSON-like value. */
export function redactDeep<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === "string") return redact(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets)) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, secrets)])) as T;
  }
  return value;
}
