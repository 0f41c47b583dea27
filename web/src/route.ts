import { useEffect, useState } from "react";

export const TABS = ["schema", "builder", "sql", "history", "stats"] as const;
export type Tab = (typeof TABS)[number];

/** Where the console is: `#/sources/<id>/<tab>`, so reload and the back button keep the place. */
export interface Route { sourceId: string | null; tab: Tab }

function parse(hash: string): Route {
  const [, kind, id, tab] = hash.replace(/^#/, "").split("/");
  if (kind !== "sources" || !id) return { sourceId: null, tab: "schema" };
  return { sourceId: decodeURIComponent(id), tab: (TABS as readonly string[]).includes(tab ?? "") ? (tab as Tab) : "schema" };
}

export function navigate(sourceId: string | null, tab: Tab = "schema"): void {
  location.hash = sourceId ? `#/sources/${encodeURIComponent(sourceId)}/${tab}` : "#/";
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
