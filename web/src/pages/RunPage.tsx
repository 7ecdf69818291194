// One run: overview, description (markdown in the mlflow.note.content tag), params, latest
// metrics with sparklines, editable tags; a charts tab and an artifacts tab. The URL holds the tab
// (tab=overview|charts|artifacts), the artifact shown (file=) and the chart options.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, Run } from "../api";
import { Artifacts } from "../components/Artifacts";
import { ChartControls, ChartGrid } from "../components/ChartGrid";
import { Markdown } from "../components/Markdown";
import { Sparkline } from "../components/Sparkline";
import { fmtDuration, fmtNum, fmtTime, poll } from "../format";
import { href, Route, setQuery } from "../router";

const NOTE = "mlflow.note.content";

function TagEditor({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const tags = (run.data.tags ?? []).filter((t) => !t.key.startsWith("mlflow.")).sort((a, b) => a.key.localeCompare(b.key));
  const [editing, setEditing] = useState<string | null>(null);
  const [value, setValue] = useState("");
  const [newKey, setNewKey] = useState("");
  const [newValue, setNewValue] = useState("");
  const [error, setError] = useState("");
  const id = run.info.run_id;
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError("");
      onChanged();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <section aria-labelledby="tags-h">
      <h2 id="tags-h">Tags</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="simple kv" data-testid="tags">
        <tbody>
          {tags.map((t) => (
            <tr key={t.key}>
              <th scope="row">{t.key}</th>
              <td>
                {editing === t.key ? (
                  <form
                    class="inline"
                    onSubmit={(e) => {
                      e.preventDefault();
                      act(() => api.setTag(id, t.key, value).then(() => setEditing(null)));
                    }}
                  >
                    <input aria-label={`Value of tag ${t.key}`} value={value} onInput={(e) => setValue(e.currentTarget.value)} autoFocus />
                    <button type="submit">Save</button>
                    <button type="button" onClick={() => setEditing(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  t.value
                )}
              </td>
              <td class="actions">
                <button
                  aria-label={`Edit tag ${t.key}`}
                  onClick={() => {
                    setEditing(t.key);
                    setValue(t.value);
                  }}
                >
                  Edit
                </button>
                <button class="danger" aria-label={`Delete tag ${t.key}`} onClick={() => act(() => api.deleteTag(id, t.key))}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (newKey.trim())
            act(() =>
              api.setTag(id, newKey.trim(), newValue).then(() => {
                setNewKey("");
                setNewValue("");
              }),
            );
        }}
      >
        <input aria-label="New tag key" placeholder="key" value={newKey} onInput={(e) => setNewKey(e.currentTarget.value)} />
        <input aria-label="New tag value" placeholder="value" value={newValue} onInput={(e) => setNewValue(e.currentTarget.value)} />
        <button type="submit">Add tag</button>
      </form>
    </section>
  );
}

function Description({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const note = run.data.tags?.find((t) => t.key === NOTE)?.value ?? "";
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(note);
  const [error, setError] = useState("");
  return (
    <section aria-labelledby="desc-h">
      <h2 id="desc-h">
        Description{" "}
        {!editing && (
          <button
            class="small"
            onClick={() => {
              setText(note);
              setEditing(true);
            }}
          >
            Edit
          </button>
        )}
      </h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {editing ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            api.setTag(run.info.run_id, NOTE, text).then(
              () => {
                setEditing(false);
                onChanged();
              },
              (err: Error) => setError(err.message),
            );
          }}
        >
          <textarea aria-label="Description (markdown)" rows={6} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <button type="submit">Save</button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : note ? (
        <Markdown text={note} />
      ) : (
        <p class="muted">No description.</p>
      )}
    </section>
  );
}

export function RunPage({ runId, experimentId, route }: { runId: string; experimentId?: string; route: Route }) {
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const tab = route.query.get("tab") ?? "overview";

  useEffect(() => {
    const ctl = new AbortController();
    api.getRun(runId, ctl.signal).then(
      (r) => setRun(r.run),
      (e: Error) => e.name !== "AbortError" && setError(e.message),
    );
    return () => ctl.abort();
  }, [runId, tick]);

  const running = run?.info.status === "RUNNING";
  useEffect(() => (running ? poll(() => setTick((t) => t + 1), 5000) : undefined), [running]);

  if (error)
    return (
      <main class="page">
        <p class="error" role="alert">
          {error}
        </p>
      </main>
    );
  if (!run)
    return (
      <main class="page">
        <p class="muted">Loading…</p>
      </main>
    );
  const info = run.info;
  const tags = new Map((run.data.tags ?? []).map((t) => [t.key, t.value]));
  const parent = tags.get("mlflow.parentRunId");
  const expId = experimentId ?? info.experiment_id;
  const params = [...(run.data.params ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const metrics = [...(run.data.metrics ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const name = info.run_name || info.run_id;
  const refresh = () => setTick((t) => t + 1);
  const overview: [string, preact.ComponentChildren][] = [
    ["Run ID", <code>{info.run_id}</code>],
    ["Status", <span class={`status s-${info.status.toLowerCase()}`}>{info.status}</span>],
    ["Started", fmtTime(info.start_time)],
    ["Ended", fmtTime(info.end_time)],
    ["Duration", fmtDuration(info.start_time, info.end_time, running)],
    ["User", info.user_id ?? tags.get("mlflow.user") ?? ""],
    ["Source", tags.get("mlflow.source.name") ?? ""],
    ["Parent run", parent ? <a href={href(`/experiments/${expId}/runs/${parent}`)}>{parent}</a> : "—"],
    ["Artifact location", <code>{info.artifact_uri}</code>],
    ["Lifecycle", info.lifecycle_stage],
  ];
  return (
    <main class="page wide">
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="#/experiments">Experiments</a> / <a href={`#/experiments/${expId}`}>Experiment {expId}</a> / <span>{name}</span>
      </nav>
      <h1>{name}</h1>
      <div class="seg tabs" role="tablist" aria-label="Run sections">
        {(["overview", "charts", "artifacts"] as const).map((t) => (
          <button role="tab" aria-selected={tab === t} key={t} onClick={() => setQuery({ tab: t === "overview" ? undefined : t })}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {tab === "overview" && (
        <div class="run-grid">
          <section aria-labelledby="ov-h">
            <h2 id="ov-h">Overview</h2>
            <table class="simple kv" data-testid="overview">
              <tbody>
                {overview.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <Description run={run} onChanged={refresh} />
          <section aria-labelledby="params-h">
            <h2 id="params-h">Parameters ({params.length})</h2>
            <table class="simple kv" data-testid="params">
              <tbody>
                {params.map((p) => (
                  <tr key={p.key}>
                    <th scope="row">{p.key}</th>
                    <td>{p.value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section aria-labelledby="metrics-h">
            <h2 id="metrics-h">Metrics ({metrics.length})</h2>
            <table class="simple kv" data-testid="metrics">
              <tbody>
                {metrics.map((m, i) => (
                  <tr key={m.key}>
                    <th scope="row">
                      <a href={href(`/experiments/${expId}/runs/${runId}`, { tab: "charts", charts: JSON.stringify([m.key]) })}>{m.key}</a>
                    </th>
                    <td class="num">{fmtNum(m.value)}</td>
                    <td>{i < 30 && <Sparkline runId={runId} metricKey={m.key} tick={tick} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <TagEditor run={run} onChanged={refresh} />
        </div>
      )}
      {tab === "charts" && (
        <>
          <ChartControls route={route} keys={metrics.map((m) => m.key)} />
          <ChartGrid route={route} runs={[{ id: runId, name }]} metricKeys={metrics.map((m) => m.key)} live={running} />
        </>
      )}
      {tab === "artifacts" && <Artifacts runId={runId} chosen={route.query.get("file") ?? ""} onChoose={(f) => setQuery({ file: f })} />}
    </main>
  );
}
