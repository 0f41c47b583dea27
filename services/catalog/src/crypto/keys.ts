import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Env, Logger } from "@dsb/runtime";
import { Fernet, MultiFernet } from "./fernet.ts";

export const KEY_FILE = "encryption.key";

/** A configuration problem, in one sentence naming the variable; never contains a key. */
export class KeyConfigError extends Error {
  override name = "KeyConfigError";
}

function parseKeys(list: string, from: string): MultiFernet {
  const keys = list.split(",").map((k) => k.trim()).filter(Boolean);
  if (keys.length === 0) throw new KeyConfigError(`${from} is empty; it must hold one or more Fernet keys, comma-separated`);
  keys.forEach((k, i) => {
    try {
      new Fernet(k);
    } catch {
      throw new KeyConfigError(`${from}: key number ${i + 1} is not a Fernet key (32 bytes in url-safe base64, e.g. from Fernet.generate_key())`);
    }
  });
  return new MultiFernet(keys);
}

/**
 * ENCRYPTION_KEY (comma-separated, first one encrypts). Without it, embedded
 * mode keeps a generated key in DATA_DIR/encryption.key (mode 0600); any other
 * mode refuses, so no secret is ever stored in plaintext.
 */
export async function loadKeys(env: Env, log: Logger): Promise<MultiFernet> {
  if (env.ENCRYPTION_KEY) return parseKeys(env.ENCRYPTION_KEY, "ENCRYPTION_KEY");
  if (!env.embedded)
    throw new KeyConfigError("ENCRYPTION_KEY is not set: the catalog refuses to store credentials without it. Set ENCRYPTION_KEY to a Fernet key (python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())').");
  const path = join(env.DATA_DIR, KEY_FILE);
  await mkdir(env.DATA_DIR, { recursive: true });
  try {
    // "wx": two embedded processes starting at once must not overwrite each other's key.
    await writeFile(path, `${Fernet.generateKey()}\n`, { mode: 0o600, flag: "wx" });
    log.warn({ path }, "🔑 ENCRYPTION_KEY not set: generated an encryption key file for embedded mode; back it up, stored credentials need it");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    log.info({ path }, "🔑 using the embedded encryption key file");
  }
  return parseKeys(await readFile(path, "utf8"), path);
}
