// The runs filter: MLflow's filter syntax with key autocomplete drawn from the whole experiment.
// Text without an operator is a quick search on the run name.
import { useEffect, useRef, useState } from "preact/hooks";
import { Keys } from "../api";

const PREFIXES = ["metrics.", "params.", "tags.", "attributes."];
const ATTRIBUTES = ["run_id", "run_name", "status", "user_id", "start_time", "end_time", "artifact_uri"];
const TOKEN = /(metrics?|params?|parameters?|tags?|attributes?|attr|run)\.(`[^`]*|[\w.\-/]*)$/i;

/** What the filter box's text means as an MLflow filter string. */
export function toFilter(text: string): string {
  const t = text.trim();
  if (!t) return "";
  if (/[=<>!]|\b(LIKE|ILIKE|IN|IS)\b/i.test(t)) return t;
  return `attributes.run_name ILIKE '%${t.replace(/'/g, "\\'")}%'`;
}

function suggestionsFor(text: string, keys: Keys | null): { items: string[]; replace: number } {
  const m = TOKEN.exec(text);
  if (m) {
    const kind = m[1].toLowerCase();
    const partial = m[2].replace(/^`/, "").toLowerCase();
    const pool = kind.startsWith("metric")
      ? keys?.metrics
      : kind.startsWith("param")
        ? keys?.params
        : kind.startsWith("tag")
          ? keys?.tags
          : ATTRIBUTES;
    const items = (pool ?? []).filter((k) => k.toLowerCase().includes(partial)).slice(0, 50);
    return { items: items.map((k) => (/^[\w.]+$/.test(k) ? k : `\`${k}\``)), replace: m[2].length };
  }
  const word = /(^|\s)([a-z]*)$/i.exec(text);
  if (word && word[2] && !/AND$/i.test(word[2])) {
    const items = PREFIXES.filter((p) => p.startsWith(word[2].toLowerCase()));
    return { items, replace: word[2].length };
  }
  return { items: [], replace: 0 };
}

export function FilterBox({ value, keys, onSubmit }: { value: string; keys: Keys | null; onSubmit: (v: string) => void }) {
  const [text, setText] = useState(value);
  const [open, setOpen] = useState(false);
  const [hi, setHi] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => setText(value), [value]);
  const beforeCursor = text.slice(0, input.current?.selectionStart ?? text.length);
  const { items, replace } = open ? suggestionsFor(beforeCursor, keys) : { items: [], replace: 0 };

  const accept = (item: string) => {
    const cut = beforeCursor.length - replace;
    const next = text.slice(0, cut) + item + text.slice(beforeCursor.length);
    setText(next);
    setHi(0);
    requestAnimationFrame(() => {
      const pos = cut + item.length;
      input.current?.setSelectionRange(pos, pos);
      input.current?.focus();
    });
  };

  return (
    <form
      class="filter"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        setOpen(false);
        onSubmit(text.trim());
      }}
    >
      <input
        ref={input}
        type="text"
        role="combobox"
        spellcheck={false}
        autoComplete="off"
        aria-label="Filter runs"
        aria-autocomplete="list"
        aria-controls="filter-suggestions"
        aria-expanded={items.length > 0}
        aria-activedescendant={items.length ? `sugg-${hi}` : undefined}
        placeholder="metrics.rmse < 1 AND params.model = 'tree'   (or text to search run names)"
        value={text}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setOpen(true);
          setHi(0);
        }}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (!items.length) return;
          if (e.key === "ArrowDown") setHi((h) => (h + 1) % items.length);
          else if (e.key === "ArrowUp") setHi((h) => (h - 1 + items.length) % items.length);
          else if (e.key === "Tab" || (e.key === "Enter" && open)) accept(items[hi]);
          else if (e.key === "Escape") setOpen(false);
          else return;
          e.preventDefault();
        }}
      />
      <button type="submit">Search</button>
      {value && (
        <button
          type="button"
          onClick={() => {
            setText("");
            onSubmit("");
          }}
        >
          Clear
        </button>
      )}
      {items.length > 0 && (
        <ul class="suggestions" id="filter-suggestions" role="listbox">
          {items.map((item, i) => (
            <li
              id={`sugg-${i}`}
              role="option"
              aria-selected={i === hi}
              class={i === hi ? "hi" : ""}
              key={item}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
            >
              {item}
            </li>
          ))}
        </ul>
      )}
    </form>
  );
}
