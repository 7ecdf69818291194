// One metric across runs, drawn by uPlot from /api/aiotrack/metrics/sampled: the server buckets
// the history by step and keeps each bucket's min and max, so spikes survive. Each bucket becomes
// up to two points (min, then max half a bucket later) on a step grid shared by every run.
// Dragging a range refetches it at up to full resolution, on every x axis: on a time axis the
// chosen span becomes the step range of the buckets whose [ts_min, ts_max] meet it (the server
// buckets by step only), and the x scale is then set to the span. Double-click or "Reset" zooms out.
import uPlot from "uplot";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, isAbort, Sampled } from "../api";
import { poll } from "../format";

export type XAxis = "step" | "wall" | "relative";
export const COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bc4c00", "#0a7a8a", "#bf3989", "#6e7781", "#9a6700", "#116329"];

export interface ChartRun {
  id: string;
  name: string;
}

interface Props {
  runs: ChartRun[];
  metricKey: string;
  xAxis?: XAxis;
  logY?: boolean;
  smoothing?: number; // 0..0.99, EMA weight
  live?: boolean;
  height?: number;
}

type Data = (number | null)[][];

/** Build uPlot's aligned columns for the step axis: x grid + one y column per run. */
export function stepColumns(s: Sampled, ids: string[]): Data {
  const width = s.width;
  const lo = s.lo ?? 0;
  const buckets = new Map<number, boolean>(); // bucket -> needs a second (max) point
  for (const id of ids) {
    const r = s.runs[id];
    if (!r) continue;
    r.bucket.forEach((b, i) => buckets.set(b, (buckets.get(b) ?? false) || r.min[i] !== r.max[i]));
  }
  const order = [...buckets.keys()].sort((a, b) => a - b);
  const xs: number[] = [];
  const slot = new Map<number, number>();
  for (const b of order) {
    slot.set(b, xs.length);
    const x0 = lo + b * width;
    xs.push(x0);
    if (buckets.get(b)) xs.push(x0 + width / 2);
  }
  const cols: Data = [xs];
  for (const id of ids) {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    const r = s.runs[id];
    if (r)
      r.bucket.forEach((b, i) => {
        const at = slot.get(b)!;
        y[at] = r.min[i];
        if (r.min[i] !== r.max[i]) y[at + 1] = r.max[i];
      });
    cols.push(y);
  }
  return cols;
}

/** Time axes: per-run (ts, value) pairs joined into aligned columns (x in seconds; relative to
 * `origin(id)` ms, the run's first point, when `relative`). */
function timeColumns(s: Sampled, ids: string[], relative: boolean, origin: (id: string) => number | undefined): Data {
  const tables: uPlot.AlignedData[] = ids.map((id) => {
    const r = s.runs[id];
    if (!r || !r.ts_min || !r.ts_max) return [[], []] as unknown as uPlot.AlignedData;
    const tsMin = r.ts_min;
    const tsMax = r.ts_max;
    const t0 = relative ? (origin(id) ?? tsMin[0]) : 0;
    const xs: number[] = [];
    const ys: number[] = [];
    r.bucket.forEach((_, i) => {
      const a = (tsMin[i] - t0) / 1000;
      let last = xs.length ? xs[xs.length - 1] : -Infinity;
      xs.push(Math.max(a, last + 1e-6));
      ys.push(r.min[i]);
      if (r.min[i] !== r.max[i]) {
        last = xs[xs.length - 1];
        xs.push(Math.max((tsMax[i] - t0) / 1000, last + 1e-6));
        ys.push(r.max[i]);
      }
    });
    return [xs, ys] as unknown as uPlot.AlignedData;
  });
  return uPlot.join(tables) as unknown as Data;
}

/** The step range of the buckets (of any run) whose time span meets [a, b] seconds on the
 * chart's x axis, or null when none does. */
export function stepsForTimes(s: Sampled, ids: string[], a: number, b: number, relative: boolean, origin: (id: string) => number | undefined): [number, number] | null {
  const lo = s.lo ?? 0;
  let from = Infinity;
  let to = -Infinity;
  for (const id of ids) {
    const r = s.runs[id];
    if (!r || !r.ts_min || !r.ts_max) continue;
    const t0 = relative ? (origin(id) ?? r.ts_min[0]) : 0;
    const A = a * 1000 + t0;
    const B = b * 1000 + t0;
    r.bucket.forEach((bk, i) => {
      if (r.ts_max![i] >= A && r.ts_min![i] <= B) {
        from = Math.min(from, lo + bk * s.width);
        to = Math.max(to, lo + (bk + 1) * s.width - 1);
      }
    });
  }
  return from <= to ? [from, Math.min(to, s.hi ?? to)] : null;
}

function smooth(y: (number | null)[], w: number): (number | null)[] {
  if (!w) return y;
  let acc: number | null = null;
  return y.map((v) => {
    if (v === null) return null;
    acc = acc === null ? v : acc * w + v * (1 - w);
    return acc;
  });
}

