// Accessible dialogs. Every dialog, modal or popover: focus moves into it when it opens, Tab and
// Shift+Tab cycle through its controls without leaving it, Escape closes it, and focus goes back
// to the control that opened it (or to the page heading when that control is gone).
import { ComponentChildren } from "preact";
import { useId, useLayoutEffect, useRef } from "preact/hooks";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The controls Tab reaches inside `root`, in document order (hidden ones left out). */
export function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

/** Focus `el` if it is still in the page, else the page's heading (made focusable). */
function restoreFocus(el: HTMLElement | null): void {
  if (el && el.isConnected && el !== document.body) {
    el.focus();
    return;
  }
  const h = document.querySelector<HTMLElement>("main h1");
  if (h) {
    h.tabIndex = -1;
    h.focus();
  }
}

interface DialogProps {
  /** The accessible name: a label, or the id of a heading inside (`labelledBy`). */
  label?: string;
  labelledBy?: string;
  onClose: () => void;
  /** Modal: a backdrop, aria-modal, the page behind is out of reach. Otherwise a popover. */
  modal?: boolean;
  role?: "dialog" | "alertdialog";
  class?: string;
  /** A selector of the control to focus first (default: the first focusable one). */
  initialFocus?: string;
  /** Popovers: clicks on this element (the toggle button) do not count as "outside". */
  anchor?: { current: HTMLElement | null };
  testId?: string;
  children: ComponentChildren;
}

export function Dialog(p: DialogProps) {
  const ref = useRef<HTMLDivElement>(null);
  const close = useRef(p.onClose);
  close.current = p.onClose;

  // A layout effect: focus is inside the dialog before anything else can run.
  useLayoutEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = ref.current!;
    const first = (p.initialFocus && root.querySelector<HTMLElement>(p.initialFocus)) || focusables(root)[0] || root;
    first.focus();
    // A popover closes on a click outside it; the modal's backdrop handles its own clicks.
    const outside = (e: MouseEvent) => {
      const t = e.target as Node;
      if (!root.contains(t) && !p.anchor?.current?.contains(t)) close.current();
    };
    if (!p.modal) document.addEventListener("mousedown", outside);
    return () => {
      document.removeEventListener("mousedown", outside);
      // Only when focus is still ours: a click elsewhere that closed a popover keeps its target.
      const active = document.activeElement;
      if (!active || active === document.body || root.contains(active)) restoreFocus(opener);
    };
  }, []);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close.current();
      return;
    }
    if (e.key !== "Tab") return;
    const items = focusables(ref.current!);
    e.stopPropagation();
    if (!items.length) return e.preventDefault();
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.shiftKey && i <= 0) {
      e.preventDefault();
      items[items.length - 1].focus();
    } else if (!e.shiftKey && (i === -1 || i === items.length - 1)) {
      e.preventDefault();
      items[0].focus();
    }
  };

  const box = (
    <div
      ref={ref}
      class={`${p.modal ? "dialog" : "popover"} ${p.class ?? ""}`}
      role={p.role ?? "dialog"}
      aria-modal={p.modal ? "true" : undefined}
      aria-label={p.label}
      aria-labelledby={p.labelledBy}
      tabIndex={-1}
      data-testid={p.testId}
      onKeyDown={onKeyDown}
    >
      {p.children}
    </div>
  );
  if (!p.modal) return box;
  return (
    <div
      class="backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) close.current();
      }}
    >
      {box}
    </div>
  );
}

interface ConfirmProps {
  title: string;
  message: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/** "Are you sure?" as a modal alertdialog; Cancel has the focus first (the safe choice). */
export function ConfirmDialog(p: ConfirmProps) {
  const id = useId();
  return (
    <Dialog modal role="alertdialog" labelledBy={`${id}-t`} onClose={p.onCancel} initialFocus="[data-cancel]" testId="confirm-dialog">
      <h2 id={`${id}-t`}>{p.title}</h2>
      <p>{p.message}</p>
      <div class="dialog-actions">
        <button type="button" data-cancel onClick={p.onCancel}>
          Cancel
        </button>
        <button type="button" class={p.danger ? "danger" : ""} onClick={p.onConfirm}>
          {p.confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
