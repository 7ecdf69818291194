// A tiny inline chart of a metric's history (min/max buckets from the sampled endpoint).
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";

export function Sparkline({ runId, metricKey, tick }: { runId: string; metricKey: string; tick: number }) {
  const [path, setPath] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    api
      .sampled({ run_ids: [runId], key: metricKey, points: 120 }, ctl.signal)
      .then((s) => {
        const r = s.runs[runId];
        if (!r || !r.bucket.length) return setPath("");
        const W = 120;
        const H = 24;
        const n = Math.max(1, r.bucket[r.bucket.length - 1]);
        const lo = Math.min(...r.min);
        const hi = Math.max(...r.max);
        const y = (v: number) => (hi === lo ? H / 2 : H - 1 - ((v - lo) / (hi - lo)) * (H - 2));
        const pts = r.bucket.flatMap((b, i) => {
          const x = ((b / n) * (W - 2) + 1).toFixed(1);
          return [`${x},${y(r.min[i]).toFixed(1)}`, `${x},${y(r.max[i]).toFixed(1)}`];
        });
        setPath(`M${pts.join("L")}`);
      })
      .catch((e: unknown) => !isAbort(e) && setPath(""));
    return () => ctl.abort();
  }, [runId, metricKey, tick]);
  return (
    <svg class="spark" width="120" height="24" viewBox="0 0 120 24" aria-hidden="true">
      {path && <path d={path} fill="none" stroke="currentColor" stroke-width="1" />}
    </svg>
  );
}
