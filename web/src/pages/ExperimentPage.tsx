// An experiment: its runs table (virtualised, server-side sort and filter) or charts of the
// selected runs. Everything that defines the view lives in the URL query:
//   filter, sort ("metrics.`acc` DESC"), cols (JSON list), sel (run ids), view (table|chart),
//   deleted (1), charts (JSON list of metric keys), x (step|wall|relative), log (1), smooth.
import { useEffect, useState } from "preact/hooks";
import { api, Experiment, isAbort, Keys, TableRun } from "../api";
import { ColumnChooser } from "../components/ColumnChooser";
import { ConfirmDialog } from "../components/Dialog";
import { FilterBox, toFilter } from "../components/FilterBox";
import { ChartControls, ChartGrid } from "../components/ChartGrid";
import { RunsTable } from "../components/RunsTable";
import { Column, DEFAULT_ATTRS, encodeCols, parseCols } from "../columns";
import { Route, setQuery } from "../router";

export function ExperimentPage({ experimentId, route }: { experimentId: string; route: Route }) {
  const q = route.query;
  const [exp, setExp] = useState<Experiment | null>(null);
  const [keys, setKeys] = useState<Keys | null>(null);
  const [error, setError] = useState("");
  const [filterError, setFilterError] = useState("");
  const [total, setTotal] = useState<number | null>(null);
  const [topLevel, setTopLevel] = useState<number | null>(null);
  const [firstRows, setFirstRows] = useState<TableRun[]>([]);
  const [confirming, setConfirming] = useState(false);

  useEffect(() => {
    api.getExperiment(experimentId).then((r) => setExp(r.experiment), (e: Error) => setError(e.message));
    api.keys(experimentId).then(setKeys, (e: Error) => setError(e.message));
  }, [experimentId]);

  const filterText = q.get("filter") ?? "";
  const filter = toFilter(filterText);
  const sort = q.get("sort");
  const view = q.get("view") === "chart" ? "chart" : "table";
  const viewType = q.get("deleted") === "1" ? "DELETED_ONLY" : "ACTIVE_ONLY";
  // As in MLflow's UI: sorted by start time with no filter, child runs are nested under their
  // parent (the server returns top-level runs; children load when a parent is expanded).
  const nested = !filter && (!sort || /^attributes\.start_time\s/i.test(`${sort} `));
  const selected = new Set((q.get("sel") ?? "").split(",").filter(Boolean));
  const cols: Column[] = parseCols(q.get("cols")) ?? [
    ...DEFAULT_ATTRS.map((k) => ({ kind: "attr" as const, key: k })),
    ...(keys?.metrics ?? []).slice(0, 4).map((k) => ({ kind: "metrics" as const, key: k })),
    ...(keys?.params ?? []).slice(0, 4).map((k) => ({ kind: "params" as const, key: k })),
  ];
  const setSel = (ids: Set<string>) => setQuery({ sel: [...ids].join(",") || undefined });

  const chartRuns = (selected.size ? [...selected] : firstRows.slice(0, 10).map((r) => r.run_id)).slice(0, 100);
  const names = new Map(firstRows.map((r) => [r.run_id, r.run_name ?? r.run_id]));

  // A new filter (or none, or another page) makes an old filter error stale.
  useEffect(() => setFilterError(""), [filter, experimentId]);

  // Charts opened straight from a link (no table shown yet): chart the table's first runs.
  useEffect(() => {
    if (view !== "chart" || selected.size || firstRows.length) return;
    const ctl = new AbortController();
    api
      .table({ experiment_ids: [experimentId], filter: filter || undefined, order_by: sort ? [sort] : [], run_view_type: viewType, offset: 0, limit: 10 }, ctl.signal)
      .then((r) => setFirstRows(r.runs), (e: unknown) => !isAbort(e) && setError(e instanceof Error ? e.message : String(e)));
    return () => ctl.abort();
  }, [view, experimentId]);

  const restoring = viewType === "DELETED_ONLY";
  const deleteSelected = async () => {
    setConfirming(false);
    try {
      for (const id of selected) await (restoring ? api.restoreRun(id) : api.deleteRun(id));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
    setQuery({ sel: undefined, _r: String(Date.now()) });
  };

  return (
    <main class="page wide">
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="#/experiments">Experiments</a> / <span>{exp?.name ?? experimentId}</span>
      </nav>
      <h1>{exp?.name ?? "…"}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="toolbar">
        <div class="seg" role="group" aria-label="View">
          <button aria-pressed={view === "table"} onClick={() => setQuery({ view: undefined })}>
            Table
          </button>
          <button aria-pressed={view === "chart"} onClick={() => setQuery({ view: "chart" })}>
            Charts
          </button>
        </div>
        <FilterBox value={filterText} keys={keys} onSubmit={(v) => setQuery({ filter: v || undefined }, true)} />
        <ColumnChooser keys={keys} cols={cols} onChange={(c) => setQuery({ cols: encodeCols(c) })} />
        <label class="check">
          <input type="checkbox" checked={viewType === "DELETED_ONLY"} onChange={(e) => setQuery({ deleted: e.currentTarget.checked ? "1" : undefined, sel: undefined })} />
          Deleted runs
        </label>
      </div>
      {filterError && (
        <p class="error" role="alert" data-testid="filter-error">
          Filter error: {filterError}
        </p>
      )}
      <div class="toolbar small">
        <span class="muted" data-testid="run-count">
          {filterError ? "" : total === null ? "Loading runs…" : `${total.toLocaleString()} run${total === 1 ? "" : "s"}`}
          {!filterError && topLevel !== null && total !== null && topLevel !== total && ` (${topLevel.toLocaleString()} top-level; child runs are nested under their parents)`}
          {selected.size > 0 && ` · ${selected.size} selected`}
        </span>
        {selected.size > 0 && (
          <>
            <button onClick={() => setQuery({ view: "chart" })}>Chart selected</button>
            <button class={restoring ? "" : "danger"} onClick={() => setConfirming(true)}>
              {restoring ? "Restore selected" : "Delete selected"}
            </button>
            <button onClick={() => setSel(new Set())}>Clear selection</button>
          </>
        )}
      </div>
      {view === "table" ? (
        // The default columns come from the experiment's keys: wait for them (tens of ms) rather
        // than fetch rows twice and jump back to the top when they arrive.
        !keys && !q.get("cols") && !error ? (
          <p class="muted">Loading runs…</p>
        ) : (
        <RunsTable
          key={q.get("_r") ?? ""}
          experimentId={experimentId}
          filter={filter}
          sort={sort}
          viewType={viewType}
          nested={nested}
          cols={cols}
          selected={selected}
          onSelect={setSel}
          onSort={(s) => setQuery({ sort: s ?? undefined })}
          onError={setFilterError}
          onLoaded={(n, all, rows) => {
            setTopLevel(n);
            setTotal(all);
            setFirstRows(rows);
          }}
        />
        )
      ) : (
        <>
          <ChartControls route={route} keys={keys?.metrics ?? []} />
          {selected.size === 0 && <p class="muted">No runs selected: charting the first {chartRuns.length} runs of the table.</p>}
          <ChartGrid route={route} runs={chartRuns.map((id) => ({ id, name: names.get(id) ?? id.slice(0, 8) }))} metricKeys={keys?.metrics ?? []} />
        </>
      )}
      {confirming && (
        <ConfirmDialog
          title={restoring ? "Restore runs" : "Delete runs"}
          message={restoring ? `Restore ${selected.size} run(s)?` : `Delete ${selected.size} run(s)? They can be restored from “Deleted runs”.`}
          confirmLabel={restoring ? "Restore" : "Delete"}
          danger={!restoring}
          onCancel={() => setConfirming(false)}
          onConfirm={deleteSelected}
        />
      )}
    </main>
  );
}
