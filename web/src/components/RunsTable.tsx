// The virtualised runs table: fixed-height rows, only the visible window is in the DOM, rows are
// fetched from /api/aiotrack/runs/table in pages of PAGE rows as they scroll into view. Sort and
// filter run on the server (MLflow's semantics), so 10,000 runs cost what one screen costs.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, isAbort, TableRun, ViewType } from "../api";
import { cellText, colId, colLabel, Column, colWidth, orderKey, parseSort } from "../columns";
import { poll } from "../format";
import { href, navigate } from "../router";

const ROW = 30;
const PAGE = 100;
const OVERSCAN = 10;
const CHECK_W = 36;

export interface TableQuery {
  experimentId: string;
  filter: string;
  sort: string | null;
  viewType: ViewType;
  cols: Column[];
}

interface Props extends TableQuery {
  selected: Set<string>;
  onSelect: (ids: Set<string>) => void;
  onSort: (sort: string | null) => void;
  onError: (msg: string) => void;
  onLoaded: (total: number, firstRows: TableRun[]) => void;
}

export function RunsTable(p: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [total, setTotal] = useState<number | null>(null);
  const [pages, setPages] = useState<Map<number, TableRun[]>>(new Map());
  const [active, setActive] = useState(0);
  const inflight = useRef(new Map<number, AbortController>());
  const queryKey = JSON.stringify([p.experimentId, p.filter, p.sort, p.viewType, p.cols.map(colId)]);

  const fetchPage = (page: number, key: string) => {
    if (inflight.current.has(page)) return;
    const ctl = new AbortController();
    inflight.current.set(page, ctl);
    const cols = p.cols;
    api
      .table(
        {
          experiment_ids: [p.experimentId],
          filter: p.filter || undefined,
          order_by: p.sort ? [p.sort] : [],
          run_view_type: p.viewType,
          offset: page * PAGE,
          limit: PAGE,
          params: cols.filter((c) => c.kind === "params").map((c) => c.key),
          metrics: cols.filter((c) => c.kind === "metrics").map((c) => c.key),
          tags: cols.filter((c) => c.kind === "tags").map((c) => c.key),
        },
        ctl.signal,
      )
      .then((res) => {
        if (key !== queryKeyRef.current) return;
        setTotal(res.total);
        setPages((old) => new Map(old).set(page, res.runs));
        if (page === 0) p.onLoaded(res.total, res.runs);
        p.onError("");
      })
      .catch((e: unknown) => {
        if (isAbort(e)) return;
        if (key !== queryKeyRef.current) return;
        p.onError(e instanceof ApiError ? e.message : String(e));
        setTotal(0);
      })
      .finally(() => {
        if (inflight.current.get(page) === ctl) inflight.current.delete(page);
      });
  };
  const queryKeyRef = useRef(queryKey);

  // A new query: drop everything and start at the top.
  useEffect(() => {
    queryKeyRef.current = queryKey;
    inflight.current.forEach((c) => c.abort());
    inflight.current.clear();
    setPages(new Map());
    setTotal(null);
    setActive(0);
    if (scroller.current) scroller.current.scrollTop = 0;
    setScrollTop(0);
    fetchPage(0, queryKey);
  }, [queryKey]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(total ?? 0, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);

  // Fetch the pages the visible window needs.
  useEffect(() => {
    if (total === null) return;
    for (let pg = Math.floor(first / PAGE); pg * PAGE < last; pg++) {
      if (!pages.has(pg)) fetchPage(pg, queryKey);
    }
  }, [first, last, total, pages, queryKey]);

  // Live: refresh the visible pages while any visible run is RUNNING.
  const visibleRows: (TableRun | undefined)[] = [];
  for (let i = first; i < last; i++) visibleRows.push(pages.get(Math.floor(i / PAGE))?.[i % PAGE]);
  const anyRunning = visibleRows.some((r) => r?.status === "RUNNING");
  useEffect(() => {
    if (!anyRunning) return;
    return poll(() => {
      for (let pg = Math.floor(first / PAGE); pg * PAGE < last; pg++) fetchPage(pg, queryKey);
    }, 5000);
  }, [anyRunning, first, last, queryKey]);

  const widths = useMemo(() => p.cols.map(colWidth), [p.cols]);
  const totalWidth = CHECK_W + widths.reduce((a, b) => a + b, 0);
  const template = `${CHECK_W}px ${widths.map((w) => `${w}px`).join(" ")}`;
  const sort = parseSort(p.sort);

  const rowAt = (i: number) => pages.get(Math.floor(i / PAGE))?.[i % PAGE];
  const toggle = (id: string) => {
    const next = new Set(p.selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    p.onSelect(next);
  };

  const moveTo = (i: number) => {
    const n = total ?? 0;
    if (!n) return;
    const idx = Math.max(0, Math.min(n - 1, i));
    setActive(idx);
    const el = scroller.current;
    if (!el) return;
    const top = idx * ROW;
    const header = ROW;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW > el.scrollTop + el.clientHeight - header) el.scrollTop = top + ROW - el.clientHeight + header;
  };

  const onKey = (e: KeyboardEvent) => {
    const pageRows = Math.max(1, Math.floor(height / ROW) - 2);
    const actions: Record<string, () => void> = {
      ArrowDown: () => moveTo(active + 1),
      ArrowUp: () => moveTo(active - 1),
      PageDown: () => moveTo(active + pageRows),
      PageUp: () => moveTo(active - pageRows),
      Home: () => moveTo(0),
      End: () => moveTo((total ?? 1) - 1),
      " ": () => {
        const r = rowAt(active);
        if (r) toggle(r.run_id);
      },
      Enter: () => {
        const r = rowAt(active);
        if (r) navigate(href(`/experiments/${p.experimentId}/runs/${r.run_id}`));
      },
    };
    const fn = actions[e.key];
    if (fn && e.target === scroller.current) {
      e.preventDefault();
      fn();
    }
  };

  const clickHeader = (c: Column) => {
    const key = orderKey(c);
    if (!key) return;
    if (sort?.id !== key) p.onSort(`${key} DESC`);
    else if (sort.desc) p.onSort(`${key} ASC`);
    else p.onSort(null);
  };

  const rows = [];
  for (let i = first; i < last; i++) {
    const r = rowAt(i);
    const isActive = i === active;
    if (!r) {
      rows.push(
        <div class="row loading" role="row" aria-rowindex={i + 2} style={{ top: `${(i + 1) * ROW}px`, gridTemplateColumns: template }} key={`l${i}`}>
          <div class="cell" role="gridcell" />
          <div class="cell muted" role="gridcell">
            …
          </div>
        </div>,
      );
      continue;
    }
    const sel = p.selected.has(r.run_id);
    const parent = r.tags["mlflow.parentRunId"];
    rows.push(
      <div
        id={`row-${i}`}
        class={`row${isActive ? " active" : ""}${sel ? " selected" : ""}`}
        role="row"
        aria-rowindex={i + 2}
        aria-selected={sel}
        data-run-id={r.run_id}
        style={{ top: `${(i + 1) * ROW}px`, gridTemplateColumns: template }}
        key={r.run_id}
        onClick={() => setActive(i)}
      >
        <div class="cell" role="gridcell">
          <input type="checkbox" tabIndex={-1} aria-label={`Select ${r.run_name ?? r.run_id}`} checked={sel} onChange={() => toggle(r.run_id)} />
        </div>
        {p.cols.map((c) => {
          const text = cellText(c, r);
          if (c.kind === "attr" && c.key === "run_name")
            return (
              <div class="cell name" role="gridcell" key="run_name" title={text}>
                {parent && (
                  <span class="nested" title={`Child of run ${parent}`}>
                    ↳
                  </span>
                )}
                <a tabIndex={-1} href={href(`/experiments/${p.experimentId}/runs/${r.run_id}`)}>
                  {text}
                </a>
              </div>
            );
          if (c.kind === "attr" && c.key === "status")
            return (
              <div class="cell" role="gridcell" key="status">
                <span class={`status s-${text.toLowerCase()}`}>{text}</span>
              </div>
            );
          return (
            <div class={`cell${c.kind === "metrics" ? " num" : ""}`} role="gridcell" key={colId(c)} title={text}>
              {text}
            </div>
          );
        })}
      </div>,
    );
  }

  return (
    <div
      class="grid"
      ref={scroller}
      role="grid"
      aria-label="Runs"
      aria-rowcount={(total ?? 0) + 1}
      aria-activedescendant={total ? `row-${active}` : undefined}
      tabIndex={0}
      onKeyDown={onKey}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      data-total={total ?? ""}
    >
      <div class="grid-inner" style={{ height: `${((total ?? 0) + 1) * ROW}px`, width: `${totalWidth}px` }}>
        <div class="row header" role="row" aria-rowindex={1} style={{ gridTemplateColumns: template }}>
          <div class="cell" role="columnheader">
            <span class="sr-only">Select</span>
          </div>
          {p.cols.map((c) => {
            const key = orderKey(c);
            const dir = key && sort?.id === key ? (sort.desc ? "descending" : "ascending") : "none";
            return (
              <div class={`cell${c.kind !== "attr" ? ` k-${c.kind}` : ""}`} role="columnheader" aria-sort={dir} key={colId(c)} title={colId(c)}>
                {key ? (
                  <button class="sort" onClick={() => clickHeader(c)}>
                    {colLabel(c)}
                    {dir === "descending" ? " ▼" : dir === "ascending" ? " ▲" : ""}
                  </button>
                ) : (
                  colLabel(c)
                )}
              </div>
            );
          })}
        </div>
        {rows}
      </div>
      {total === 0 && <div class="empty muted">No runs match.</div>}
    </div>
  );
}
