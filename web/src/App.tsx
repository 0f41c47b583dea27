import { useCallback, useEffect, useState } from "react";
import { api, session } from "./api.ts";
import { isExpired, readClaims } from "./jwt.ts";
import { navigate, useRoute } from "./route.ts";
import { SignIn } from "./SignIn.tsx";
import { SourcesPanel } from "./Sources.tsx";
import { SourceView } from "./SourceView.tsx";
import { ConnectDialog } from "./ConnectDialog.tsx";
import { UploadDialog } from "./UploadDialog.tsx";
import type { HealthStatus, Source } from "./types.ts";

const THEME_KEY = "dsb.console.theme";
type Theme = "light" | "dark";

function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => {
    const saved = localStorage.getItem(THEME_KEY);
    if (saved === "light" || saved === "dark") return saved;
    return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  });
  useEffect(() => { document.documentElement.dataset.theme = theme; }, [theme]);
  return [theme, () => setTheme((t) => {
    const next = t === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    return next;
  })];
}

export function App() {
  const [theme, toggleTheme] = useTheme();
  const [signedIn, setSignedIn] = useState(() => {
    const t = session.token();
    return !!t && !isExpired(readClaims(t));
  });
  const [reason, setReason] = useState(() => (session.token() && !signedIn ? "Your token has expired. Paste a new one to continue." : ""));
  useEffect(() => session.onSignedOut((r) => { setReason(r); setSignedIn(false); }), []);

  // Leave when the token expires, with a sentence, rather than at the next failing click.
  useEffect(() => {
    const exp = signedIn ? readClaims(session.token() ?? "")?.exp : undefined;
    if (!exp) return;
    const t = setTimeout(() => session.signOut("Your token has expired. Paste a new one to continue."), Math.min(exp * 1000 - Date.now(), 2 ** 31 - 1));
    return () => clearTimeout(t);
  }, [signedIn]);

  const themeButton = (
    <button type="button" className="ghost" onClick={toggleTheme} aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} mode`}>
      {theme === "dark" ? "☀ Light" : "☾ Dark"}
    </button>
  );
  if (!signedIn) return <SignIn reason={reason} themeButton={themeButton} onSignedIn={() => { setReason(""); setSignedIn(true); }} />;
  return <Console themeButton={themeButton} />;
}

/** Every source of the tenant (the list is paged by the server). */
async function loadSources(): Promise<Source[]> {
  const all: Source[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const r: { data_sources: Source[]; next_cursor: string | null } = await api(`/api/data/sources?limit=200${q}`);
    all.push(...r.data_sources);
    cursor = r.next_cursor;
  } while (cursor && all.length < 2000);
  return all;
}

function Console({ themeButton }: { themeButton: React.ReactNode }) {
  const route = useRoute();
  const [sources, setSources] = useState<Source[] | null>(null);
  const [loadError, setLoadError] = useState("");
  const [dialog, setDialog] = useState<"connect" | "upload" | null>(null);
  const claims = readClaims(session.token() ?? "");

  const [health, setHealth] = useState<Record<HealthStatus, number> | null>(null);
  const reload = useCallback(async () => {
    try {
      setSources(await loadSources());
      setLoadError("");
    } catch (e) {
      setLoadError((e as Error).message);
    }
    // The tenant's health counts; servers without health monitoring answer 404 and show none.
    api<{ counts: Record<HealthStatus, number> }>("/api/data/health").then((r) => setHealth(r.counts), () => setHealth(null));
  }, []);
  useEffect(() => { void reload(); }, [reload]);

  const selected = sources?.find((s) => s.id === route.sourceId) ?? null;
  const added = (s: Source) => {
    setDialog(null);
    void reload().then(() => navigate(s.id, "schema"));
  };

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/">Data sources</a>
        <span className="who" title={claims?.role ? `role ${claims.role}` : undefined}>
          {claims?.sub ? `Signed in as ${claims.sub}` : "Signed in"}
        </span>
        <nav className="top-actions" aria-label="Account">
          <a className="ghost button" href="/docs" target="_blank" rel="noreferrer">API reference</a>
          {themeButton}
          <button type="button" className="ghost" onClick={() => session.signOut("You signed out.")}>Sign out</button>
        </nav>
      </header>
      <div className="layout">
        <SourcesPanel
          sources={sources}
          health={health}
          error={loadError}
          selectedId={route.sourceId}
          onConnect={() => setDialog("connect")}
          onUpload={() => setDialog("upload")}
          onDeleted={(id) => { if (id === route.sourceId) navigate(null); void reload(); }}
        />
        <main className="main" id="main">
          {selected ? (
            <SourceView key={selected.id} source={selected} tab={route.tab} onChanged={reload} />
          ) : (
            <section className="welcome">
              <h1>{route.sourceId && sources ? "That source is gone" : "Pick a source"}</h1>
              <p>
                {route.sourceId && sources
                  ? "It was deleted, or it belongs to another tenant. Pick one from the list."
                  : "Choose a source on the left to browse its schema and query it, or add one."}
              </p>
              <div className="row">
                <button type="button" onClick={() => setDialog("connect")}>Connect a database</button>
                <button type="button" className="secondary" onClick={() => setDialog("upload")}>Upload a file</button>
              </div>
            </section>
          )}
        </main>
      </div>
      {dialog === "connect" && <ConnectDialog onClose={() => setDialog(null)} onSaved={added} />}
      {dialog === "upload" && <UploadDialog onClose={() => setDialog(null)} onSaved={added} />}
    </div>
  );
}
