// One metric across runs, drawn by uPlot from /api/aiotrack/metrics/sampled: the server buckets
// the history by step and keeps each bucket's min and max, so spikes survive. Each bucket becomes
// up to two points (min, then max half a bucket later) on a step grid shared by every run.
// Dragging a range refetches it at up to full resolution; double-click or "Reset" zooms out.
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

/** Time axes: per-run (ts, value) pairs joined into aligned columns (x in seconds). */
function timeColumns(s: Sampled, ids: string[], relative: boolean): Data {
  const tables: uPlot.AlignedData[] = ids.map((id) => {
    const r = s.runs[id];
    if (!r || !r.ts_min || !r.ts_max) return [[], []] as unknown as uPlot.AlignedData;
    const tsMin = r.ts_min;
    const tsMax = r.ts_max;
    const t0 = relative ? tsMin[0] : 0;
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
  const [data, setData] = useState<Sampled | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const ids = runs.map((r) => r.id);
  const idsKey = ids.join(",");

  useEffect(() => setRange(null), [idsKey, metricKey, xAxis]);

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
        setData(s);
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
    let cols = xAxis === "step" ? stepColumns(data, ids) : timeColumns(data, ids, xAxis === "relative");
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
      cursor: { drag: { x: true, y: false, setScale: xAxis !== "step" } },
      series: [
        { label: xAxis === "step" ? "step" : "time" },
        ...runs.map((r, i) => ({ label: r.name, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } })),
      ],
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (xAxis !== "step" || u.select.width < 3) return;
            const a = Math.floor(u.posToVal(u.select.left, "x"));
            const b = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (b > a) setRange([a, b]);
          },
        ],
      },
    };
    const t0 = performance.now();
    plot.current = new uPlot(opts, cols as uPlot.AlignedData, el);
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
          <button class="small" onClick={() => setRange(null)}>
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
      <div class="plot" ref={box} onDblClick={() => setRange(null)} />
    </figure>
  );
}
