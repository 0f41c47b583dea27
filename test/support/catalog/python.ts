import { spawn } from "node:child_process";

/** The seed's CredentialManager, as the Python system ran it (cryptography's Fernet). */
const SEED = `
import json, sys
from cryptography.fernet import Fernet
SENSITIVE = ["password", "api_key", "token", "secret_access_key", "connection_string", "credentials"]
req = json.load(sys.stdin)
f = Fernet(req["key"].encode())
c = dict(req["config"])
if req["op"] == "encrypt":
    for k in SENSITIVE:
        if c.get(k):
            v = c[k] if isinstance(c[k], str) else json.dumps(c[k])
            c[k] = f.encrypt(v.encode()).decode()
            c["__enc_" + k] = True
else:
    for k in [k for k in c if k.startswith("__enc_")]:
        if c[k] and isinstance(c.get(k[6:]), str):
            c[k[6:]] = f.decrypt(c[k[6:]].encode()).decode()
        del c[k]
print(json.dumps(c))
`;

/** Runs the seed's encrypt or decrypt in python3; the key travels on stdin, never argv. */
export function pythonCredentials(op: "encrypt" | "decrypt", key: string, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-c", SEED], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`python3 exited ${code}: ${err}`))));
    child.stdin.end(JSON.stringify({ op, key, config }));
  });
}
