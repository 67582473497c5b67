import { useMemo, useState } from 'react';
import { navigate, useHashRoute } from '../../app/hash-route';
import { useZones } from '../../api/zones';
import { ActionsPanel } from './ActionsTable';
import { DecisionsPanel } from './DecisionsTable';
import { EventsPanel } from './EventsTable';
import { Explanation } from './Explanation';
import { FiltersForm } from './Filters';
import { DAY_MS, hashParams, NO_FILTERS, readFilters, readTab, type Filters, type LiveMatch, type Tab } from './filters';
import { PANEL_ID, tabId, Tabs } from './Tabs';
import './history.css';

/**
 * History (#/history): events, decisions and actions with filters kept in the address, new
 * items counted live, and a decision's explanation (?decision=<id>) over the list.
 */
export default function HistoryView() {
  const route = useHashRoute();
  // The default window is the 24 h before the view opened: fixed, so the lists do not refetch every render.
  const [defaultFrom] = useState(() => new Date(Date.now() - DAY_MS).toISOString());
  const tab = readTab(route.params);
  const paramKey = route.params.toString();
  const filters = useMemo(() => readFilters(new URLSearchParams(paramKey), defaultFrom), [paramKey, defaultFrom]);
  const decision = route.params.get('decision');
  const zones = useZones();

  const match = useMemo<LiveMatch>(() => {
    const inside = filters.zone && zones.byId.size > 0 ? zones.subtree(filters.zone) : null;
    return { inZone: (z) => z !== null && (inside ? inside.has(z) : z === filters.zone) };
  }, [filters.zone, zones]);

  const selectTab = (next: Tab) => {
    // Time and zone carry over; type and status mean something else on each tab.
    const keep: Filters = { ...NO_FILTERS, from: filters.from, to: filters.to, zone: filters.zone, severity: filters.severity };
    navigate('history', hashParams(next, keep));
  };
  const apply = (f: Filters) => navigate('history', hashParams(tab, f));
  const reset = () => navigate('history', { tab });
  const closeExplanation = () => navigate('history', hashParams(tab, filters));

  return (
    <section className="history" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <Tabs current={tab} onSelect={selectTab} />
      <div role="tabpanel" id={PANEL_ID} aria-labelledby={tabId(tab)} className="history-panel">
        {/* Remounted per address, so the fields show the filters in force. */}
        <FiltersForm key={`${tab}:${JSON.stringify(filters)}`} tab={tab} filters={filters} onApply={apply} onReset={reset} />
        {tab === 'events' && <EventsPanel filters={filters} match={match} zones={zones} />}
        {tab === 'decisions' && <DecisionsPanel filters={filters} match={match} zones={zones} />}
        {tab === 'actions' && <ActionsPanel filters={filters} />}
      </div>
      {decision && <Explanation key={decision} decisionId={decision} zones={zones} onClose={closeExplanation} />}
    </section>
  );
}
