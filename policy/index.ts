import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

/**
 * `pulumi preview --policy-pack policy` (after `npm run build`: PulumiPolicy.yaml runs the
 * compiled dist/policy). Constructing the pack starts the analyzer server the CLI talks to, so
 * tests import ./policies, never this file.
 */
new PolicyPack("idc-rollback", { policies: [...POLICIES] });
