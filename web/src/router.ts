// A small hash router: "#/experiments/1?filter=..&sort=.." -> {path, query}. MLflow's UI uses the
// same #/ URL shapes, so links copy between the two. All view state lives in the query string.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  path: string;
  parts: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?", 2);
  return { path, parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function href(path: string, query?: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) p.set(k, v);
  const s = p.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

/** Merge `updates` into the current query (empty/undefined removes a key); replace, not push,
 * so typing in a filter box does not flood the history. */
export function setQuery(updates: Record<string, string | undefined>, push = false): void {
  const r = currentRoute();
  const q = new URLSearchParams(r.query);
  for (const [k, v] of Object.entries(updates)) {
    if (v === undefined || v === "") q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  const url = `#${r.path}${s ? `?${s}` : ""}`;
  if (push) location.hash = url;
  else {
    history.replaceState(null, "", url);
    dispatchEvent(new HashChangeEvent("hashchange"));
  }
}

export function navigate(url: string): void {
  location.hash = url.replace(/^#/, "");
}
