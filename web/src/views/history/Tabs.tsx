import { useRef, type KeyboardEvent } from 'react';
import { TABS, type Tab } from './filters';

export const tabId = (t: Tab) => `history-tab-${t}`;
export const PANEL_ID = 'history-panel';

/**
 * The WAI-ARIA tabs pattern: one tab in the Tab order (the selected one), arrow keys, Home and
 * End move between tabs and select them (the lists are cheap to switch).
 */
export function Tabs({ current, onSelect }: { current: Tab; onSelect(tab: Tab): void }) {
  const refs = useRef(new Map<Tab, HTMLButtonElement>());
  const onKeyDown = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === current);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    const tab = TABS[(next + TABS.length) % TABS.length]!.id;
    onSelect(tab);
    refs.current.get(tab)?.focus();
  };
  return (
    <div role="tablist" aria-label="History lists" className="history-tabs" onKeyDown={onKeyDown}>
      {TABS.map((t) => (
        <button
          key={t.id}
          ref={(el) => void (el ? refs.current.set(t.id, el) : refs.current.delete(t.id))}
          type="button"
          role="tab"
          id={tabId(t.id)}
          aria-selected={t.id === current}
          aria-controls={PANEL_ID}
          tabIndex={t.id === current ? 0 : -1}
          onClick={() => onSelect(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}
