// A run's artifact tree (lazy: one artifacts/list call per opened directory) and a preview of the
// chosen file from /get-artifact: images, text/logs/JSON/YAML/MLmodel, CSV as a table, markdown,
// and HTML in a sandboxed srcdoc iframe (no scripts, no same-origin). Every file has a download link.
import { useEffect, useState } from "preact/hooks";
import { api, FileInfo } from "../api";
import { fmtBytes } from "../format";
import { Markdown } from "./Markdown";

const MAX_PREVIEW_BYTES = 2 * 1024 * 1024;
const IMAGE = /\.(png|jpe?g|gif|svg|webp|bmp)$/i;
const TEXT = /(\.(txt|log|json|ya?ml|py|sh|cfg|ini|toml|xml|js|ts|r|sql|conf|out|err|requirements)$)|(^|\/)(MLmodel|requirements\.txt|conda\.yaml|python_env\.yaml|[^./]+)$/i;

function kind(path: string): "image" | "html" | "csv" | "md" | "json" | "text" | "pdf" | "other" {
  if (IMAGE.test(path)) return "image";
  if (/\.html?$/i.test(path)) return "html";
  if (/\.(csv|tsv)$/i.test(path)) return "csv";
  if (/\.md$/i.test(path)) return "md";
  if (/\.json$/i.test(path)) return "json";
  if (/\.pdf$/i.test(path)) return "pdf";
  if (TEXT.test(path)) return "text";
  return "other";
}

/** RFC 4180-ish CSV: quoted fields, doubled quotes, CRLF. Stops after `maxRows` rows. */
export function parseCsv(text: string, sep = ",", maxRows = 500): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) row.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      (row = []), (field = "");
    } else field += c;
  }
  if ((field || row.length) && rows.length < maxRows) row.push(field), rows.push(row);
  return rows;
}

function Preview({ runId, file }: { runId: string; file: FileInfo }) {
  const url = api.artifactUrl(runId, file.path);
  const k = kind(file.path);
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState("");
  const tooBig = (file.file_size ?? 0) > MAX_PREVIEW_BYTES;
  useEffect(() => {
    setText(null);
    setError("");
    if (tooBig || !["csv", "md", "json", "text", "html"].includes(k)) return;
    fetch(url)
      .then(async (r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}: ${(await r.text()).slice(0, 200)}`);
        return r.text();
      })
      .then(setText, (e: Error) => setError(e.message));
  }, [url]);
  let body;
  if (error) body = <p class="error" role="alert">{error}</p>;
  else if (tooBig) body = <p class="muted">Too large to preview ({fmtBytes(file.file_size)}).</p>;
  else if (k === "image") body = <img class="artifact-img" src={url} alt={file.path} />;
  else if (k === "pdf") body = <iframe class="artifact-html" src={url} title={file.path} />;
  else if (k === "other") body = <p class="muted">No preview for this file type.</p>;
  else if (text === null) body = <p class="muted">Loading…</p>;
  else if (k === "md") body = <Markdown text={text} />;
  // The server sends artifacts as attachments; HTML is shown from its text in an iframe whose
  // empty sandbox allows no scripts, no forms and no same-origin access.
  else if (k === "html") body = <iframe class="artifact-html" sandbox="" srcdoc={text} title={file.path} />;
  else if (k === "csv") {
    const rows = parseCsv(text, file.path.toLowerCase().endsWith(".tsv") ? "\t" : ",");
    body = (
      <div class="csv-wrap">
        <table class="simple csv">
          <thead>
            <tr>{rows[0]?.map((h, i) => <th key={i}>{h}</th>)}</tr>
          </thead>
          <tbody>
            {rows.slice(1).map((r, i) => (
              <tr key={i}>{r.map((v, j) => <td key={j}>{v}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  } else {
    let shown = text;
    if (k === "json")
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        /* show it as it is */
      }
    body = <pre class="artifact-text">{shown}</pre>;
  }
  return (
    <section class="preview" aria-label={`Preview of ${file.path}`} data-testid="artifact-preview">
      <header>
        <strong>{file.path}</strong> <span class="muted">{fmtBytes(file.file_size)}</span>{" "}
        <a href={url} download={file.path.split("/").pop()}>
          Download
        </a>
      </header>
      {body}
    </section>
  );
}

function Dir({ runId, path, depth, chosen, onChoose }: { runId: string; path: string; depth: number; chosen: string; onChoose: (f: FileInfo) => void }) {
  const [files, setFiles] = useState<FileInfo[] | null>(null);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<Set<string>>(new Set());
  useEffect(() => {
    api.listArtifacts(runId, path).then(
      (r) => setFiles((r.files ?? []).sort((a, b) => Number(b.is_dir) - Number(a.is_dir) || a.path.localeCompare(b.path))),
      (e: Error) => setError(e.message),
    );
  }, [runId, path]);
  if (error) return <p class="error" role="alert">Artifacts: {error}</p>;
  if (!files) return <p class="muted">Loading…</p>;
  if (!files.length && depth === 0) return <p class="muted">No artifacts.</p>;
  return (
    <ul class="tree" role={depth === 0 ? "tree" : "group"}>
      {files.map((f) => {
        const name = f.path.split("/").pop();
        if (f.is_dir) {
          const isOpen = open.has(f.path);
          return (
            <li role="treeitem" aria-expanded={isOpen} key={f.path}>
              <button
                class="link"
                onClick={() => {
                  const next = new Set(open);
                  if (isOpen) next.delete(f.path);
                  else next.add(f.path);
                  setOpen(next);
                }}
              >
                {isOpen ? "▾" : "▸"} {name}/
              </button>
              {isOpen && <Dir runId={runId} path={f.path} depth={depth + 1} chosen={chosen} onChoose={onChoose} />}
            </li>
          );
        }
        return (
          <li role="treeitem" aria-selected={chosen === f.path} key={f.path}>
            <button class={`link${chosen === f.path ? " chosen" : ""}`} onClick={() => onChoose(f)}>
              {name}
            </button>{" "}
            <span class="muted">{fmtBytes(f.file_size)}</span>
          </li>
        );
      })}
    </ul>
  );
}

export function Artifacts({ runId, chosen, onChoose }: { runId: string; chosen: string; onChoose: (path: string) => void }) {
  const [file, setFile] = useState<FileInfo | null>(chosen ? { path: chosen, is_dir: false } : null);
  return (
    <div class="artifacts">
      <div class="tree-pane">
        <Dir
          runId={runId}
          path=""
          depth={0}
          chosen={file?.path ?? ""}
          onChoose={(f) => {
            setFile(f);
            onChoose(f.path);
          }}
        />
      </div>
      {file ? <Preview runId={runId} file={file} /> : <p class="muted">Choose a file to preview it.</p>}
    </div>
  );
}
