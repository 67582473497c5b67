import { useId, useState, type FormEvent } from 'react';
import { SEVERITIES } from '../../api/types';
import { formatTime } from '../../components/time';
import { filterSummary, fromLocalInput, SUPPORTED, toLocalInput, type Filters, type FilterName, type Tab } from './filters';
import { ZoneSelect } from './ZoneSelect';

const APPROVAL_STATUSES = ['NOT_REQUIRED', 'PENDING', 'APPROVED', 'REJECTED', 'AUTO_APPROVED', 'AUTO_REJECTED', 'ESCALATED'];
const ACTION_STATUSES = ['PENDING', 'HELD', 'SUSPENDED', 'EXECUTING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const TYPE_LABEL: Record<Tab, string> = { events: 'Event type', decisions: 'Rule', actions: 'Action type' };
/** Wide screens show the filters open; phones start with them folded, under a one-line summary. */
const WIDE = '(min-width: 761px)';
const TYPE_HINT: Record<Tab, string> = { events: 'e.g. violation_event', decisions: 'e.g. speeding_detected', actions: 'e.g. actuate' };

interface Props {
  tab: Tab;
  filters: Filters;
  onApply(filters: Filters): void;
  onReset(): void;
}

/**
 * The filters a tab's route supports, applied together with "Apply filters" (Enter in any field):
 * each applied set is an address of its own, so Back returns to the previous one. The parent
 * remounts this form when the address changes, so the fields always show what is applied.
 */
export function FiltersForm({ tab, filters, onApply, onReset }: Props) {
  const id = useId();
  const [draft, setDraft] = useState(filters);
  const [problem, setProblem] = useState<string | null>(null);
  const [open] = useState(() => window.matchMedia(WIDE).matches);
  const has = (f: FilterName) => SUPPORTED[tab].has(f);
  const set = (f: FilterName) => (value: string) => setDraft((d) => ({ ...d, [f]: value }));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (draft.from && draft.to && Date.parse(draft.from) >= Date.parse(draft.to)) {
      setProblem('"From" must be before "To": change one of them, or clear "To" to include everything up to now.');
      return;
    }
    setProblem(null);
    onApply(draft);
  };

  return (
    <details className="history-filter-box" open={open}>
      <summary>
        Filters: <span className="muted">{filterSummary(tab, filters, formatTime)}</span>
      </summary>
      <form className="history-filters" onSubmit={submit} aria-label={`Filter ${tab}`}>
        {has('from') && (
          <label>
            From
            <input type="datetime-local" value={toLocalInput(draft.from)} onChange={(e) => set('from')(fromLocalInput(e.target.value))} aria-describedby={problem ? `${id}-problem` : undefined} />
          </label>
        )}
        {has('to') && (
          <label>
            To
            <input type="datetime-local" value={toLocalInput(draft.to)} onChange={(e) => set('to')(fromLocalInput(e.target.value))} />
          </label>
        )}
        {has('zone') && (
          <label htmlFor={`${id}-zone`}>
            Zone
            <ZoneSelect id={`${id}-zone`} value={draft.zone} onChange={set('zone')} />
          </label>
        )}
        <label>
          {TYPE_LABEL[tab]}
          <input value={draft.type} onChange={(e) => set('type')(e.target.value.trim())} placeholder={TYPE_HINT[tab]} spellCheck={false} />
        </label>
        {has('severity') && (
          <label>
            Severity
            <select value={draft.severity} onChange={(e) => set('severity')(e.target.value)}>
              <option value="">Any</option>
              {SEVERITIES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        )}
        {has('status') && (
          <label>
            {tab === 'actions' ? 'Action status' : 'Approval status'}
            <select value={draft.status} onChange={(e) => set('status')(e.target.value)}>
              <option value="">Any</option>
              {(tab === 'actions' ? ACTION_STATUSES : APPROVAL_STATUSES).map((s) => (
                <option key={s} value={s}>
                  {s.replaceAll('_', ' ')}
                </option>
              ))}
            </select>
          </label>
        )}
        {has('event') && (
          <label>
            Event id
            <input value={draft.event} onChange={(e) => set('event')(e.target.value.trim())} spellCheck={false} />
          </label>
        )}
        <div className="history-filter-buttons">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button type="button" onClick={onReset}>
            Reset
          </button>
        </div>
        {problem && (
          <p id={`${id}-problem`} className="error history-filter-problem" role="alert">
            {problem}
          </p>
        )}
        {tab === 'actions' && <p className="muted history-filter-note">The node lists actions newest first and filters them by type and status only (no time, zone or severity).</p>}
      </form>
    </details>
  );
}
