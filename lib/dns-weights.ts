import { RollbackError } from "./errors";

/** The side that serves: IDC (the rollback) or AWS (the cutover). */
export type Side = "idc" | "aws";

/**
 * One step of a gradual DNS move, as relative Route53 weights: `target` for the side the
 * stack makes live, `source` for the other one. `{ target: 100, source: 0 }` is the one-shot
 * emergency flip; `[{ target: 10, source: 90 }, { target: 50, source: 50 }, { target: 100, source: 0 }]`
 * moves users over in three `pulumi up`s (R5: "gradually").
 */
export interface WeightStep {
  readonly target: number;
  readonly source: number;
}

export interface DnsWeights {
  readonly idc: number;
  readonly aws: number;
}

/** Route53 weights are integers 0-255 (Route53 API, ResourceRecordSet.Weight). */
const MAX_WEIGHT = 255;

/** The one-shot flip: all traffic to the target. */
export const FLIP: readonly WeightStep[] = [{ target: 100, source: 0 }];

/**
 * Validates a weight plan; each error names the step (`subject[i].target`).
 * All-zero is refused: Route53 treats a set whose weights are all 0 as an equal split,
 * not as "off", so such a step would send half the users to the side being left.
 */
function validateWeightSteps(steps: readonly WeightStep[], subject: string): void {
  if (steps.length === 0) throw new RollbackError("DNS_WEIGHTS_INVALID", subject, "has no steps", "use [{ target: 100, source: 0 }] for a one-shot flip");
  steps.forEach((s, i) => {
    for (const side of ["target", "source"] as const) {
      const w = s[side];
      if (!Number.isInteger(w) || w < 0 || w > MAX_WEIGHT) {
        throw new RollbackError("DNS_WEIGHTS_INVALID", `${subject}[${i}].${side}`, `${String(w)} is not an integer 0-${MAX_WEIGHT}`);
      }
    }
    if (s.target === 0 && s.source === 0) {
      throw new RollbackError(
        "DNS_WEIGHTS_INVALID",
        `${subject}[${i}]`,
        "both weights are 0, which Route53 treats as an equal split, not as off",
        "give the target a weight above 0",
      );
    }
  });
}

/**
 * The weights of the IDC and AWS records for `target` at 1-based `step` of `weightSteps`
 * (the last step when `step` is undefined: a rollback is a full flip unless told otherwise).
 * `where` prefixes the subject of errors, e.g. `route53` gives `route53.weightSteps[0].target`.
 */
export function dnsWeights(
  target: Side,
  plan: { readonly weightSteps: readonly WeightStep[]; readonly step?: number },
  where = "route53",
): DnsWeights {
  const { weightSteps, step } = plan;
  const at = (key: string) => (where ? `${where}.${key}` : key);
  validateWeightSteps(weightSteps, at("weightSteps"));
  const n = step ?? weightSteps.length;
  if (!Number.isInteger(n) || n < 1 || n > weightSteps.length) {
    throw new RollbackError("DNS_WEIGHTS_INVALID", at("step"), `${String(step)} is not a step of weightSteps (1-${weightSteps.length})`);
  }
  const { target: t, source: s } = weightSteps[n - 1];
  return target === "idc" ? { idc: t, aws: s } : { idc: s, aws: t };
}