export function MetricChart({ runs, metricKey, xAxis = "step", logY = false, smoothing = 0, live = false, height = 260 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [range, setRange] = useState<[number, number] | null>(null);
  // Time axes: the x span (chart units) chosen by the zoom, applied to the refetched data.
  const [span, setSpan] = useState<[number, number] | null>(null);
  // Each run's first timestamp (ms) from the unzoomed data: the origin of "relative time".
  const origins = useRef(new Map<string, number>());
  // The sampled data with the query it answers: a render waits for the answer to the current
  // query, so an axis switch never draws (or reports) the previous axis's or zoom's points.
  const [fetched, setFetched] = useState<{ query: string; s: Sampled } | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const ids = runs.map((r) => r.id);
  const idsKey = ids.join(",");

  const zoomOut = () => {
    setRange(null);
    setSpan(null);
  };
  useEffect(zoomOut, [idsKey, metricKey, xAxis]);

  const query = JSON.stringify([idsKey, metricKey, range, xAxis === "step" ? "step" : "time"]);
  const data = fetched && fetched.query === query ? fetched.s : null;

  useEffect(() => {
    const ctl = new AbortController();
    const width = box.current?.clientWidth || 800;
    api
      .sampled(
        {
          run_ids: ids,
          key: metricKey,
          points: Math.min(10000, Math.max(200, Math.round(width * 2))),
          start_step: range?.[0],
          end_step: range?.[1],
          x: xAxis === "step" ? "step" : "time",
        },
        ctl.signal,
      )
      .then((s) => {
        if (!range)
          for (const [id, r] of Object.entries(s.runs)) if (r.ts_min?.length) origins.current.set(id, r.ts_min[0]);
        setFetched({ query, s });
        setError("");
      })
      .catch((e: unknown) => !isAbort(e) && setError(e instanceof Error ? e.message : String(e)));
    return () => ctl.abort();
  }, [idsKey, metricKey, range, tick, xAxis]);

  useEffect(() => (live ? poll(() => setTick((t) => t + 1), 5000) : undefined), [live]);

  useEffect(() => {
    const el = box.current;
    if (!el || !data) return;
    plot.current?.destroy();
    plot.current = null;
    const origin = (id: string) => origins.current.get(id);
    const relative = xAxis === "relative";
    let cols = xAxis === "step" ? stepColumns(data, ids) : timeColumns(data, ids, relative, origin);
    cols = [cols[0], ...cols.slice(1).map((y) => smooth(y, smoothing))];
    if (logY) cols = [cols[0], ...cols.slice(1).map((y) => y.map((v) => (v !== null && v > 0 ? v : null)))];
    let ymax = -Infinity;
    let points = 0;
    for (const y of cols.slice(1))
      for (const v of y)
        if (v !== null) {
          points++;
          if (v > ymax) ymax = v;
        }
    el.dataset.points = String(points);
    el.dataset.ymax = points ? String(ymax) : "";
    el.dataset.width = String(data.width);
    el.dataset.axis = xAxis;
    el.dataset.times = Object.values(data.runs).some((r) => r.ts_min) ? "1" : "0";
    // Canvas does not resolve CSS variables: read the theme's colours once per render.
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue("--fg").trim() || "#1d2330";
    const grid = css.getPropertyValue("--grid").trim() || "#e3e7ee";
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      legend: { show: runs.length <= 20 },
      scales: {
        x: { time: xAxis === "wall" },
        y: logY ? { distr: 3 } : {},
      },
      axes: [
        { ...axis, label: xAxis === "step" ? "step" : xAxis === "relative" ? "seconds" : undefined },
        { ...axis, size: 60 },
      ],
      cursor: { drag: { x: true, y: false, setScale: false } },
      series: [
        { label: xAxis === "step" ? "step" : "time" },
        // Points are drawn for short series only ("auto" in MLflow: fewer than 60), so a metric
        // logged once is a dot rather than nothing.
        ...runs.map((r, i) => ({
          label: r.name,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: (cols[i + 1] ?? []).filter((v) => v !== null).length < 60, size: 6, fill: COLORS[i % COLORS.length] },
        })),
      ],
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (u.select.width < 3) return;
            const x0 = u.posToVal(u.select.left, "x");
            const x1 = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (xAxis === "step") {
              const [a, b] = [Math.floor(x0), Math.ceil(x1)];
              if (b > a) setRange([a, b]);
              return;
            }
            const steps = stepsForTimes(data, ids, x0, x1, relative, origin);
            if (!steps) return;
            setRange(steps);
            setSpan([x0, x1]);
          },
        ],
      },
    };
    const t0 = performance.now();
    plot.current = new uPlot(opts, cols as uPlot.AlignedData, el);
    if (span && xAxis !== "step" && range) plot.current.setScale("x", { min: span[0], max: span[1] });
    requestAnimationFrame(() => {
      el.dataset.renderMs = String(Math.round(performance.now() - t0));
      el.dataset.ready = "1";
    });
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height }));
    ro.observe(el);
    return () => ro.disconnect();
  }, [data, xAxis, logY, smoothing, height, runs.map((r) => r.name).join("\u0000")]);

  useEffect(() => () => plot.current?.destroy(), []);

  return (
    <figure class="chart" data-metric={metricKey}>
      <figcaption>
        <strong>{metricKey}</strong>
        {data && data.width > 1 && <span class="muted"> · {data.width} steps per bucket (min/max kept)</span>}
        {data && data.width === 1 && <span class="muted"> · full resolution</span>}
        {range && (
          <button class="small" onClick={zoomOut}>
            Reset zoom
          </button>
        )}
      </figcaption>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {data && data.lo === null && <p class="muted">No values.</p>}
      <div class="plot" ref={box} onDblClick={zoomOut} />
    </figure>
  );
}
