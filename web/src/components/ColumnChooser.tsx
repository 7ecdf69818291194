// Pick the table's columns: attributes, then every param, metric and tag key of the experiment.
// A popover dialog: focus moves in, Tab stays inside, Escape or "Done" closes it and focus goes
// back to the "Columns" button.
import { useRef, useState } from "preact/hooks";
import { Keys } from "../api";
import { ATTRS, colId, Column, Kind } from "../columns";
import { Dialog } from "./Dialog";

export function ColumnChooser({ keys, cols, onChange }: { keys: Keys | null; cols: Column[]; onChange: (c: Column[]) => void }) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState("");
  const button = useRef<HTMLButtonElement>(null);
  const chosen = new Set(cols.map(colId));

  const toggle = (c: Column) => {
    const id = colId(c);
    onChange(chosen.has(id) ? cols.filter((x) => colId(x) !== id) : [...cols, c]);
  };
  const groups: [string, Kind, string[]][] = [
    ["Attributes", "attr", Object.keys(ATTRS)],
    ["Metrics", "metrics", keys?.metrics ?? []],
    ["Params", "params", keys?.params ?? []],
    ["Tags", "tags", (keys?.tags ?? []).filter((t) => !t.startsWith("mlflow."))],
  ];
  const needle = q.toLowerCase();
  return (
    <div class="popover-wrap">
      <button ref={button} aria-haspopup="dialog" aria-expanded={open} onClick={() => setOpen(!open)}>
        Columns ({cols.length})
      </button>
      {open && (
        <Dialog label="Choose columns" onClose={() => setOpen(false)} anchor={button} testId="column-chooser">
          <input type="search" placeholder="Find a key" aria-label="Find a column" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
          <div class="choices">
            {groups.map(([title, kind, list]) => {
              const shown = list.filter((k) => k.toLowerCase().includes(needle)).slice(0, 300);
              if (!shown.length) return null;
              return (
                <fieldset key={kind}>
                  <legend>{title}</legend>
                  {shown.map((k) => {
                    const c: Column = { kind, key: k };
                    return (
                      <label class="check" key={k}>
                        <input type="checkbox" checked={chosen.has(colId(c))} onChange={() => toggle(c)} />
                        {kind === "attr" ? ATTRS[k].label : k}
                      </label>
                    );
                  })}
                </fieldset>
              );
            })}
          </div>
          <button onClick={() => setOpen(false)}>Done</button>
        </Dialog>
      )}
    </div>
  );
}
