import { useEffect, useState } from "react";
import { api, ApiError, session } from "./api.ts";
import { isExpired, readClaims } from "./jwt.ts";

/** Paste a token; embedded mode (`npm start` on this machine) offers its sample token. */
export function SignIn({ reason, onSignedIn, themeButton }: { reason: string; onSignedIn: () => void; themeButton: React.ReactNode }) {
  const [token, setToken] = useState("");
  const [sample, setSample] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    fetch("/console/config").then((r) => r.json()).then((c: { sample_token?: string | null }) => setSample(c.sample_token ?? null)).catch(() => undefined);
  }, []);

  const signIn = async (t: string) => {
    const value = t.trim().replace(/^Bearer\s+/i, "");
    setError("");
    if (!value) return setError("Paste a token first: a JWT from your identity provider, or the sample token `npm start` printed.");
    const claims = readClaims(value);
    if (!claims) return setError("That is not a JWT: a token has three parts separated by dots (xxxxx.yyyyy.zzzzz).");
    if (isExpired(claims)) return setError("That token has expired. Ask for a new one (or restart `npm start` for a new sample token).");
    setBusy(true);
    session.signIn(value);
    try {
      await api("/api/data/sources?limit=1");
      onSignedIn();
    } catch (e) {
      // A 401 signs out and the reason comes back as `reason`; anything else is said here.
      if (!(e instanceof ApiError && e.status === 401)) {
        setError((e as Error).message);
        session.signOut("");
      }
    } finally {
      setBusy(false);
    }
  };

  const message = error || reason;
  return (
    <div className="signin-page">
      <div className="signin-theme">{themeButton}</div>
      <form className="card signin" onSubmit={(e) => { e.preventDefault(); void signIn(token); }}>
        <h1>Data sources console</h1>
        <p className="muted">Sign in with a bearer token (a JWT). It stays in this browser until you sign out.</p>
        {message && <p className="alert error" role="alert">{message}</p>}
        <label htmlFor="token">Token</label>
        <textarea id="token" rows={4} value={token} onChange={(e) => setToken(e.target.value)} spellCheck={false}
          autoComplete="off" placeholder="eyJhbGciOi…" />
        <div className="row">
          <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
          {sample && (
            <button type="button" className="secondary" disabled={busy} onClick={() => { setToken(sample); void signIn(sample); }}>
              Use the sample token
            </button>
          )}
        </div>
        {sample && <p className="muted small">This server runs in embedded mode on this machine and offers its sample token (tenant demo-tenant, admin).</p>}
      </form>
    </div>
  );
}
