import type { Contacts } from "../../lib/contacts";

/** The contacts (plan §4) the notification and report tests address. */
export const contacts: Contacts = {
  systemAdmin: { name: "Kim Admin", reach: "+82-10-1111-1111" },
  dba: { name: "Lee DBA", reach: "dba@example.com" },
  appTeam: { name: "Park App", reach: "#app" },
  infraTeam: { name: "Choi Infra", reach: "#infra" },
  emergency: { name: "On-call", reach: "+82-10-9999-9999" },
};
