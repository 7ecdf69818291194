// The virtualised runs table: fixed-height rows, only the visible window is in the DOM, rows are
// fetched from /api/aiotrack/runs/table in pages of PAGE rows as they scroll into view. Sort and
// filter run on the server (MLflow's semantics), so 10,000 runs cost what one screen costs.
//
// Nested runs (`nested`): the server pages through top-level runs only, each with its number of
// children; expanding a parent (its ▸ button, or ArrowRight on its row) fetches its children
// (`parent_id=`) and splices them, and their own expanded children, in below it. The grid is then
// an ARIA treegrid: rows carry aria-level and aria-expanded.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, isAbort, TableRun, ViewType } from "../api";
import { cellText, colId, colLabel, Column, colWidth, orderKey, parseSort } from "../columns";
import { poll } from "../format";
import { href, navigate } from "../router";

const ROW = 30;
const PAGE = 100;
const OVERSCAN = 10;
const CHECK_W = 36;
const INDENT = 16;
/** Children shown under one parent; more are reachable through a filter on the parent tag. */
const MAX_CHILDREN = 1000;

export interface TableQuery {
  experimentId: string;
  filter: string;
  sort: string | null;
  viewType: ViewType;
  cols: Column[];
  nested: boolean;
}

interface Props extends TableQuery {
  selected: Set<string>;
  onSelect: (ids: Set<string>) => void;
  onSort: (sort: string | null) => void;
  onError: (msg: string) => void;
  /** First page loaded: (rows the table pages through, matching runs children included, rows). */
  onLoaded: (total: number, all: number, firstRows: TableRun[]) => void;
}

interface Children {
  runs: TableRun[] | null; // null while loading
  total: number;
}

/** One line of the table: a run (top-level when `top` is set), or a placeholder. */
type Item =
  | { kind: "run"; run: TableRun; depth: number; top?: number }
  | { kind: "pending"; depth: 0; top: number }
  | { kind: "loading"; depth: number; parent: string }
  | { kind: "more"; depth: number; parent: string; count: number };

