import { useEffect, useState } from "preact/hooks";
import { api, ApiError, Experiment } from "../api";
import { ConfirmDialog, Dialog } from "../components/Dialog";
import { fmtTime } from "../format";
import { Route, setQuery } from "../router";

/** The experiments list: server-side name search, create, rename (a dialog), delete (after a
 * confirm dialog) and restore. */
export function ExperimentsPage({ route }: { route: Route }) {
  const search = route.query.get("q") ?? "";
  const deleted = route.query.get("deleted") === "1";
  const [exps, setExps] = useState<Experiment[] | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const [newName, setNewName] = useState("");
  const [renaming, setRenaming] = useState<Experiment | null>(null);
  const [renameTo, setRenameTo] = useState("");
  const [deleting, setDeleting] = useState<Experiment | null>(null);

  useEffect(() => {
    const escaped = search.replace(/'/g, "\\'");
    api
      .searchExperiments({
        filter: search ? `name ILIKE '%${escaped}%'` : undefined,
        view_type: deleted ? "DELETED_ONLY" : "ACTIVE_ONLY",
      })
      .then((r) => {
        setExps(r.experiments ?? []);
        setError("");
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, [search, deleted, tick]);

  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError("");
      setTick((t) => t + 1);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <main class="page">
      <h1>Experiments</h1>
      <div class="toolbar">
        <input
          type="search"
          aria-label="Search experiments by name"
          placeholder="Search by name"
          value={search}
          onInput={(e) => setQuery({ q: e.currentTarget.value })}
        />
        <label class="check">
          <input type="checkbox" checked={deleted} onChange={(e) => setQuery({ deleted: e.currentTarget.checked ? "1" : undefined })} />
          Show deleted
        </label>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            if (newName.trim()) act(() => api.createExperiment(newName.trim()).then(() => setNewName("")));
          }}
        >
          <input aria-label="New experiment name" placeholder="New experiment name" value={newName} onInput={(e) => setNewName(e.currentTarget.value)} />
          <button type="submit">Create</button>
        </form>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {exps === null ? (
        <p class="muted">Loading…</p>
      ) : exps.length === 0 ? (
        <p class="muted">No experiments{search ? ` matching “${search}”` : ""}.</p>
      ) : (
        <table class="simple" data-testid="experiments">
          <thead>
            <tr>
              <th>Name</th>
              <th>ID</th>
              <th>Created</th>
              <th>Last updated</th>
              <th>Tags</th>
              <th><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {exps.map((e) => (
              <tr key={e.experiment_id}>
                <td>
                  <a href={`#/experiments/${e.experiment_id}`}>{e.name}</a>
                </td>
                <td>{e.experiment_id}</td>
                <td>{fmtTime(e.creation_time)}</td>
                <td>{fmtTime(e.last_update_time)}</td>
                <td class="tags">
                  {(e.tags ?? [])
                    .filter((t) => !t.key.startsWith("mlflow."))
                    .map((t) => (
                      <span class="chip" key={t.key}>
                        {t.key}: {t.value}
                      </span>
                    ))}
                </td>
                <td class="actions">
                  {deleted ? (
                    <button onClick={() => act(() => api.restoreExperiment(e.experiment_id))}>Restore</button>
                  ) : (
                    <>
                      <button
                        aria-label={`Rename ${e.name}`}
                        onClick={() => {
                          setRenaming(e);
                          setRenameTo(e.name);
                        }}
                      >
                        Rename
                      </button>
                      <button class="danger" aria-label={`Delete ${e.name}`} onClick={() => setDeleting(e)}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {renaming && (
        <Dialog modal labelledBy="rename-h" onClose={() => setRenaming(null)} testId="rename-dialog">
          <form
            onSubmit={(ev) => {
              ev.preventDefault();
              const exp = renaming;
              setRenaming(null);
              act(() => api.renameExperiment(exp.experiment_id, renameTo));
            }}
          >
            <h2 id="rename-h">Rename experiment</h2>
            <label class="field">
              New name
              <input aria-label="New name" value={renameTo} onInput={(ev) => setRenameTo(ev.currentTarget.value)} />
            </label>
            <div class="dialog-actions">
              <button type="button" onClick={() => setRenaming(null)}>
                Cancel
              </button>
              <button type="submit">Save</button>
            </div>
          </form>
        </Dialog>
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete experiment"
          message={
            <>
              Delete experiment “{deleting.name}” and its runs? It can be restored from “Show deleted”.
            </>
          }
          confirmLabel="Delete"
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            const exp = deleting;
            setDeleting(null);
            act(() => api.deleteExperiment(exp.experiment_id));
          }}
        />
      )}
    </main>
  );
}
