import { z } from "zod";

/**
 * Who is told what (plan §4, §8, R9). Comes from stack config (`rollback:contacts`);
 * the notification webhook URL is a secret and lives in `rollback:notifications`.
 */
const Contact = z.object({
  name: z.string().min(1),
  /** Phone, e-mail or chat handle, as the team writes it. */
  reach: z.string().min(1),
});

export const ContactsSchema = z
  .object({
    systemAdmin: Contact,
    dba: Contact,
    appTeam: Contact,
    infraTeam: Contact,
    emergency: Contact,
  })
  .strict();

export type Contacts = z.infer<typeof ContactsSchema>;
export type ContactRole = keyof Contacts;

export const NotificationsSchema = z
  .object({
    /** Minutes between progress messages while a rollback runs (plan §8: every 30 minutes). */
    progressEveryMin: z.number().positive().default(30),
    /** Slack-compatible incoming webhook; optional (no webhook: messages are only logged). */
    webhookUrl: z.string().url().optional(),
  })
  .strict();

export type Notifications = z.infer<typeof NotificationsSchema>;
