// Runs-table columns: what a column shows, how it sorts on the server, how it is stored in the URL.
import { TableRun } from "./api";
import { fmtDuration, fmtNum, fmtTime } from "./format";

export type Kind = "attr" | "params" | "metrics" | "tags";
export interface Column {
  kind: Kind;
  key: string;
}

interface AttrSpec {
  label: string;
  width: number;
  order?: string; // MLflow order_by identifier; absent = not sortable on the server
  value: (r: TableRun) => string;
}

export const ATTRS: Record<string, AttrSpec> = {
  run_name: { label: "Run name", width: 220, order: "attributes.run_name", value: (r) => r.run_name ?? r.run_id },
  status: { label: "Status", width: 96, order: "attributes.status", value: (r) => r.status ?? "" },
  start_time: { label: "Started", width: 160, order: "attributes.start_time", value: (r) => fmtTime(r.start_time) },
  duration: {
    label: "Duration",
    width: 90,
    value: (r) => fmtDuration(r.start_time, r.end_time, r.status === "RUNNING"),
  },
  user_id: { label: "User", width: 110, order: "attributes.user_id", value: (r) => r.user_id ?? "" },
  source: {
    label: "Source",
    width: 150,
    order: "tags.`mlflow.source.name`",
    value: (r) => (r.tags["mlflow.source.name"] ?? "").split(/[\\/]/).pop() ?? "",
  },
};
export const DEFAULT_ATTRS = ["run_name", "status", "start_time", "duration", "user_id", "source"];

export function colId(c: Column): string {
  return c.kind === "attr" ? c.key : `${c.kind}.${c.key}`;
}

export function parseCols(raw: string | null): Column[] | null {
  if (!raw) return null;
  try {
    const list = JSON.parse(raw) as string[];
    return list.map((id) => {
      const m = /^(params|metrics|tags)\.(.*)$/s.exec(id);
      return m ? { kind: m[1] as Kind, key: m[2] } : { kind: "attr", key: id };
    });
  } catch {
    return null;
  }
}

export function encodeCols(cols: Column[]): string {
  return JSON.stringify(cols.map(colId));
}

export function colLabel(c: Column): string {
  return c.kind === "attr" ? (ATTRS[c.key]?.label ?? c.key) : c.key;
}

export function colWidth(c: Column): number {
  return c.kind === "attr" ? (ATTRS[c.key]?.width ?? 120) : 130;
}

/** The server's order_by identifier for a column, or null when it cannot be sorted. */
export function orderKey(c: Column): string | null {
  if (c.kind === "attr") return ATTRS[c.key]?.order ?? null;
  return `${c.kind}.\`${c.key.replace(/`/g, "")}\``;
}

export function cellText(c: Column, r: TableRun): string {
  if (c.kind === "attr") return ATTRS[c.key]?.value(r) ?? "";
  if (c.kind === "metrics") {
    if (!(c.key in r.metrics)) return "";
    const v = r.metrics[c.key];
    return v === null ? "NaN" : fmtNum(v);
  }
  const v = c.kind === "params" ? r.params[c.key] : r.tags[c.key];
  return v ?? "";
}

/** "metrics.`acc` DESC" -> {id: "metrics.`acc`", desc: true} */
export function parseSort(sort: string | null): { id: string; desc: boolean } | null {
  if (!sort) return null;
  const m = /^(.*?)\s+(ASC|DESC)$/i.exec(sort.trim());
  return m ? { id: m[1], desc: m[2].toUpperCase() === "DESC" } : { id: sort.trim(), desc: false };
}
