import { REDACTED } from "@dsb/contracts";

/**
 * The text with every secret removed, however the server or library echoed it.
 * Secrets shorter than 3 characters are left alone: masking every "a" would
 * mangle the message without protecting anything.
 */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join(REDACTED);
  return out;
}
