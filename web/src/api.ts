// One typed client for everything the UI asks the server. URLs are relative to the page, so the
// UI works under any --static-prefix. Errors carry MLflow's {error_code, message}.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined | null | (string | number)[]>;

function qs(query: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, String(x)));
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

async function request<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const resp = await fetch(url, {
    method,
    signal,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data: unknown = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!resp.ok) {
    const err = data as { error_code?: string; message?: string };
    throw new ApiError(resp.status, err.error_code ?? "ERROR", err.message ?? `HTTP ${resp.status}`);
  }
  return data as T;
}

const MLFLOW = "ajax-api/2.0/mlflow";
const get = <T>(path: string, query: Query = {}, signal?: AbortSignal) =>
  request<T>("GET", `${path}${qs(query)}`, undefined, signal);
const post = <T>(path: string, body: unknown) => request<T>("POST", path, body);

export interface KV {
  key: string;
  value: string;
}
export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage: string;
  creation_time?: number;
  last_update_time?: number;
  tags?: KV[];
}
export interface MetricPoint {
  key: string;
  value: number | string;
  timestamp: number;
  step: number;
}
export interface RunInfo {
  run_id: string;
  run_name?: string;
  experiment_id: string;
  user_id?: string;
  status: string;
  start_time?: number;
  end_time?: number;
  artifact_uri?: string;
  lifecycle_stage: string;
}
export interface Run {
  info: RunInfo;
  data: { metrics?: MetricPoint[]; params?: KV[]; tags?: KV[] };
}
export interface TableRun {
  run_id: string;
  run_name: string | null;
  status: string | null;
  start_time: number | null;
  end_time: number | null;
  user_id: string | null;
  lifecycle_stage: string | null;
  params: Record<string, string>;
  metrics: Record<string, number | null>;
  tags: Record<string, string | null>;
  /** Children in this view; filled only for nested / parent_id queries. */
  child_count: number;
}
export interface TablePage {
  total: number;
  /** With nested: every matching run, children included (total counts top-level runs). */
  all_total?: number;
  offset: number;
  runs: TableRun[];
}
export interface Keys {
  params: string[];
  metrics: string[];
  tags: string[];
}
export interface SampledSeries {
  bucket: number[];
  min: number[];
  max: number[];
  count: number[];
  ts_min?: number[];
  ts_max?: number[];
}
export interface Sampled {
  key: string;
  lo: number | null;
  hi: number | null;
  width: number;
  runs: Record<string, SampledSeries>;
}
export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";

export const api = {
  searchExperiments: (q: { filter?: string; view_type?: ViewType; max_results?: number; page_token?: string }) =>
    get<{ experiments?: Experiment[]; next_page_token?: string }>(`${MLFLOW}/experiments/search`, {
      max_results: 1000,
      order_by: ["last_update_time DESC"],
      ...q,
    }),
  getExperiment: (id: string) => get<{ experiment: Experiment }>(`${MLFLOW}/experiments/get`, { experiment_id: id }),
  createExperiment: (name: string, artifact_location?: string) =>
    post<{ experiment_id: string }>(`${MLFLOW}/experiments/create`, { name, artifact_location: artifact_location || undefined }),
  renameExperiment: (experiment_id: string, new_name: string) =>
    post(`${MLFLOW}/experiments/update`, { experiment_id, new_name }),
  deleteExperiment: (experiment_id: string) => post(`${MLFLOW}/experiments/delete`, { experiment_id }),
  restoreExperiment: (experiment_id: string) => post(`${MLFLOW}/experiments/restore`, { experiment_id }),
  getRun: (run_id: string, signal?: AbortSignal) => get<{ run: Run }>(`${MLFLOW}/runs/get`, { run_id }, signal),
  setTag: (run_id: string, key: string, value: string) => post(`${MLFLOW}/runs/set-tag`, { run_id, key, value }),
  deleteTag: (run_id: string, key: string) => post(`${MLFLOW}/runs/delete-tag`, { run_id, key }),
  deleteRun: (run_id: string) => post(`${MLFLOW}/runs/delete`, { run_id }),
  restoreRun: (run_id: string) => post(`${MLFLOW}/runs/restore`, { run_id }),
  listArtifacts: (run_id: string, path: string) =>
    get<{ root_uri?: string; files?: FileInfo[] }>(`${MLFLOW}/artifacts/list`, { run_id, path }),
  artifactUrl: (run_id: string, path: string) => `get-artifact${qs({ run_id, path })}`,
  keys: (experiment_id: string, signal?: AbortSignal) =>
    get<Keys>(`api/aiotrack/experiments/${encodeURIComponent(experiment_id)}/keys`, {}, signal),
  table: (
    q: {
      experiment_ids: string[];
      filter?: string;
      order_by?: string[];
      run_view_type?: ViewType;
      offset: number;
      limit: number;
      params?: string[];
      metrics?: string[];
      tags?: string[];
      nested?: boolean;
      parent_id?: string;
    },
    signal?: AbortSignal,
  ) => get<TablePage>("api/aiotrack/runs/table", q, signal),
  sampled: (
    q: { run_ids: string[]; key: string; points: number; start_step?: number; end_step?: number; x?: "step" | "time" },
    signal?: AbortSignal,
  ) => get<Sampled>("api/aiotrack/metrics/sampled", q, signal),
};

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}
