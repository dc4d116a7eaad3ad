// Split panes: one entry of the tab strip holds a tree of panes, each pane a terminal with its own
// session (a `Tab`). A split divides a pane in two, side by side (`row`) or one above the other
// (`column`), to any depth; the divider between two panes is dragged with a mouse or finger, or
// moved with the arrow keys once focused. The tree is saved as part of the settings (`layout`) so
// another browser or a reload gets the same panes back (see `Layout`).

import { h } from './dom';
import type { Tab } from './tab';

/** `row`: the two panes side by side; `column`: one above the other. */
export type Dir = 'row' | 'column';

/** What kiln keeps of a pane tree: sessions by id, splits with their direction and share. */
export type LayoutNode = { session: string } | { split: Dir; ratio: number; a: LayoutNode; b: LayoutNode };

/** The saved layout: the strip's entries in order, and which one is in front. */
export interface Layout {
  tabs: LayoutNode[];
  active?: number;
}

/** Smallest share of a pane (of its split's length). */
const MIN_RATIO = 0.1;
/** Arrow keys on a divider move it by this share. */
const KEY_STEP = 0.05;

interface Leaf {
  kind: 'leaf';
  tab: Tab;
}
interface Split {
  kind: 'split';
  dir: Dir;
  ratio: number;
  a: Node;
  b: Node;
}
type Node = Leaf | Split;

export function clampRatio(r: number): number {
  if (!Number.isFinite(r)) return 0.5;
  return Math.min(1 - MIN_RATIO, Math.max(MIN_RATIO, r));
}

/** Whether `v` (from the server: anything) is a usable layout node. */
export function isLayoutNode(v: unknown, depth = 0): v is LayoutNode {
  if (depth > 20 || typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.session === 'string') return true;
  return (o.split === 'row' || o.split === 'column') && typeof o.ratio === 'number' && isLayoutNode(o.a, depth + 1) && isLayoutNode(o.b, depth + 1);
}

/** One entry of the tab strip: a tree of panes and the pane that has the focus. */
export class Group {
  readonly el: HTMLElement;
  focused: Tab;
  private root: Node;

  constructor(first: Tab, private readonly changed: () => void) {
    this.root = { kind: 'leaf', tab: first };
    this.focused = first;
    this.el = h('div', { class: 'group hidden-group' });
    this.render();
  }

  /** The panes in order (left to right, top to bottom). */
  tabs(): Tab[] {
    const out: Tab[] = [];
    const walk = (n: Node) => {
      if (n.kind === 'leaf') out.push(n.tab);
      else {
        walk(n.a);
        walk(n.b);
      }
    };
    walk(this.root);
    return out;
  }

  has(tab: Tab): boolean {
    return this.tabs().includes(tab);
  }

  get size(): number {
    return this.tabs().length;
  }

  setVisible(visible: boolean): void {
    this.el.classList.toggle('hidden-group', !visible);
  }

  /** Puts `added` beside `target` (after it: right of it or below it). */
  split(target: Tab, added: Tab, dir: Dir): void {
    this.root = this.replace(this.root, target, (leaf) => ({ kind: 'split', dir, ratio: 0.5, a: leaf, b: { kind: 'leaf', tab: added } }));
    this.render();
  }

  /** Takes `tab`'s pane out (its sibling takes its place); false when it was the last one. */
  remove(tab: Tab): boolean {
    const drop = (n: Node): Node | null => {
      if (n.kind === 'leaf') return n.tab === tab ? null : n;
      const a = drop(n.a);
      const b = drop(n.b);
      if (!a) return b;
      if (!b) return a;
      n.a = a;
      n.b = b;
      return n;
    };
    const root = drop(this.root);
    if (!root) return false;
    this.root = root;
    if (this.focused === tab) this.focused = this.tabs()[0]!;
    this.render();
    return true;
  }

  /** What kiln keeps of this tree (panes without a session yet are left out). */
  serialize(): LayoutNode | null {
    const walk = (n: Node): LayoutNode | null => {
      if (n.kind === 'leaf') return n.tab.sessionId ? { session: n.tab.sessionId } : null;
      const a = walk(n.a);
      const b = walk(n.b);
      if (!a) return b;
      if (!b) return a;
      return { split: n.dir, ratio: Math.round(n.ratio * 1000) / 1000, a, b };
    };
    return walk(this.root);
  }

