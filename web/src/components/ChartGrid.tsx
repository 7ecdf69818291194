// A grid of metric charts with shared controls; the chosen keys and options live in the URL
// (charts = JSON list of keys, x = step|wall|relative, log = 1, smooth = 0..0.99).
import { useRef, useState } from "preact/hooks";
import { ChartRun, MetricChart, XAxis } from "./MetricChart";
import { Dialog } from "./Dialog";
import { Route, setQuery } from "../router";

const DEFAULT_CHARTS = 6;

export function chartKeys(route: Route, all: string[]): string[] {
  try {
    const raw = route.query.get("charts");
    if (raw) return JSON.parse(raw) as string[];
  } catch {
    /* fall through to the default */
  }
  return all.slice(0, DEFAULT_CHARTS);
}

/** Which metrics get a chart: a popover dialog of checkboxes (keyboard: see Dialog). */
function MetricPicker({ keys, chosen }: { keys: string[]; chosen: string[] }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  return (
    <div class="popover-wrap">
      <button ref={button} aria-haspopup="dialog" aria-expanded={open} onClick={() => setOpen(!open)}>
        Metrics ({chosen.length})
      </button>
      {open && (
        <Dialog label="Choose metrics to chart" onClose={() => setOpen(false)} anchor={button} testId="metric-picker">
          <div class="choices">
            {keys.slice(0, 500).map((k) => (
              <label class="check" key={k}>
                <input
                  type="checkbox"
                  checked={chosen.includes(k)}
                  onChange={() => setQuery({ charts: JSON.stringify(chosen.includes(k) ? chosen.filter((x) => x !== k) : [...chosen, k]) })}
                />
                {k}
              </label>
            ))}
          </div>
          <button onClick={() => setOpen(false)}>Done</button>
        </Dialog>
      )}
    </div>
  );
}

export function ChartControls({ route, keys }: { route: Route; keys: string[] }) {
  const q = route.query;
  const chosen = chartKeys(route, keys);
  return (
    <div class="toolbar small chart-controls">
      <label>
        X axis{" "}
        <select value={q.get("x") ?? "step"} onChange={(e) => setQuery({ x: e.currentTarget.value === "step" ? undefined : e.currentTarget.value })}>
          <option value="step">Step</option>
          <option value="wall">Wall time</option>
          <option value="relative">Relative time</option>
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={q.get("log") === "1"} onChange={(e) => setQuery({ log: e.currentTarget.checked ? "1" : undefined })} />
        Log scale
      </label>
      <label>
        Smoothing{" "}
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={q.get("smooth") ?? "0"}
          onChange={(e) => setQuery({ smooth: e.currentTarget.value === "0" ? undefined : e.currentTarget.value })}
        />
      </label>
      <MetricPicker keys={keys} chosen={chosen} />
    </div>
  );
}

export function ChartGrid({ route, runs, metricKeys, live = false }: { route: Route; runs: ChartRun[]; metricKeys: string[]; live?: boolean }) {
  const q = route.query;
  const keys = chartKeys(route, metricKeys);
  if (!runs.length) return <p class="muted">No runs to chart.</p>;
  if (!keys.length) return <p class="muted">No metrics logged.</p>;
  return (
    <div class="charts">
      {keys.map((k) => (
        <MetricChart
          key={k}
          runs={runs}
          metricKey={k}
          xAxis={(q.get("x") as XAxis) ?? "step"}
          logY={q.get("log") === "1"}
          smoothing={Number(q.get("smooth") ?? 0)}
          live={live}
        />
      ))}
    </div>
  );
}
