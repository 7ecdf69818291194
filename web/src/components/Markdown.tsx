// A deliberately small, safe markdown renderer for run descriptions: headings, lists, code
// blocks, paragraphs and inline **bold**, *italic*, `code` and [links](http...). It builds
// vnodes, never HTML strings, so nothing in the text can inject markup.
import { ComponentChildren } from "preact";

function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const re = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) out.push(text.slice(last, m.index));
    const t = m[0];
    if (t.startsWith("**")) out.push(<strong>{t.slice(2, -2)}</strong>);
    else if (t.startsWith("`")) out.push(<code>{t.slice(1, -1)}</code>);
    else if (t.startsWith("[")) {
      const [, label, url] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(t)!;
      out.push(/^(https?:|#|\/)/.test(url) ? <a href={url} rel="noopener noreferrer" target={url.startsWith("#") ? undefined : "_blank"}>{label}</a> : label);
    } else out.push(<em>{t.slice(1, -1)}</em>);
    last = m.index! + t.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function Markdown({ text }: { text: string }) {
  const blocks: ComponentChildren[] = [];
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
      i++;
      blocks.push(<pre><code>{body.join("\n")}</code></pre>);
    } else if (/^#{1,6}\s/.test(line)) {
      const level = Math.min(6, line.indexOf(" ") + 2);
      const H = `h${level}` as "h3";
      blocks.push(<H>{inline(line.replace(/^#+\s/, ""))}</H>);
      i++;
    } else if (/^\s*([-*]|\d+\.)\s/.test(line)) {
      const items: ComponentChildren[] = [];
      const ordered = /^\s*\d+\./.test(line);
      for (; i < lines.length && /^\s*([-*]|\d+\.)\s/.test(lines[i]); i++) items.push(<li>{inline(lines[i].replace(/^\s*([-*]|\d+\.)\s/, ""))}</li>);
      blocks.push(ordered ? <ol>{items}</ol> : <ul>{items}</ul>);
    } else if (!line.trim()) i++;
    else {
      const para: string[] = [];
      for (; i < lines.length && lines[i].trim() && !/^(#|```|\s*([-*]|\d+\.)\s)/.test(lines[i]); i++) para.push(lines[i]);
      blocks.push(<p>{inline(para.join(" "))}</p>);
    }
  }
  return <div class="markdown">{blocks}</div>;
}