  /** Rebuilds the tree from a saved node: `tabOf` gives the pane of a session (or none). */
  static restore(node: LayoutNode, tabOf: (id: string) => Tab | undefined, changed: () => void): Group | null {
    const build = (n: LayoutNode): Node | null => {
      if ('session' in n) {
        const tab = tabOf(n.session);
        return tab ? { kind: 'leaf', tab } : null;
      }
      const a = build(n.a);
      const b = build(n.b);
      if (!a) return b;
      if (!b) return a;
      return { kind: 'split', dir: n.split === 'column' ? 'column' : 'row', ratio: clampRatio(n.ratio), a, b };
    };
    const root = build(node);
    if (!root) return null;
    const first = root.kind === 'leaf' ? root.tab : firstLeaf(root);
    const group = new Group(first, changed);
    group.root = root;
    group.render();
    return group;
  }

  /** The pane next to `from` in `direction` (by where the panes are on the screen). */
  neighbour(from: Tab, direction: 'left' | 'right' | 'up' | 'down'): Tab | undefined {
    const r0 = from.panel.getBoundingClientRect();
    const cx = r0.left + r0.width / 2;
    const cy = r0.top + r0.height / 2;
    let best: Tab | undefined;
    let bestDist = Infinity;
    for (const t of this.tabs()) {
      if (t === from) continue;
      const r = t.panel.getBoundingClientRect();
      const ok =
        direction === 'left' ? r.right <= r0.left + 1 : direction === 'right' ? r.left >= r0.right - 1 : direction === 'up' ? r.bottom <= r0.top + 1 : r.top >= r0.bottom - 1;
      if (!ok) continue;
      const d = Math.hypot(r.left + r.width / 2 - cx, r.top + r.height / 2 - cy);
      if (d < bestDist) {
        bestDist = d;
        best = t;
      }
    }
    return best;
  }

  private replace(n: Node, target: Tab, fn: (leaf: Leaf) => Node): Node {
    if (n.kind === 'leaf') return n.tab === target ? fn(n) : n;
    n.a = this.replace(n.a, target, fn);
    n.b = this.replace(n.b, target, fn);
    return n;
  }

  /** Lays the tree out: nested flex boxes, the panes' panels moved into their places. */
  render(): void {
    this.el.classList.toggle('split-group', this.root.kind === 'split');
    this.el.replaceChildren(this.renderNode(this.root));
  }

  private renderNode(n: Node): HTMLElement {
    if (n.kind === 'leaf') {
      const pane = h('div', { class: 'pane' });
      pane.append(n.tab.panel);
      return pane;
    }
    const a = this.renderNode(n.a);
    const b = this.renderNode(n.b);
    const divider = h('div', {
      class: 'divider',
      role: 'separator',
      tabindex: '0',
      'aria-orientation': n.dir === 'row' ? 'vertical' : 'horizontal',
      'aria-label': n.dir === 'row' ? 'Divider between panes side by side' : 'Divider between panes one above the other',
      'aria-valuemin': String(MIN_RATIO * 100),
      'aria-valuemax': String((1 - MIN_RATIO) * 100),
    });
    const box = h('div', { class: `split ${n.dir}` }, a, divider, b);
    const apply = () => {
      a.style.flexGrow = String(n.ratio);
      b.style.flexGrow = String(1 - n.ratio);
      divider.setAttribute('aria-valuenow', String(Math.round(n.ratio * 100)));
    };
    apply();
    this.wireDivider(n, box, divider, apply);
    return box;
  }

  private wireDivider(n: Split, box: HTMLElement, divider: HTMLElement, apply: () => void): void {
    // The direction the divider moves in, in the box's layout (phones stack every split, see CSS).
    const horizontal = () => getComputedStyle(box).flexDirection.startsWith('row');
    divider.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      divider.setPointerCapture(e.pointerId);
      divider.classList.add('dragging');
      const move = (ev: PointerEvent) => {
        const r = box.getBoundingClientRect();
        const ratio = horizontal() ? (ev.clientX - r.left) / r.width : (ev.clientY - r.top) / r.height;
        n.ratio = clampRatio(ratio);
        apply();
      };
      const up = () => {
        divider.classList.remove('dragging');
        divider.removeEventListener('pointermove', move);
        divider.removeEventListener('pointerup', up);
        divider.removeEventListener('pointercancel', up);
        this.changed();
      };
      divider.addEventListener('pointermove', move);
      divider.addEventListener('pointerup', up);
      divider.addEventListener('pointercancel', up);
    });
    divider.addEventListener('keydown', (e) => {
      const back = horizontal() ? 'ArrowLeft' : 'ArrowUp';
      const fwd = horizontal() ? 'ArrowRight' : 'ArrowDown';
      if (e.key !== back && e.key !== fwd) return;
      e.preventDefault();
      e.stopPropagation();
      n.ratio = clampRatio(n.ratio + (e.key === fwd ? KEY_STEP : -KEY_STEP));
      apply();
      this.changed();
    });
  }
}

function firstLeaf(n: Node): Tab {
  return n.kind === 'leaf' ? n.tab : firstLeaf(n.a);
}