export function RunsTable(p: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [total, setTotal] = useState<number | null>(null);
  const [pages, setPages] = useState<Map<number, TableRun[]>>(new Map());
  const [active, setActive] = useState(0);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [children, setChildren] = useState<Map<string, Children>>(new Map());
  const inflight = useRef(new Map<number, AbortController>());
  const queryKey = JSON.stringify([p.experimentId, p.filter, p.sort, p.viewType, p.nested, p.cols.map(colId)]);
  const queryKeyRef = useRef(queryKey);

  const baseQuery = () => {
    const cols = p.cols;
    return {
      experiment_ids: [p.experimentId],
      order_by: p.sort ? [p.sort] : [],
      run_view_type: p.viewType,
      params: cols.filter((c) => c.kind === "params").map((c) => c.key),
      metrics: cols.filter((c) => c.kind === "metrics").map((c) => c.key),
      tags: cols.filter((c) => c.kind === "tags").map((c) => c.key),
    };
  };

  const fetchPage = (page: number, key: string) => {
    if (inflight.current.has(page)) return;
    const ctl = new AbortController();
    inflight.current.set(page, ctl);
    api
      .table({ ...baseQuery(), filter: p.filter || undefined, nested: p.nested || undefined, offset: page * PAGE, limit: PAGE }, ctl.signal)
      .then((res) => {
        if (key !== queryKeyRef.current) return;
        setTotal(res.total);
        setPages((old) => new Map(old).set(page, res.runs));
        if (page === 0) p.onLoaded(res.total, res.all_total ?? res.total, res.runs);
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

  const fetchChildren = (parent: string, key: string) => {
    api
      .table({ ...baseQuery(), parent_id: parent, offset: 0, limit: MAX_CHILDREN })
      .then((res) => {
        if (key !== queryKeyRef.current) return;
        setChildren((old) => new Map(old).set(parent, { runs: res.runs, total: res.total }));
      })
      .catch((e: unknown) => {
        if (key !== queryKeyRef.current) return;
        p.onError(e instanceof ApiError ? e.message : String(e));
        setChildren((old) => new Map(old).set(parent, { runs: [], total: 0 }));
      });
  };

  // A new query: drop everything and start at the top.
  useEffect(() => {
    queryKeyRef.current = queryKey;
    inflight.current.forEach((c) => c.abort());
    inflight.current.clear();
    setPages(new Map());
    setTotal(null);
    setActive(0);
    setExpanded(new Set());
    setChildren(new Map());
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

  const topRow = (i: number) => pages.get(Math.floor(i / PAGE))?.[i % PAGE];

  // Expanded top-level parents, in table order, each with the lines spliced in below it.
  const segments = useMemo(() => {
    if (!p.nested || !expanded.size) return [];
    const where = new Map<string, number>();
    for (const [pg, runs] of pages) runs.forEach((r, j) => expanded.has(r.run_id) && where.set(r.run_id, pg * PAGE + j));
    const below = (id: string, depth: number, path: Set<string>): Item[] => {
      const c = children.get(id);
      if (!c) return [];
      if (c.runs === null) return [{ kind: "loading", depth, parent: id }];
      const out: Item[] = [];
      for (const run of c.runs) {
        out.push({ kind: "run", run, depth });
        if (expanded.has(run.run_id) && !path.has(run.run_id)) out.push(...below(run.run_id, depth + 1, new Set(path).add(run.run_id)));
      }
      if (c.total > c.runs.length) out.push({ kind: "more", depth, parent: id, count: c.total - c.runs.length });
      return out;
    };
    return [...where.entries()].sort((a, b) => a[1] - b[1]).map(([id, top]) => ({ top, items: below(id, 1, new Set([id])) }));
  }, [p.nested, expanded, children, pages]);

  const extra = segments.reduce((n, s) => n + s.items.length, 0);
  const count = total === null ? 0 : total + extra;

  const itemAt = (i: number): Item => {
    let shift = 0;
    for (const s of segments) {
      const at = s.top + shift; // where the parent is shown
      if (i <= at) break;
      if (i <= at + s.items.length) return s.items[i - at - 1];
      shift += s.items.length;
    }
    const top = i - shift;
    const run = topRow(top);
    return run ? { kind: "run", run, depth: 0, top } : { kind: "pending", depth: 0, top };
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  const visible: Item[] = [];
  for (let i = first; i < last; i++) visible.push(itemAt(i));

  // Fetch the pages the visible window needs.
  const wanted = [...new Set(visible.filter((it) => it.kind === "pending").map((it) => Math.floor((it as { top: number }).top / PAGE)))];
  useEffect(() => {
    for (const pg of wanted) if (!pages.has(pg)) fetchPage(pg, queryKey);
  }, [wanted.join(","), queryKey]);

  // Live: refresh the visible pages (and open parents) while any visible run is RUNNING.
  const anyRunning = visible.some((it) => it.kind === "run" && it.run.status === "RUNNING");
  useEffect(() => {
    if (!anyRunning) return;
    return poll(() => {
      const tops = visible.filter((it) => it.kind === "run" && it.top !== undefined).map((it) => (it as { top: number }).top);
      for (const pg of new Set(tops.map((t) => Math.floor(t / PAGE)))) fetchPage(pg, queryKey);
      for (const id of expanded) fetchChildren(id, queryKey);
    }, 5000);
  }, [anyRunning, first, last, queryKey, expanded]);

  const widths = useMemo(() => p.cols.map(colWidth), [p.cols]);
  const totalWidth = CHECK_W + widths.reduce((a, b) => a + b, 0);
  const template = `${CHECK_W}px ${widths.map((w) => `${w}px`).join(" ")}`;
  const sort = parseSort(p.sort);

  const toggle = (id: string) => {
    const next = new Set(p.selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    p.onSelect(next);
  };

  const setOpen = (id: string, open: boolean) => {
    if (open === expanded.has(id)) return;
    const next = new Set(expanded);
    if (open) {
      next.add(id);
      if (!children.has(id)) {
        setChildren((old) => new Map(old).set(id, { runs: null, total: 0 }));
        fetchChildren(id, queryKey);
      }
    } else next.delete(id);
    setExpanded(next);
  };

  const moveTo = (i: number) => {
    if (!count) return;
    const idx = Math.max(0, Math.min(count - 1, i));
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
    const it = count ? itemAt(active) : null;
    const run = it?.kind === "run" ? it.run : null;
    const actions: Record<string, () => void> = {
      ArrowDown: () => moveTo(active + 1),
      ArrowUp: () => moveTo(active - 1),
      PageDown: () => moveTo(active + pageRows),
      PageUp: () => moveTo(active - pageRows),
      Home: () => moveTo(0),
      End: () => moveTo(count - 1),
      " ": () => run && toggle(run.run_id),
      Enter: () => run && navigate(href(`/experiments/${p.experimentId}/runs/${run.run_id}`)),
    };
    if (p.nested) {
      // The treegrid keys: Right opens a parent, then steps into it; Left closes it, or steps
      // out to the parent of a child.
      actions.ArrowRight = () => {
        if (!run || !run.child_count) return;
        if (!expanded.has(run.run_id)) setOpen(run.run_id, true);
        else moveTo(active + 1);
      };
      actions.ArrowLeft = () => {
        if (!it) return;
        if (run && expanded.has(run.run_id)) return setOpen(run.run_id, false);
        if (it.depth === 0) return;
        for (let i = active - 1; i >= 0; i--) if (itemAt(i).depth === it.depth - 1) return moveTo(i);
      };
    }
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
  for (let n = 0; n < visible.length; n++) {
    const i = first + n;
    const it = visible[n];
    const isActive = i === active;
    const pos = { top: `${(i + 1) * ROW}px`, gridTemplateColumns: template };
    const level = p.nested ? it.depth + 1 : undefined;
    if (it.kind !== "run") {
      const text =
        it.kind === "more" ? (
          <>
            {it.count.toLocaleString()} more child runs:{" "}
            <a tabIndex={-1} href={href(`/experiments/${p.experimentId}`, { filter: `tags.\`mlflow.parentRunId\` = '${it.parent}'` })}>
              show them all
            </a>
          </>
        ) : (
          "…"
        );
      rows.push(
        <div id={`row-${i}`} class={`row loading${isActive ? " active" : ""}`} role="row" aria-rowindex={i + 2} aria-level={level} style={pos} key={`l${i}`}>
          <div class="cell" role="gridcell" />
          <div class="cell muted" role="gridcell" style={{ paddingLeft: `${8 + it.depth * INDENT}px`, gridColumn: "2 / -1" }}>
            {text}
          </div>
        </div>,
      );
      continue;
    }
    const r = it.run;
    const sel = p.selected.has(r.run_id);
    const parent = r.tags["mlflow.parentRunId"];
    const open = expanded.has(r.run_id);
    const label = r.run_name ?? r.run_id;
    rows.push(
      <div
        id={`row-${i}`}
        class={`row${isActive ? " active" : ""}${sel ? " selected" : ""}${it.depth ? " child" : ""}`}
        role="row"
        aria-rowindex={i + 2}
        aria-selected={sel}
        aria-level={level}
        aria-expanded={p.nested && r.child_count ? open : undefined}
        data-run-id={r.run_id}
        data-depth={it.depth}
        style={pos}
        key={r.run_id}
        onClick={() => setActive(i)}
      >
        <div class="cell" role="gridcell">
          <input type="checkbox" tabIndex={-1} aria-label={`Select ${label}`} checked={sel} onChange={() => toggle(r.run_id)} />
        </div>
        {p.cols.map((c) => {
          const text = cellText(c, r);
          if (c.kind === "attr" && c.key === "run_name")
            return (
              <div class="cell name" role="gridcell" key="run_name" title={text} style={it.depth ? { paddingLeft: `${8 + it.depth * INDENT}px` } : undefined}>
                {p.nested && r.child_count > 0 ? (
                  <button
                    class="twisty"
                    tabIndex={-1}
                    aria-expanded={open}
                    aria-label={`${open ? "Collapse" : "Expand"} the ${r.child_count} child runs of ${label}`}
                    onClick={(e) => {
                      e.stopPropagation();
                      setActive(i);
                      setOpen(r.run_id, !open);
                    }}
                  >
                    {open ? "▾" : "▸"}
                  </button>
                ) : p.nested ? (
                  <span class="twisty-space" />
                ) : null}
                {parent && !p.nested && (
                  <span class="nested" title={`Child of run ${parent}`}>
                    ↳
                  </span>
                )}
                <a tabIndex={-1} href={href(`/experiments/${p.experimentId}/runs/${r.run_id}`)}>
                  {text}
                </a>
                {p.nested && r.child_count > 0 && <span class="muted child-count"> ({r.child_count})</span>}
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
      role={p.nested ? "treegrid" : "grid"}
      aria-label="Runs"
      aria-rowcount={count + 1}
      aria-activedescendant={count ? `row-${active}` : undefined}
      tabIndex={0}
      onKeyDown={onKey}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      data-total={total ?? ""}
    >
      <div class="grid-inner" style={{ height: `${(count + 1) * ROW}px`, width: `${totalWidth}px` }}>
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
